// Package grant holds the rules of in-garage (key) delivery that need no
// I/O: who may open which garage when (Decide), and the life of a one-time
// garage grant (Next). The keydelivery service asks them; the store and the
// garage devices only carry out what they answer.
package grant

import "github.com/handoff-dev/handoff"

// Event is something that happens to a grant.
type Event string

// Events, each with who drives it.
const (
	Ask        Event = "ask"         // the associate asks to open (open call): a grant is written
	Claim      Event = "claim"       // the open call takes its pending grant before commanding the door
	Opened     Event = "opened"      // the door reads open (open call)
	OpenFailed Event = "open_failed" // the door does not read open in time, or the opener fails (open call)
	AskClose   Event = "close"       // the associate asks to close (close call)
	Revoke     Event = "revoke"      // the recipient switches key delivery off or removes the opener
	Expire     Event = "expire"      // the grant's time is up (sweeper)
	DoorShut   Event = "door_shut"   // the door reads closed after a close was due (close call, revoker, open call, sweeper)
	DoorStuck  Event = "door_stuck"  // the door does not read closed after a close was due (same drivers)
	Resolve    Event = "resolve"     // customer service closes the case of a door that did not close
	// OpenedLate: the door opened after the grant failed (its open call
	// outlasted its step, and the sweeper read the door closed before it
	// opened) and does not close again (open call).
	OpenedLate Event = "opened_late"
)

// Events lists every event, for tests and documentation.
var Events = []Event{Ask, Claim, Opened, OpenFailed, AskClose, Revoke, Expire, DoorShut, DoorStuck, Resolve, OpenedLate}

// None is the state of a grant that does not exist yet.
const None = ""

// States lists every state a grant can be in, None first.
var States = []string{None, handoff.GrantPending, handoff.GrantOpening, handoff.GrantOpen, handoff.GrantClosing,
	handoff.GrantRevoking, handoff.GrantExpiring, handoff.GrantClosed, handoff.GrantFailed, handoff.GrantCloseFailed,
	handoff.GrantRevoked, handoff.GrantExpired, handoff.GrantResolved}

// table is the grant state machine: state × event → next state; a pair
// that is not here is refused. Every move is made by the store as one
// conditional UPDATE from the state read here, so two drivers racing for the
// same grant (the open call and a revocation, a close call and the sweeper)
// never both move it.
//
//	from          event        to            driven by
//	(none)        ask          pending       associate (open call; one live grant per stop, by a unique index)
//	pending       claim        opening       open call, before it commands the door (refused once expired)
//	pending       revoke       revoked       recipient (key delivery off, opener removed)
//	pending       expire       expired       sweeper, past the grant's time
//	opening       opened       open          open call, the door read open
//	opening       open_failed  failed        open call, the door did not open (nothing delivered)
//	opening       revoke       revoking      recipient while the door moves: the open call closes it
//	opening       door_shut    failed        sweeper, past the step deadline (the open call died): door read or made closed
//	opening       door_stuck   close_failed  sweeper, same, and the door would not close: alert and case
//	open          close        closing       associate (close call)
//	open          revoke       revoking      recipient: the revoker closes the door at once
//	open          expire       expiring      sweeper: nobody closed it in time, the server closes it
//	closing       door_shut    closed        close call (or the sweeper after a crash): parcels delivered to the garage
//	closing       door_stuck   close_failed  close call (or the sweeper): alert and case
//	revoking      door_shut    revoked       revoker, open call, or the sweeper past the step deadline
//	revoking      door_stuck   close_failed  same: alert and case
//	expiring      door_shut    expired       sweeper (again, past the step deadline, if it died)
//	expiring      door_stuck   close_failed  same: alert and case
//	failed        opened_late  close_failed  open call, whose door opened after the sweeper settled its grant and would not close: alert and case
//	close_failed  resolve      resolved      customer service
//
// opening, closing, revoking and expiring are in flight: a node owns the
// door until the step deadline the store keeps with the grant; past it the
// sweeper reads the door's real state, closes it if it is not closed, and
// feeds door_shut or door_stuck. closed, revoked, expired and resolved are
// final; so is failed, except for a door found open and stuck by the open
// call that outlasted its step.
var table = map[string]map[Event]string{
	None:                     {Ask: handoff.GrantPending},
	handoff.GrantPending:     {Claim: handoff.GrantOpening, Revoke: handoff.GrantRevoked, Expire: handoff.GrantExpired},
	handoff.GrantOpening:     {Opened: handoff.GrantOpen, OpenFailed: handoff.GrantFailed, Revoke: handoff.GrantRevoking, DoorShut: handoff.GrantFailed, DoorStuck: handoff.GrantCloseFailed},
	handoff.GrantOpen:        {AskClose: handoff.GrantClosing, Revoke: handoff.GrantRevoking, Expire: handoff.GrantExpiring},
	handoff.GrantClosing:     {DoorShut: handoff.GrantClosed, DoorStuck: handoff.GrantCloseFailed},
	handoff.GrantRevoking:    {DoorShut: handoff.GrantRevoked, DoorStuck: handoff.GrantCloseFailed},
	handoff.GrantExpiring:    {DoorShut: handoff.GrantExpired, DoorStuck: handoff.GrantCloseFailed},
	handoff.GrantCloseFailed: {Resolve: handoff.GrantResolved},
	handoff.GrantFailed:      {OpenedLate: handoff.GrantCloseFailed},
}

