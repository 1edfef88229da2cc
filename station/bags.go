package station

import (
	"context"
	"errors"
	"slices"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/tracking"
)

// The station's tamper-evident bags (SPEC §2): issued in batches, each
// sealed once around one parcel at the station, or voided when damaged.

// IssueBatch implements handoff.BagService.
func (s *Service) IssueBatch(ctx context.Context, by *handoff.Principal, stationID string, n int) (*handoff.BagBatch, error) {
	issuer := "operator"
	if by != nil {
		if err := requireStation(by); err != nil {
			return nil, err
		}
		stationID, issuer = by.ID, by.ID
	}
	if n < 1 || n > handoff.MaxBatch {
		return nil, handoff.Invalid(handoff.FieldError{Field: "count", Message: "must be a whole number from 1 to 1000"})
	}
	if stationID != "" {
		if p, err := s.store.FindPrincipal(ctx, stationID); err != nil || p.Kind != auth.KindStation {
			return nil, handoff.Invalid(handoff.FieldError{Field: "stationId", Message: "no such station"})
		}
	}
	return s.store.RecordBatch(ctx, stationID, issuer, n)
}

// FindBatch implements handoff.BagService: the operator (by nil) sees
// every batch, a station only its own.
func (s *Service) FindBatch(ctx context.Context, by *handoff.Principal, batchID string) (*handoff.BagBatch, error) {
	b, err := s.store.Batch(ctx, batchID)
	if err != nil {
		return nil, err
	}
	if by != nil && (by.Kind != auth.KindStation || b.StationID != by.ID) {
		return nil, handoff.NotFound("Batch")
	}
	if b.Bags, err = s.store.FindBags(ctx, BagFilter{BatchID: b.ID}); err != nil {
		return nil, err
	}
	return b, nil
}

// ListBags implements handoff.BagService.
func (s *Service) ListBags(ctx context.Context, st *handoff.Principal, state string) ([]handoff.Bag, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	if state != "" && !slices.Contains(handoff.BagStates, state) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "state", Message: "must be issued, sealed, delivered, refused or voided"})
	}
	return s.store.FindBags(ctx, BagFilter{StationID: st.ID, State: state})
}

// FindBag implements handoff.BagService.
func (s *Service) FindBag(ctx context.Context, st *handoff.Principal, bagID string) (*handoff.Bag, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	id, err := parseBag(bagID)
	if err != nil {
		return nil, err
	}
	b, err := s.stationBag(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, handoff.NotFound("Bag")
	}
	return b, nil
}

// ParcelBag implements handoff.BagService.
func (s *Service) ParcelBag(ctx context.Context, st *handoff.Principal, trackingID string) (*handoff.Bag, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	bs, err := s.store.FindBags(ctx, BagFilter{StationID: st.ID, TrackingID: trackingID, State: handoff.BagSealed})
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 {
		return nil, handoff.NotFound("Bag")
	}
	return &bs[0], nil
}

// parseBag reads a bag ID as scanned or typed, naming the field on failure.
func parseBag(raw string) (string, error) {
	id, err := bag.Parse(raw)
	if err != nil {
		return "", handoff.Invalid(handoff.FieldError{Field: "bagId", Message: err.Error()})
	}
	return id, nil
}

// stationBag returns a bag the station may use: issued to it, or to no
// station yet. It returns nil when there is none.
func (s *Service) stationBag(ctx context.Context, st *handoff.Principal, id string) (*handoff.Bag, error) {
	bs, err := s.store.FindBags(ctx, BagFilter{ID: id})
	if err != nil {
		return nil, err
	}
	if len(bs) == 0 || (bs[0].StationID != "" && bs[0].StationID != st.ID) {
		return nil, nil
	}
	return &bs[0], nil
}

// unsealable says why a bag cannot be sealed (nil when it can): a bag is
// single-use, so only an issued one of this station is.
func unsealable(b *handoff.Bag) error {
	refuse := func(reason, msg string) error {
		e := handoff.Invalid(handoff.FieldError{Field: "bagId", Message: msg})
		e.Reason = reason
		return e
	}
	if b == nil {
		return refuse(handoff.ReasonBagNotIssued, "was never issued to this station")
	}
	switch _, ok := handoff.NextBagState(b.State, handoff.BagActSeal); {
	case ok:
		return nil
	case b.State == handoff.BagVoided:
		return refuse(handoff.ReasonBagVoided, "is "+b.State+": a bag can be sealed only once")
	}
	return refuse(handoff.ReasonBagUsed, "is "+b.State+": a bag can be sealed only once")
}

