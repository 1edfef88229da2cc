package route

import (
	"testing"
	"time"
)

func TestGroup(t *testing.T) {
	ps := []Parcel{
		{TrackingID: "A", Name: "Ann", Line1: "1 High St", PostalCode: "E1 1AA", Mobile: "+447700900001", OTP: true},
		{TrackingID: "B", Name: "Bob", Line1: "2 High St", PostalCode: "E1 1AA"},
		{TrackingID: "C", Name: "ann", Line1: "1  high st", PostalCode: "e1 1aa", Mobile: "+447700900001"},
		{TrackingID: "D", Name: "Ann's flatmate", Line1: "1 High St", PostalCode: "E1 1AA", Mobile: "+447700900002"},
		{TrackingID: "E", Name: "Bob", Line1: "2 High St", PostalCode: "E1 1AA", Bag: true},
	}
	stops := Group(ps)
	if len(stops) != 3 {
		t.Fatalf("%d stops, want 3", len(stops))
	}
	ids := func(s Stop) (out string) {
		for _, p := range s.Parcels {
			out += p.TrackingID
		}
		return
	}
	if ids(stops[0]) != "AC" || ids(stops[1]) != "BE" || ids(stops[2]) != "D" {
		t.Errorf("stops = %s %s %s", ids(stops[0]), ids(stops[1]), ids(stops[2]))
	}
	if !stops[0].NeedsPasscode() || stops[1].NeedsPasscode() || !stops[1].NeedsBagScan() {
		t.Error("needs flags wrong")
	}
}

func TestHours(t *testing.T) {
	h, err := ParseHours("08:00-20:00")
	if err != nil || h != DefaultContactHours {
		t.Fatalf("ParseHours = %v, %v", h, err)
	}
	for m, in := range map[int]bool{7*60 + 59: false, 8 * 60: true, 19*60 + 59: true, 20 * 60: false} {
		if h.Contains(m) != in {
			t.Errorf("Contains(%s) = %v", FormatClock(m), !in)
		}
	}
	for _, bad := range []string{"8-20", "20:00-08:00", "08:00", "25:00-26:00"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("ParseHours(%q) accepted", bad)
		}
	}
}

func TestWorkingDays(t *testing.T) {
	w := DefaultWorkingDays
	// 2026-11-21 is a Saturday; the next working day skips Sunday.
	if got := w.NextAfter("2026-11-21"); got != "2026-11-23" {
		t.Errorf("NextAfter(Sat) = %s", got)
	}
	if got := w.NextAfter("2026-11-23"); got != "2026-11-24" {
		t.Errorf("NextAfter(Mon) = %s", got)
	}
	if w.IsWorkingDay("2026-11-22") || !w.IsWorkingDay("2026-11-21") {
		t.Error("IsWorkingDay")
	}
	wd, err := ParseWorkingDays("mon, tue,wed,thu,fri")
	if err != nil || wd.NextAfter("2026-11-20") != "2026-11-23" || wd.String() != "mon,tue,wed,thu,fri" {
		t.Errorf("ParseWorkingDays = %v %v", wd, err)
	}
	if _, err := ParseWorkingDays("funday"); err == nil {
		t.Error("bad weekday accepted")
	}
}

func TestToday(t *testing.T) {
	now := time.Date(2026, 11, 21, 23, 30, 0, 0, time.UTC)
	if got := Today(now, mustZone(t, "Asia/Kolkata")); got != "2026-11-22" {
		t.Errorf("India = %s", got)
	}
	if got := Today(now, mustZone(t, "Europe/London")); got != "2026-11-21" {
		t.Errorf("London = %s", got)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
