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
// parcels, carry no time and stay wholly random.
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

	firsts := map[string]bool{}
	for range 200 {
		tid := sqlstore.NewTrackingID()
		if len(tid) != 14 || !strings.HasPrefix(tid, "HO") || strings.Trim(tid[2:], strings.ToUpper(auth.Alphabet)) != "" {
			t.Fatalf("tracking ID %q is not HO and 12 characters of the alphabet", tid)
		}
		firsts[tid[2:6]] = true
	}
	if len(firsts) < 150 {
		t.Errorf("200 tracking IDs made at once share their first four characters in %d ways only: they look ordered, not random", len(firsts))
	}
}