// Reasons a grant refuses an event, by the state it is in.
const (
	ReasonGrantUsed    = "grant_used"
	ReasonGrantRevoked = "grant_revoked"
	ReasonGrantExpired = "grant_expired"
	ReasonGrantNotOpen = "grant_not_open"
)

// Next returns the state a grant in state moves to on e, or an ECONFLICT
// error with a machine reason when the grant refuses it.
func Next(state string, e Event) (string, error) {
	if to, ok := table[state][e]; ok {
		return to, nil
	}
	reason := ReasonGrantNotOpen
	switch state {
	case handoff.GrantClosed:
		reason = ReasonGrantUsed
	case handoff.GrantRevoked, handoff.GrantRevoking:
		reason = ReasonGrantRevoked
	case handoff.GrantExpired, handoff.GrantExpiring:
		reason = ReasonGrantExpired
	}
	if e == Ask {
		return "", inUse()
	}
	return "", handoff.Refuse(handoff.ECONFLICT, reason, "This grant is not open (it is %s).", state)
}

// Transition is one move of the state machine.
type Transition struct{ From, To string }

// Transitions returns every move e makes, in the order of States, for a
// store that applies one event to many grants at once (a revocation).
func Transitions(e Event) []Transition {
	var out []Transition
	for _, from := range States {
		if to, ok := table[from][e]; ok {
			out = append(out, Transition{from, to})
		}
	}
	return out
}

// InFlight reports whether a grant in state owns a door mid-step: a node is
// opening or closing it, and the sweeper takes over past the step deadline.
func InFlight(state string) bool {
	switch state {
	case handoff.GrantOpening, handoff.GrantClosing, handoff.GrantRevoking, handoff.GrantExpiring:
		return true
	}
	return false
}

// Live reports whether a grant in state still holds its stop: no other grant
// of the stop may be written meanwhile (the store's unique index holds the
// same list).
func Live(state string) bool {
	return state == handoff.GrantPending || state == handoff.GrantOpen || InFlight(state)
}

// InFlightStates lists the states InFlight is true of.
func InFlightStates() []string {
	var out []string
	for _, s := range States {
		if InFlight(s) {
			out = append(out, s)
		}
	}
	return out
}

// inUse is the refusal of a second grant while a stop's grant is live.
func inUse() error {
	return handoff.Refuse(handoff.ECONFLICT, ReasonGrantInUse, "The garage of this stop is already open or opening; a grant is used once.")
}
