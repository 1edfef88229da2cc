package market

import (
	"testing"
	"time"
)

func TestLocation(t *testing.T) {
	at := time.Date(2026, 11, 21, 20, 0, 0, 0, time.UTC)
	for code, want := range map[string]string{"GB": "20:00", "FR": "21:00", "IN": "01:30"} {
		m, ok := Lookup(code)
		if !ok {
			t.Fatalf("Lookup(%s) failed", code)
		}
		if got := at.In(m.Location()).Format("15:04"); got != want {
			t.Errorf("%s: %s UTC is %s local, want %s", code, at.Format("15:04"), got, want)
		}
		if m.Location() != m.Location() {
			t.Errorf("%s: the zone is loaded again on each call", code)
		}
	}
	if got := (Market{Code: "ZZ"}).Location(); got != time.UTC {
		t.Errorf("an unserved marketplace's zone is %v, want UTC", got)
	}
}
