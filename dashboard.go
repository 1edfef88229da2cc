package handoff

import "time"

// Dashboard is a shipper's parcels of one period (by label creation time) at
// a glance: how many are in each status now, and how the passcode parcels
// among them fared at the door.
type Dashboard struct {
	From, To time.Time      // From ≤ created < To
	ByStatus map[string]int // summary status → parcels
	OTP      OTPOutcomes
}

// OTPOutcomes counts a period's passcode parcels by how they ended, and
// their delivery attempts (failed ones, and the delivery or refusal that
// ended them).
type OTPOutcomes struct {
	Parcels        int // passcode parcels created in the period
	FirstTime      int // delivered at the first attempt
	AfterReattempt int // delivered after one or more failed attempts
	Returned       int // refused, undeliverable or sent back
	Attempted      int // parcels with at least one attempt
	Attempts       int // attempts of those parcels
}

// MeanAttempts returns the attempts per attempted passcode parcel, 0 when
// none was attempted.
func (o OTPOutcomes) MeanAttempts() float64 {
	if o.Attempted == 0 {
		return 0
	}
	return float64(o.Attempts) / float64(o.Attempted)
}

// Total returns the parcels of every status.
func (d *Dashboard) Total() int {
	n := 0
	for _, v := range d.ByStatus {
		n += v
	}
	return n
}

// WeekOf returns the Monday 00:00 UTC that starts the week of t, and the
// next Monday.
func WeekOf(t time.Time) (from, to time.Time) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	from = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	return from, from.AddDate(0, 0, 7)
}
