package door

import (
	"context"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/passcode"
	"github.com/handoff-dev/handoff/phone"
	"github.com/handoff-dev/handoff/tracking"
)

// This file is where a delivery is verified at the door: the day's code, the
// phone-digits fallback, and the limits around them (SPEC §1).
//
//   - Scope: each passcode parcel opens only with the code of its own
//     label's contact set (package passcode), so an entry delivers exactly
//     the open passcode parcels of the sets whose code it is.
//   - Three evaluations per stop attempt: the store claims one before the
//     result of a comparison can be acted on, with a conditional UPDATE, so
//     the limit holds however many entries race on however many nodes. A
//     right entry gives its evaluation back while parcels under another
//     code still wait, so three wrong entries end the attempt however many
//     codes the stop has.
//   - The associate's wrong-code budget is claimed, pessimistically, in the
//     same transaction, and given back when the entry was right; when it is
//     spent, checks lock until the station unlocks them.
//   - The entry is compared with every code of the stop in constant time,
//     without stopping at a match, so timing tells nothing.

// VerifyCode implements handoff.DoorService.
func (s *Service) VerifyCode(ctx context.Context, da *handoff.Principal, stopID, code string) (*handoff.VerifyResult, error) {
	code = passcode.Normalize(code)
	if !passcode.WellFormed(code) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "code", Message: "must be the 6-digit passcode"})
	}
	return s.verify(ctx, da, stopID, MethodCode, func(st *Stop, open []Parcel) (map[string]bool, error) {
		matched := map[string]bool{}
		for set, kid := range codeSets(open) {
			if kid == "" {
				return nil, handoff.Internal(nil, "passcode key not fixed")
			}
			want, err := passcode.Code(s.Keys, kid, set, st.Date)
			if err != nil {
				return nil, handoff.Internal(err, "derive passcode")
			}
			if passcode.Equal(code, want) {
				matched[set] = true
			}
		}
		return matched, nil
	})
}

// VerifyPhoneDigits implements handoff.DoorService: the shipper's opt-in,
// weaker fallback. The digits are the stop's phone, so when they match every
// passcode parcel of the stop is released.
func (s *Service) VerifyPhoneDigits(ctx context.Context, da *handoff.Principal, stopID, digits string) (*handoff.VerifyResult, error) {
	digits = passcode.Normalize(digits)
	if len(digits) != 2 || digits[0] < '0' || digits[0] > '9' || digits[1] < '0' || digits[1] > '9' {
		return nil, handoff.Invalid(handoff.FieldError{Field: "digits", Message: "must be the last two digits of the recipient's phone"})
	}
	st, err := s.associateStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	view, err := s.Store.StopView(ctx, st.RouteID, st.ID)
	if err != nil {
		return nil, err
	}
	if view.Needs.Passcode && !view.PhoneDigitsAllowed {
		return nil, handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonFallbackNotAllowed, "The shipper has not allowed the phone-digits fallback for this stop: the passcode is needed.")
	}
	return s.verify(ctx, da, stopID, MethodDigits, func(st *Stop, open []Parcel) (map[string]bool, error) {
		want := phone.LastDigits(st.Mobile, 2)
		if want == "" || !passcode.Equal(digits, want) {
			return map[string]bool{}, nil
		}
		matched := map[string]bool{}
		for set := range codeSets(open) {
			matched[set] = true
		}
		return matched, nil
	})
}

// codeSets returns the contact sets of the open passcode parcels, each with
// the key its code is derived with.
func codeSets(open []Parcel) map[string]string {
	sets := map[string]string{}
	for _, p := range open {
		if p.OTP && !p.CodeOK && sets[p.CodeSet] == "" {
			sets[p.CodeSet] = p.KeyID
		}
	}
	return sets
}

