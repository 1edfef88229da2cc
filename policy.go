package handoff

import (
	"time"

	"github.com/handoff-dev/handoff/route"
)

// Policy holds the operator's delivery rules that are configuration, not code.
type Policy struct {
	ContactHours    route.Hours       // OTP stops planned outside are flagged
	WorkingDays     route.WorkingDays // days parcels go out
	MaxFailedDays   int               // failed days before a parcel goes back to the shipper
	WrongCodeLimit  int               // wrong codes per associate per window before checks lock
	WrongCodeWindow time.Duration
	PhotoRetention  time.Duration // photos are deleted this long after they were taken
}

// DefaultPolicy returns 08:00–20:00 contact hours, Monday to Saturday, three
// failed days, ten wrong codes in ten minutes, and photos kept 90 days.
func DefaultPolicy() Policy {
	return Policy{
		ContactHours:    route.DefaultContactHours,
		WorkingDays:     route.DefaultWorkingDays,
		MaxFailedDays:   3,
		WrongCodeLimit:  10,
		WrongCodeWindow: 10 * time.Minute,
		PhotoRetention:  90 * 24 * time.Hour,
	}
}
