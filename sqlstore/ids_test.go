package sqlstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
)

// IDs made later sort after earlier ones (so new rows append to their
// indexes), while each keeps 16 random characters; tracking IDs, printed on
// parcels, carry only their day and keep 12 random characters (60 bits).
func TestIDsSortByTimeAndStayUnguessable(t *testing.T) {
	base := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	prev := sqlstore.NewIDAt("ntf_", base)
	for i := 1; i <= 2000; i++ {
		at := base.Add(time.Duration(i*i) * time.Millisecond)
		id := sqlstore.NewIDAt("ntf_", at)
		if id <= prev {
			t.Fatalf("ID made at +%dms (%s) sorts before the one made earlier (%s)", i*i, id, prev)
		}
		prev = id
	}
	far := sqlstore.NewIDAt("sh_", time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC))
	if far <= sqlstore.NewIDAt("sh_", base) {
		t.Errorf("an ID of the year 2999 sorts before one of today")
	}

	seen := map[string]bool{}
	for range 1000 {
		id := sqlstore.NewIDAt("chk_", base) // the same millisecond each time
		body := strings.TrimPrefix(id, "chk_")
		if len(body) != 9+16 || strings.Trim(body, auth.Alphabet) != "" {
			t.Fatalf("ID %q is not 9 time and 16 random characters of the alphabet", id)
		}
		if seen[id] {
			t.Fatalf("two IDs made in the same millisecond are both %s", id)
		}
		seen[id] = true
	}

	// Tracking IDs: the day they are made, then 12 random characters.
	firsts := map[string]bool{}
	day := sqlstore.NewTrackingIDAt(base)[:4]
	for range 200 {
		tid := sqlstore.NewTrackingIDAt(base)
		if len(tid) != 16 || !strings.HasPrefix(tid, "HO") || strings.Trim(tid[2:], strings.ToUpper(auth.Alphabet)) != "" {
			t.Fatalf("tracking ID %q is not HO and 14 characters of the alphabet", tid)
		}
		if tid[:4] != day {
			t.Fatalf("tracking IDs of one day begin %s and %s", day, tid[:4])
		}
		firsts[tid[4:8]] = true
	}
	if len(firsts) < 150 {
		t.Errorf("200 tracking IDs made at once share their first four random characters in %d ways only: they look ordered, not random", len(firsts))
	}
	if next := sqlstore.NewTrackingIDAt(base.Add(24 * time.Hour)); next[:4] <= day {
		t.Errorf("a tracking ID of the next day begins %s, not after %s", next[:4], day)
	}
}