// msgNotSealable refuses a parcel that cannot take a bag now.
const msgNotSealable = "The parcel is already in a bag, or not waiting at the station."

// SealParcel implements handoff.BagService. The parcel must need a bag, be
// at the station and have none; the bag must be unused and this station's.
func (s *Service) SealParcel(ctx context.Context, st *handoff.Principal, trackingID, bagID string) (*handoff.Bag, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	id, err := parseBag(bagID)
	if err != nil {
		return nil, err
	}
	p, err := s.store.StationParcel(ctx, trackingID)
	if err != nil {
		return nil, err
	}
	if p.StationID != st.ID {
		return nil, handoff.NotFound("Parcel")
	}
	if !p.BagRequired {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonBagNotNeeded, "This parcel does not need a bag (the shipper's bag rules do not apply to it).")
	}
	b, err := s.stationBag(ctx, st, id)
	if err != nil {
		return nil, err
	}
	if err := unsealable(b); err != nil {
		return nil, err
	}
	if p.BagID != "" {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonParcelBagged, msgNotSealable)
	}
	if _, ok := handoff.NextStage(p.Stage, handoff.ActSeal); !ok {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonWrongStage, msgNotSealable)
	}
	sealed, _ := handoff.NextBagState(b.State, handoff.BagActSeal)
	err = s.store.RecordSeal(ctx, Seal{BagID: id, TrackingID: p.TrackingID, StationID: st.ID, BagFrom: b.State, BagTo: sealed,
		ParcelStages: handoff.StagesFrom(handoff.ActSeal),
		Event:        tracking.Event{Code: tracking.BagSealed, Location: p.Location(), Actor: st.ID, Note: "Sealed in bag " + bag.Format(id)}})
	var ch *Changed
	switch {
	case errors.As(err, &ch) && ch.Bag:
		// Someone sealed or voided it first: say what it is now.
		if b, err = s.stationBag(ctx, st, id); err != nil {
			return nil, err
		}
		if err := unsealable(b); err != nil {
			return nil, err
		}
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonChanged, "The bag was changed by someone else; try again.")
	case errors.As(err, &ch):
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonChanged, msgNotSealable)
	case err != nil:
		return nil, err
	}
	return s.FindBag(ctx, st, id)
}

// msgNotVoidable refuses a bag that cannot be voided.
const msgNotVoidable = "Only an issued or sealed bag of this station can be voided."

// VoidBag implements handoff.BagService. A parcel sealed in the bag loses
// it and must be sealed into a new one before it goes out; its history
// keeps both bags.
func (s *Service) VoidBag(ctx context.Context, st *handoff.Principal, bagID, reason string) (*handoff.Bag, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	id, err := parseBag(bagID)
	if err != nil {
		return nil, err
	}
	var fe handoff.FieldErrors
	handoff.Text{Max: 200, Required: true}.Check(&fe, "reason", &reason)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	b, err := s.stationBag(ctx, st, id)
	if err != nil {
		return nil, err
	}
	// A bag of no station yet is the station's to void while unused.
	if b == nil || (b.StationID == "" && b.State != handoff.BagIssued) {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonBagNotIssued, msgNotVoidable)
	}
	voided, ok := handoff.NextBagState(b.State, handoff.BagActVoid)
	switch {
	case !ok && b.State == handoff.BagVoided:
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonBagVoided, msgNotVoidable)
	case !ok:
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonBagUsed, msgNotVoidable)
	}
	err = s.store.RecordVoid(ctx, Void{BagID: id, StationID: st.ID, Note: reason, BagFrom: handoff.BagStatesFrom(handoff.BagActVoid), BagTo: voided,
		ParcelStages: handoff.StagesFrom(handoff.ActUnbag),
		Event:        tracking.Event{Code: tracking.BagVoided, Actor: st.ID, Note: "Bag " + bag.Format(id) + " voided: " + reason + "; the parcel needs a new bag"}})
	var ch *Changed
	switch {
	case errors.As(err, &ch) && ch.Bag:
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonChanged, msgNotVoidable)
	case errors.As(err, &ch):
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonWrongStage, "The parcel in this bag is not at the station; void it when it is back.")
	case err != nil:
		return nil, err
	}
	return s.FindBag(ctx, st, id)
}
