// Package route holds the pure rules of a delivery day: how parcels group into
// stops, the contact hours an OTP stop must be planned in, working days and
// service dates in the marketplace's time zone. It has no I/O.
package route

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Parcel is what grouping needs to know of a parcel.
type Parcel struct {
	TrackingID string
	Name       string
	Line1      string
	Line2      string
	City       string
	PostalCode string
	Mobile     string // E.164, or "" when none
	OTP        bool
	Bag        bool
}

// norm folds case and spacing, so two spellings of one address compare equal.
func norm(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// AddressKey is an address in comparable form: "line1|postal code".
func AddressKey(line1, postalCode string) string { return norm(line1) + "|" + norm(postalCode) }

// StopKey identifies a stop: the same recipient at the same address. The
// recipient is their mobile number when they have one, else their name; the
// address is compared without case or spacing differences.
func StopKey(p Parcel) string {
	who := p.Mobile
	if who == "" {
		who = norm(p.Name)
	}
	return strings.Join([]string{who, norm(p.Line1), norm(p.Line2), norm(p.PostalCode)}, "|")
}

// Stop is a group of parcels delivered together.
type Stop struct {
	Key     string
	Parcels []Parcel
}

// NeedsPasscode reports whether any parcel at the stop needs the day's code.
func (s Stop) NeedsPasscode() bool {
	for _, p := range s.Parcels {
		if p.OTP {
			return true
		}
	}
	return false
}

// NeedsBagScan reports whether any parcel at the stop travels in a bag.
func (s Stop) NeedsBagScan() bool {
	for _, p := range s.Parcels {
		if p.Bag {
			return true
		}
	}
	return false
}

// Group puts parcels into stops, in the order each stop first appears.
func Group(parcels []Parcel) []Stop {
	var stops []Stop
	idx := map[string]int{}
	for _, p := range parcels {
		k := StopKey(p)
		i, ok := idx[k]
		if !ok {
			i = len(stops)
			idx[k] = i
			stops = append(stops, Stop{Key: k})
		}
		stops[i].Parcels = append(stops[i].Parcels, p)
	}
	return stops
}

// Hours is a daily window in minutes after local midnight, [Start, End).
type Hours struct{ Start, End int }

// DefaultContactHours are 08:00–20:00.
var DefaultContactHours = Hours{8 * 60, 20 * 60}

// ParseClock reads "HH:MM" as minutes after midnight.
func ParseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("must be a time of day as HH:MM")
	}
	return t.Hour()*60 + t.Minute(), nil
}

// WindowHalf is how far either side of a stop's planned time the window
// promised to the recipient reaches.
const WindowHalf = 60

// Window returns the delivery window promised to a recipient for a stop
// planned at minute: an hour either side, widened to whole half hours, so
// that a driver a little early or late is still inside it.
func Window(planned int) (from, to int) {
	from = max(planned-WindowHalf, 0) / 30 * 30
	to = min((planned+WindowHalf+29)/30*30, 24*60-1)
	return from, to
}

// FormatClock writes minutes after midnight as "HH:MM".
func FormatClock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// ParseHours reads "08:00-20:00".
func ParseHours(s string) (Hours, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return Hours{}, errors.New("contact hours must look like 08:00-20:00")
	}
	start, err := ParseClock(a)
	if err != nil {
		return Hours{}, err
	}
	end, err := ParseClock(b)
	if err != nil {
		return Hours{}, err
	}
	if end <= start {
		return Hours{}, errors.New("contact hours must end after they start")
	}
	return Hours{start, end}, nil
}

// Contains reports whether a planned minute falls inside the hours.
func (h Hours) Contains(minute int) bool { return minute >= h.Start && minute < h.End }

// String writes the hours as "08:00-20:00".
func (h Hours) String() string { return FormatClock(h.Start) + "-" + FormatClock(h.End) }

// WorkingDays says which weekdays parcels are delivered on.
type WorkingDays [7]bool

// DefaultWorkingDays are Monday to Saturday: Sunday off.
var DefaultWorkingDays = WorkingDays{time.Sunday: false, time.Monday: true, time.Tuesday: true, time.Wednesday: true,
	time.Thursday: true, time.Friday: true, time.Saturday: true}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseWorkingDays reads a comma-separated list of weekday abbreviations
// ("mon,tue,wed,thu,fri,sat").
func ParseWorkingDays(s string) (WorkingDays, error) {
	var w WorkingDays
	any := false
	for _, part := range strings.Split(s, ",") {
		d, ok := dayNames[strings.ToLower(strings.TrimSpace(part))]
		if !ok {
			return w, fmt.Errorf("unknown weekday %q: use mon,tue,wed,thu,fri,sat,sun", strings.TrimSpace(part))
		}
		w[d], any = true, true
	}
	if !any {
		return w, errors.New("at least one working day is needed")
	}
	return w, nil
}

// String lists the working days.
func (w WorkingDays) String() string {
	var out []string
	for _, d := range []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday} {
		if w[d] {
			out = append(out, strings.ToLower(d.String()[:3]))
		}
	}
	return strings.Join(out, ",")
}

// DateLayout is the form of service dates.
const DateLayout = "2006-01-02"

// ParseDate reads a service date.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, errors.New("must be a date as YYYY-MM-DD")
	}
	return t, nil
}

// IsWorkingDay reports whether the date (YYYY-MM-DD) is a working day.
func (w WorkingDays) IsWorkingDay(date string) bool {
	t, err := ParseDate(date)
	return err == nil && w[t.Weekday()]
}

// NextAfter returns the first working day strictly after date.
func (w WorkingDays) NextAfter(date string) string {
	t, err := ParseDate(date)
	if err != nil {
		return ""
	}
	for range 7 {
		t = t.AddDate(0, 0, 1)
		if w[t.Weekday()] {
			return t.Format(DateLayout)
		}
	}
	return ""
}

// Today returns the service date of now in the time zone loc.
func Today(now time.Time, loc *time.Location) string {
	return now.In(loc).Format(DateLayout)
}
