package handoff

import (
	"slices"
	"testing"
)

// TestNextStage checks every (stage, action) pair: the moves the SPEC
// allows lead where it says, and every other pair is refused.
func TestNextStage(t *testing.T) {
	type pair struct {
		stage  string
		action Action
	}
	allowed := map[pair]string{
		{StageLabel, ActReceive}:            StageStation,
		{StageRouted, ActReceive}:           StageStation,
		{StageOut, ActReceive}:              StageStation,
		{StageStation, ActRoute}:            StageRouted,
		{StageRouted, ActLoad}:              StageOut,
		{StageOut, ActDeliver}:              StageDelivered,
		{StageOut, ActFail}:                 StageAwaitingReturn,
		{StageOut, ActRefuse}:               StageAwaitingReturn,
		{StageAwaitingReturn, ActReattempt}: StageStation,
		{StageHeld, ActReattempt}:           StageStation,
		{StageAwaitingReturn, ActHold}:      StageHeld,
		{StageAwaitingReturn, ActReturn}:    StageReturning,
		{StageHeld, ActReturn}:              StageReturning,
		{StageStation, ActSeal}:             StageStation,
		{StageRouted, ActSeal}:              StageRouted,
		{StageStation, ActUnbag}:            StageStation,
		{StageRouted, ActUnbag}:             StageRouted,
	}
	for _, stage := range Stages {
		for _, a := range Actions {
			want, ok := allowed[pair{stage, a}]
			got, gotOK := NextStage(stage, a)
			if got != want || gotOK != ok {
				t.Errorf("NextStage(%s, %s) = %q, %v; want %q, %v", stage, a, got, gotOK, want, ok)
			}
		}
	}
	// Delivered and returning parcels are done: nothing moves them.
	for _, end := range []string{StageDelivered, StageReturning} {
		for _, a := range Actions {
			if _, ok := NextStage(end, a); ok {
				t.Errorf("%s parcel may %s", end, a)
			}
		}
	}
	if got := StagesFrom(ActSeal); !slices.Equal(got, []string{StageStation, StageRouted}) {
		t.Errorf("StagesFrom(seal) = %v", got)
	}
	if got := StagesFrom(Action("fly")); got != nil {
		t.Errorf("StagesFrom(unknown) = %v", got)
	}
}

// TestNextBagState checks every (state, action) pair of a bag: it is
// sealed once, from issued only; voided while unused or sealed; settled
// from sealed only.
func TestNextBagState(t *testing.T) {
	type pair struct {
		state  string
		action BagAction
	}
	allowed := map[pair]string{
		{BagIssued, BagActSeal}:    BagSealed,
		{BagIssued, BagActVoid}:    BagVoided,
		{BagSealed, BagActVoid}:    BagVoided,
		{BagSealed, BagActDeliver}: BagDelivered,
		{BagSealed, BagActRefuse}:  BagRefused,
	}
	for _, state := range BagStates {
		for _, a := range BagActions {
			want, ok := allowed[pair{state, a}]
			got, gotOK := NextBagState(state, a)
			if got != want || gotOK != ok {
				t.Errorf("NextBagState(%s, %s) = %q, %v; want %q, %v", state, a, got, gotOK, want, ok)
			}
		}
	}
	if got := BagStatesFrom(BagActVoid); !slices.Equal(got, []string{BagIssued, BagSealed}) {
		t.Errorf("BagStatesFrom(void) = %v", got)
	}
}
