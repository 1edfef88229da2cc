package web

import (
	"slices"

	"github.com/handoff-dev/handoff"
)

// A stop on the associate's phone is a short sequence of steps, one on
// screen at a time: bag → code → done, place → photo → done, garage open →
// drop → close, or what the stop's parcels need of these. The steps are
// derived here from the stop as the door service shows it (which parcels
// are open, bagged and scanned, whether the passcode is pending, whether a
// garage grant is open); the rules themselves stay in the service, which
// refuses whatever a crafted form asks out of turn. Because the state is
// the stop's, the sequence works without JavaScript: each form posts, the
// server redirects back, and the page shows the next step.

// Step keys, also the ?step= of a stop's address.
const (
	stepBag         = "bag"
	stepCode        = "code"
	stepGarageOpen  = "garage-open"
	stepGarageDrop  = "garage-drop"
	stepGarageClose = "garage-close"
	stepPlace       = "place"
	stepPhoto       = "photo"
	stepDone        = "done"
)

// stopStep is one step of a stop's progress indicator.
type stopStep struct {
	Key, Label string
	N          int  // its number, from 1
	Done       bool // it holds: the bag matched, the code was checked…
	Enabled    bool // what it needs holds, so it may be shown
	Current    bool
}

// stopSteps returns the steps of the stop's page and the key of the one on
// screen: want when it is enabled and not done yet, else the first step not
// done that is enabled; "" while the van is not loaded. Picking a step by
// address never skips what it depends on: the code is offered only once
// every bag of the stop has matched.
func stopSteps(p *stopPage, want string) ([]stopStep, string) {
	st := p.Stop
	hasBag := slices.ContainsFunc(st.Parcels, func(x handoff.StopParcel) bool { return x.BagRequired })
	hasCode := slices.ContainsFunc(st.Parcels, func(x handoff.StopParcel) bool { return x.OTPRequired })
	hasPlain := slices.ContainsFunc(st.Parcels, func(x handoff.StopParcel) bool { return !x.OTPRequired })
	bagDone := p.Unscanned == 0
	finished := p.Open == 0
	var steps []stopStep
	add := func(key, label string, done, enabled bool) {
		steps = append(steps, stopStep{Key: key, Label: label, N: len(steps) + 1, Done: done || finished, Enabled: p.Loaded && enabled && !finished})
	}
	if hasBag {
		add(stepBag, "Bag", bagDone, true)
	}
	if hasCode {
		add(stepCode, "Code", st.OTPState != handoff.OTPPending, bagDone && p.CodeForm)
	}
	if st.Needs.Garage {
		opened := p.GrantID != ""
		add(stepGarageOpen, "Open garage", opened, bagDone && p.Garage && !opened)
		add(stepGarageDrop, "Drop", want == stepGarageClose && opened, opened)
		add(stepGarageClose, "Close", false, opened)
	} else if hasPlain || p.OpenPlain > 0 {
		add(stepPlace, "Place", p.OpenPlain == 0 || p.Place != "", bagDone && p.OpenPlain > 0)
		if st.Needs.Photo {
			add(stepPhoto, "Photo", p.OpenPlain == 0, bagDone && p.OpenPlain > 0 && p.Place != "")
		}
	}
	steps = append(steps, stopStep{Key: stepDone, Label: "Done", N: len(steps) + 1, Done: finished, Enabled: finished})

	current := ""
	switch {
	case finished:
		current = stepDone
	case !p.Loaded:
	case want == stepPlace && bagDone && p.OpenPlain > 0:
		// Also the way to hand parcels over at a garage stop whose door
		// did not open: the place step is not on its path.
		current = stepPlace
	case want == stepPhoto && st.Needs.Photo && bagDone && p.OpenPlain > 0 && p.Place != "":
		current = stepPhoto
	default:
		for _, s := range steps {
			if s.Key == want && s.Enabled && !s.Done {
				current = want
			}
		}
		if current == "" {
			for _, s := range steps {
				if s.Enabled && !s.Done {
					current = s.Key
					break
				}
			}
		}
	}
	for i := range steps {
		steps[i].Current = steps[i].Key == current
	}
	return steps, current
}

// routeProgress returns how many of the route's stops are finished (no
// parcel open) and the next open stop after the one at position, going
// round to the first open one before it; nil when every stop is finished.
func routeProgress(rt *handoff.Route, position int) (finished int, next *handoff.Stop) {
	open := func(s handoff.Stop) bool {
		return slices.ContainsFunc(s.Parcels, func(p handoff.StopParcel) bool { return p.Outcome == handoff.OutcomeOpen })
	}
	var first *handoff.Stop
	for i := range rt.Stops {
		s := &rt.Stops[i]
		if !open(*s) {
			finished++
			continue
		}
		if s.Position > position && (next == nil || s.Position < next.Position) {
			next = s
		}
		if s.Position != position && (first == nil || s.Position < first.Position) {
			first = s
		}
	}
	if next == nil {
		next = first
	}
	return finished, next
}
