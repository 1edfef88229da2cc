package handoff

// The moves a parcel and a bag may make, as tables: what each action does
// from each stage or state, and nothing else. The store makes a move atomic
// with a conditional UPDATE whose expected stage comes from here, so two
// requests can never both move one parcel; the rules of when a move is
// chosen (a receipt, a re-attempt day) live with the use-case that chooses.

// Action is something that may happen to a parcel.
type Action string

// Parcel actions.
const (
	ActReceive   Action = "receive"   // the station takes it in: picked up, or back undelivered and unattempted
	ActRoute     Action = "route"     // planned on a route
	ActLoad      Action = "load"      // loaded into the associate's van
	ActDeliver   Action = "deliver"   // delivered at the door
	ActFail      Action = "fail"      // a failed attempt: it must come back to the station
	ActRefuse    Action = "refuse"    // the recipient refused a tampered bag: it must come back
	ActReattempt Action = "reattempt" // back at the station after an attempt, ready to go out again
	ActHold      Action = "hold"      // back at the station, held while customer service decides
	ActReturn    Action = "return"    // going back to the shipper
	ActSeal      Action = "seal"      // sealed into a tamper-evident bag; it stays where it is
	ActUnbag     Action = "unbag"     // its bag voided, it needs a new one; it stays where it is
)

// Actions lists every parcel action, for tests and documentation.
var Actions = []Action{ActReceive, ActRoute, ActLoad, ActDeliver, ActFail, ActRefuse, ActReattempt, ActHold, ActReturn, ActSeal, ActUnbag}

// Stages lists every parcel stage, in the order a parcel meets them.
var Stages = []string{StageLabel, StageStation, StageRouted, StageOut, StageAwaitingReturn, StageDelivered, StageReturning, StageHeld}

// stageMoves says, for each action, the stage it leads to from each stage
// it may start from.
var stageMoves = moves[Action]{
	ActReceive: {
		StageLabel:  StageStation, // picked up from the shipper
		StageRouted: StageStation, // taken off a route that never left
		StageOut:    StageStation, // a van came back with it, unattempted
	},
	ActRoute:     {StageStation: StageRouted},
	ActLoad:      {StageRouted: StageOut},
	ActDeliver:   {StageOut: StageDelivered},
	ActFail:      {StageOut: StageAwaitingReturn},
	ActRefuse:    {StageOut: StageAwaitingReturn},
	ActReattempt: {StageAwaitingReturn: StageStation, StageHeld: StageStation},
	ActHold:      {StageAwaitingReturn: StageHeld},
	ActReturn:    {StageAwaitingReturn: StageReturning, StageHeld: StageReturning},
	// A parcel is bagged (or unbagged) at the station, before or after it
	// is put on a route, but never once it is out.
	ActSeal:  {StageStation: StageStation, StageRouted: StageRouted},
	ActUnbag: {StageStation: StageStation, StageRouted: StageRouted},
}

// NextStage returns the stage action leads to from stage, and false when
// the action is not allowed from it.
func NextStage(stage string, a Action) (string, bool) { return stageMoves.next(stage, a) }

// StagesFrom returns the stages action may start from, in the order of
// Stages.
func StagesFrom(a Action) []string { return stageMoves.from(a, Stages) }

// BagAction is something that may happen to a tamper-evident bag.
type BagAction string

// Bag actions.
const (
	BagActSeal    BagAction = "seal"    // a parcel is sealed into it at the station
	BagActVoid    BagAction = "void"    // taken out of use, damaged or lost
	BagActDeliver BagAction = "deliver" // its parcel was delivered
	BagActRefuse  BagAction = "refuse"  // its parcel was refused: the seal was broken
)

// BagActions lists every bag action.
var BagActions = []BagAction{BagActSeal, BagActVoid, BagActDeliver, BagActRefuse}

// BagStates lists every bag state.
var BagStates = []string{BagIssued, BagSealed, BagDelivered, BagRefused, BagVoided}

// bagMoves says, for each bag action, the state it leads to from each state
// it may start from. A bag is single-use: only an issued one is sealed.
var bagMoves = moves[BagAction]{
	BagActSeal:    {BagIssued: BagSealed},
	BagActVoid:    {BagIssued: BagVoided, BagSealed: BagVoided},
	BagActDeliver: {BagSealed: BagDelivered},
	BagActRefuse:  {BagSealed: BagRefused},
}

// NextBagState returns the state action leads a bag to from state, and
// false when the action is not allowed from it.
func NextBagState(state string, a BagAction) (string, bool) { return bagMoves.next(state, a) }

// BagStatesFrom returns the states a bag action may start from, in the
// order of BagStates.
func BagStatesFrom(a BagAction) []string { return bagMoves.from(a, BagStates) }

// moves is a transition table: for each action, the state it leads to from
// each state it may start from.
type moves[A comparable] map[A]map[string]string

// next returns the state a leads to from state, and false when a is not
// allowed from it.
func (m moves[A]) next(state string, a A) (string, bool) {
	to, ok := m[a][state]
	return to, ok
}

// from returns the states a may start from, in the order of states.
func (m moves[A]) from(a A, states []string) []string {
	var out []string
	for _, s := range states {
		if _, ok := m[a][s]; ok {
			out = append(out, s)
		}
	}
	return out
}
