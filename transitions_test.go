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
	checkEveryPair(t, "NextStage", Stages, Actions, NextStage, func(s string, a Action) (string, bool) {
		to, ok := allowed[pair{s, a}]
		return to, ok
	})
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
	checkEveryPair(t, "NextBagState", BagStates, BagActions, NextBagState, func(s string, a BagAction) (string, bool) {
		to, ok := allowed[pair{s, a}]
		return to, ok
	})
	if got := BagStatesFrom(BagActVoid); !slices.Equal(got, []string{BagIssued, BagSealed}) {
		t.Errorf("BagStatesFrom(void) = %v", got)
	}
}

// checkEveryPair compares next with want over every (state, action) pair.
func checkEveryPair[A ~string](t *testing.T, name string, states []string, actions []A, next, want func(string, A) (string, bool)) {
	t.Helper()
	for _, s := range states {
		for _, a := range actions {
			got, gotOK := next(s, a)
			if to, ok := want(s, a); got != to || gotOK != ok {
				t.Errorf("%s(%s, %s) = %q, %v; want %q, %v", name, s, a, got, gotOK, to, ok)
			}
		}
	}
}
