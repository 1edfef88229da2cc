// Package anomaly picks, among a station's associates on one day, the
// figures that deserve a look (SPEC §7): each associate's rate or count
// compared with the station's own median that day. A flag is evidence for a
// person to review, never a sanction: nothing here acts on it. The package
// has no I/O.
package anomaly

import (
	"cmp"
	"slices"
)

// Figures are one associate's counts of one day, from the audit log and
// the garage grants.
type Figures struct {
	AssociateID string `json:"associateId"`
	Name        string `json:"name"`
	// PasscodeStops are the stops where the associate entered a code (or
	// the phone digits); OtpNotAvailable those whose attempt ended after
	// three wrong entries.
	PasscodeStops   int `json:"passcodeStops"`
	OtpNotAvailable int `json:"otpNotAvailable"`
	CodeChecks      int `json:"codeChecks"`
	FallbackChecks  int `json:"fallbackChecks"` // entries of the phone-digits fallback
	BagMismatches   int `json:"bagMismatches"`
	Refusals        int `json:"refusals"`
	GarageNotClosed int `json:"garageDoorsNotClosed"`
}

// Metrics, by name.
const (
	OtpNotAvailableRate = "otpNotAvailableRate" // OtpNotAvailable / PasscodeStops
	FallbackRate        = "fallbackRate"        // FallbackChecks / CodeChecks
	BagMismatches       = "bagMismatches"
	Refusals            = "refusals"
	GarageNotClosed     = "garageDoorsNotClosed"
)

// metric reads one figure: its value, the count of events behind it, and
// whether it is defined for the associate (a rate needs a denominator).
type metric struct {
	name string
	read func(Figures) (value float64, count int, ok bool)
}

func rate(n, of int) (float64, int, bool) {
	if of == 0 {
		return 0, 0, false
	}
	return float64(n) / float64(of), n, true
}

func count(n int) (float64, int, bool) { return float64(n), n, true }

var metrics = []metric{
	{OtpNotAvailableRate, func(f Figures) (float64, int, bool) { return rate(f.OtpNotAvailable, f.PasscodeStops) }},
	{FallbackRate, func(f Figures) (float64, int, bool) { return rate(f.FallbackChecks, f.CodeChecks) }},
	{BagMismatches, func(f Figures) (float64, int, bool) { return count(f.BagMismatches) }},
	{Refusals, func(f Figures) (float64, int, bool) { return count(f.Refusals) }},
	{GarageNotClosed, func(f Figures) (float64, int, bool) { return count(f.GarageNotClosed) }},
}

// MinEvents is how many events a flagged figure needs behind it: one failed
// code at a stop of two is a rate of a half and means nothing.
const MinEvents = 2

// Flag is one figure of one associate that stands out from the station.
type Flag struct {
	AssociateID string  `json:"associateId"`
	Name        string  `json:"name"`
	Metric      string  `json:"metric"`
	Value       float64 `json:"value"`
	Events      int     `json:"events"`
	Median      float64 `json:"median"`
}

// Review returns the station's median of each metric over the associates
// for whom it is defined, and the flags, most outstanding first. A figure is
// flagged when at least MinEvents events back it and it is above the median
// and at least twice it (any value, when the median is zero). Flags rank by
// how many times the median they are, or by their events where the median
// is zero.
func Review(day []Figures) (medians map[string]float64, flags []Flag) {
	medians = map[string]float64{}
	type scored struct {
		Flag
		score float64
	}
	var out []scored
	for _, m := range metrics {
		var values []float64
		for _, f := range day {
			if v, _, ok := m.read(f); ok {
				values = append(values, v)
			}
		}
		if len(values) == 0 {
			continue
		}
		med := median(values)
		medians[m.name] = med
		for _, f := range day {
			v, n, ok := m.read(f)
			if !ok || n < MinEvents || v <= med || (med > 0 && v < 2*med) {
				continue
			}
			// How many times the station's median it is; where the
			// station's usual is none, every event is beyond it.
			score := float64(n)
			if med > 0 {
				score = v / med
			}
			out = append(out, scored{Flag{AssociateID: f.AssociateID, Name: f.Name, Metric: m.name, Value: v, Events: n, Median: med}, score})
		}
	}
	slices.SortStableFunc(out, func(a, b scored) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Events, a.Events); c != 0 {
			return c
		}
		return cmp.Compare(a.AssociateID, b.AssociateID)
	})
	flags = []Flag{}
	for _, s := range out {
		flags = append(flags, s.Flag)
	}
	return medians, flags
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