// verify runs one entry: the stop must be the associate's of today, its
// van loaded, waiting for a code, its bags scanned and its garage settled;
// match says which contact sets the entry opens. These rules are decided
// in the store's transaction, on the stop and parcels it reads there, and
// the store then counts and settles the entry atomically.
func (s *Service) verify(ctx context.Context, da *handoff.Principal, stopID, method string, match func(*Stop, []Parcel) (map[string]bool, error)) (*handoff.VerifyResult, error) {
	if err := requireAssociate(da); err != nil {
		return nil, err
	}
	detail, note := tracking.DeliveredWithOTP, "Delivered with OTP"
	if method == MethodDigits {
		detail, note = tracking.DeliveredWithPhoneDigits, "Delivered with the last two digits of the recipient's phone (shipper's opt-in fallback)"
	}
	var st *Stop
	g, err := s.Store.Guess(ctx, Guess{StopID: stopID, AssociateID: da.ID, Method: method,
		Decide: func(stop *Stop, open []Parcel) (*Verdict, error) {
			st = stop
			if err := s.ownStop(da, stop); err != nil {
				return nil, err
			}
			if err := loaded(stop); err != nil {
				return nil, err
			}
			if err := acceptsCodes(stop.OTPState); err != nil {
				return nil, err
			}
			if err := bagsScanned(open, nil, true); err != nil {
				return nil, err
			}
			if err := garageSettled(stop); err != nil {
				return nil, err
			}
			matched, err := match(stop, open)
			if err != nil {
				return nil, err
			}
			return &Verdict{Matched: matched, NextAttempt: s.Policy.WorkingDays.NextAfter(stop.Date)}, nil
		},
		BudgetLimit: s.Policy.WrongCodeLimit, BudgetWindow: s.Policy.WrongCodeWindow,
		Detail: detail, Note: note, At: s.Now()})
	if err != nil {
		return nil, err
	}
	switch g.Refused {
	case "":
	case handoff.ReasonAssociateLocked:
		return nil, handoff.Refuse(handoff.ELOCKED, g.Refused, "Passcode checks are locked for you after too many wrong codes; ask your station to unlock them.")
	case handoff.ReasonTooManyWrong:
		return nil, handoff.Refuse(handoff.ERATELIMITED, g.Refused, "Too many wrong passcodes in a short time; try again later.")
	default:
		if err := acceptsCodes(g.State); err != nil {
			return nil, err
		}
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonNoAttemptsLeft, "No passcode attempts are left at this stop; record the failed attempt.")
	}
	if g.LockedNow {
		s.Log.Warn("associate locked after too many wrong passcodes", "associate_id", da.ID)
	}
	if s.OnCodeCheck != nil {
		s.OnCodeCheck(method, g.Correct)
	}
	res := &handoff.VerifyResult{Correct: g.Correct, Delivered: g.Delivered, AttemptsLeft: g.AttemptsLeft, AttemptEnded: g.Ended}
	if res.Delivered == nil {
		res.Delivered = []string{}
	}
	if res.Stop = g.Stop; res.Stop == nil {
		res.Stop, err = s.Store.StopView(ctx, st.RouteID, st.ID)
	}
	if err == nil && res.Correct {
		res.AttemptsLeft = res.Stop.AttemptsLeft
	}
	return res, err
}

// acceptsCodes explains why a stop in an OTP state takes no more codes.
func acceptsCodes(state string) error {
	switch state {
	case handoff.OTPPending:
		return nil
	case handoff.OTPVerified:
		return handoff.Refuse(handoff.ECONFLICT, handoff.ReasonAlreadyDelivered, "This stop is already delivered.")
	case handoff.OTPFailed:
		return handoff.Refuse(handoff.ECONFLICT, handoff.ReasonAttemptEnded, "The delivery attempt at this stop has ended; the parcels go back to the station.")
	default:
		return handoff.Refuse(handoff.ECONFLICT, handoff.ReasonNoPasscode, "No parcel at this stop needs a passcode.")
	}
}

// ResendCode implements handoff.DoorService. The code goes only to the
// contacts on the labels of the stop's open passcode parcels; the request
// carries no contact.
func (s *Service) ResendCode(ctx context.Context, da *handoff.Principal, stopID string) (*handoff.Stop, error) {
	st, err := s.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	if err := acceptsCodes(st.OTPState); err != nil {
		return nil, err
	}
	ok, err := s.Store.ClaimResend(ctx, st, handoff.MaxResends)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, handoff.Refuse(handoff.ERATELIMITED, handoff.ReasonResendLimit, "The passcode was already re-sent %d times today.", handoff.MaxResends)
	}
	return s.Store.StopView(ctx, st.RouteID, st.ID)
}
