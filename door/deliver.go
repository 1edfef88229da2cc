package door

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/tracking"
)

// This file is where parcels without a passcode are delivered (with the
// photo rule of SPEC §3), where a failed attempt is recorded, and where the
// tamper-evident bag is checked at the door and refused (SPEC §2).

// DeliverParcels implements handoff.DoorService. Passcode parcels are never
// completed this way: only a verified code delivers them. At an unattended
// place the photo and the delivery are one step: without a photo nothing is
// delivered, unless a privacy rule forbids the photo, and then none is taken.
// A parcel whose label asks for a signature or an age check is handed over
// in person with them (handoff.CheckHandover); when the ID shows the
// recipient too young, it is refused and goes back to the station.
func (s *Service) DeliverParcels(ctx context.Context, da *handoff.Principal, stopID string, h handoff.Handover) (*handoff.Stop, error) {
	if !slices.Contains(handoff.DeliveryPlaces, h.Place) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "place", Message: "must be one of the delivery places (DeliveredToPorch, …)"})
	}
	if err := requireAssociate(da); err != nil {
		return nil, err
	}
	if len(h.Photo) > 0 || (h.Signature != nil && h.Signature.Kind == handoff.SignatureDrawn) {
		return s.deliverWithImages(ctx, da, stopID, h)
	}
	// Nothing to store first: the delivery is decided on the stop and its
	// open parcels as its own transaction reads them.
	now := s.Now()
	var young *handover
	view, err := s.Store.Deliver(ctx, stopID, da.ID, func(st *Stop, open []Parcel) (*Delivery, error) {
		ho, err := s.handoverAt(da, st, open, h)
		if err != nil {
			return nil, err
		}
		if ho.underage {
			young = ho
			return nil, errUnderage
		}
		return s.delivery(st, da, h, ho, nil, nil, now), nil
	})
	if errors.Is(err, errUnderage) {
		return nil, s.refuseForAge(ctx, da, young.stop, young.targets, h.IDCheck)
	}
	return view, err
}

// errUnderage is how a delivery's decision asks for the refusal of parcels
// the recipient's ID showed too young for, instead of the delivery.
var errUnderage = errors.New("under the minimum age")

// deliverWithImages delivers with a photo or a drawn signature, which are
// cleaned and stored before the transaction: the stop is checked first, so
// nothing is stored for a delivery that is refused, and again in the
// transaction on what it reads.
func (s *Service) deliverWithImages(ctx context.Context, da *handoff.Principal, stopID string, h handoff.Handover) (*handoff.Stop, error) {
	st, open, err := s.openAt(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	ho, err := checkHandover(st, open, h)
	if err != nil {
		return nil, err
	}
	if ho.underage {
		return nil, s.refuseForAge(ctx, da, st, ho.targets, h.IDCheck)
	}
	now := s.Now()
	var photo, image *StoredPhoto
	if ho.take {
		if photo, err = s.storePhoto(ctx, h.Photo, now, "photo"); err != nil {
			return nil, err
		}
	}
	if sig := h.Signature; sig != nil && sig.Kind == handoff.SignatureDrawn {
		if image, err = s.storePhoto(ctx, sig.Image, now, "signature.image"); err != nil {
			s.deletePhotos(ctx, photo)
			return nil, err
		}
	}
	view, err := s.Store.Deliver(ctx, stopID, da.ID, func(st *Stop, open []Parcel) (*Delivery, error) {
		again, err := s.handoverAt(da, st, open, h)
		if err != nil {
			return nil, err
		}
		if again.underage || again.take != ho.take {
			return nil, handoff.Errorf(handoff.ECONFLICT, "The stop changed while the delivery was recorded; try again.")
		}
		return s.delivery(st, da, h, again, photo, image, now), nil
	})
	if err != nil {
		s.deletePhotos(ctx, photo, image)
		return nil, err
	}
	return view, nil
}

// deletePhotos removes stored images of a delivery that was not recorded.
func (s *Service) deletePhotos(ctx context.Context, photos ...*StoredPhoto) {
	for _, p := range photos {
		if p != nil {
			s.Photos.Delete(ctx, p.Blob)
			s.Photos.Delete(ctx, p.Thumb)
		}
	}
}

// handover is what the door's rules make of a delivery at a stop: the
// parcels it settles, and whether a photo is taken; or, when the ID shows
// the recipient too young, the parcels to refuse.
type handover struct {
	stop     *Stop
	targets  []Parcel
	checks   []handoff.DoorCheck
	underage bool
	take     bool
}

// handoverAt applies the rules of a delivery at a stop the transaction
// read: the associate's own stop of today, its van loaded, then
// checkHandover.
func (s *Service) handoverAt(da *handoff.Principal, st *Stop, open []Parcel, h handoff.Handover) (*handover, error) {
	if err := s.ownStop(da, st); err != nil {
		return nil, err
	}
	if err := loaded(st); err != nil {
		return nil, err
	}
	return checkHandover(st, open, h)
}

// checkHandover applies the rules of a delivery without a passcode to the
// stop and its open parcels: which parcels, their bags scanned, the garage
// settled, the signature or age check their labels ask for, and the photo
// rule.
func checkHandover(st *Stop, open []Parcel, h handoff.Handover) (*handover, error) {
	targets, err := plainTargets(open, h.TrackingIDs)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(targets))
	privacy := make([]string, len(targets))
	checks := make([]handoff.DoorCheck, len(targets))
	for i, p := range targets {
		ids[i], privacy[i], checks[i] = p.TrackingID, p.Privacy, p.Check
	}
	if err := bagsScanned(open, ids, false); err != nil {
		return nil, err
	}
	if err := garageSettled(st); err != nil {
		return nil, err
	}
	underage, err := handoff.CheckHandover(h.Place, st.Date, checks, h.Signature, h.IDCheck)
	if err != nil {
		return nil, err
	}
	ho := &handover{stop: st, targets: targets, checks: checks, underage: underage}
	if underage {
		return ho, nil
	}
	if ho.take, err = handoff.PhotoRule(h.Place, privacy, len(h.Photo) > 0); err != nil {
		return nil, err
	}
	return ho, nil
}

// delivery is the record of a delivery the rules allowed, with its photo
// and the image of its signature when they were stored.
func (s *Service) delivery(st *Stop, da *handoff.Principal, h handoff.Handover, ho *handover, photo, image *StoredPhoto, now time.Time) *Delivery {
	place := h.Place
	d := &Delivery{Stop: st, AssociateID: da.ID, Place: place, Detail: place, At: now, Photo: photo}
	if sig := h.Signature; sig != nil {
		d.Detail = tracking.DeliveredWithSignature
		d.Signature = &SignatureTaken{Kind: sig.Kind, SignerName: strings.TrimSpace(sig.SignerName), Relationship: sig.Relationship, Image: image}
	}
	if h.IDCheck != nil {
		d.AgeCheck = &AgeCheck{DocumentType: h.IDCheck.DocumentType}
		for _, c := range ho.checks {
			d.AgeCheck.MinimumAge = max(d.AgeCheck.MinimumAge, c.Age())
		}
	}
	unattended := slices.Contains(handoff.UnattendedPlaces, place)
	for _, p := range ho.targets {
		dp := Delivered{TrackingID: p.TrackingID, Note: tracking.Describe(tracking.StatusDelivered, place)}
		switch {
		case d.Photo != nil:
			dp.Note += ", with a photo"
		case unattended && p.Privacy != "":
			// Left unattended without the photo that would otherwise be
			// taken: the record says why.
			dp.NoPhotoReason = p.Privacy
			dp.Note += ", without a photo (" + handoff.NoPhotoWords(p.Privacy) + ")"
		}
		if d.Signature != nil {
			dp.Note += ", against a " + map[string]string{handoff.SignatureDrawn: "signature", handoff.SignatureTyped: "typed name (weaker than a signature)"}[d.Signature.Kind]
		}
		if d.AgeCheck != nil {
			dp.Note += fmt.Sprintf(", age %d+ checked on an ID document", d.AgeCheck.MinimumAge)
		}
		d.Parcels = append(d.Parcels, dp)
	}
	return d
}

// refuseForAge records the parcels whose minimum age the ID did not show as
// refused (they go back to the station) and returns the refusal for the
// associate. The date of birth goes no further than this call.
func (s *Service) refuseForAge(ctx context.Context, da *handoff.Principal, st *Stop, targets []Parcel, id *handoff.IDCheck) error {
	r := Refusal{Stop: st, AssociateID: da.ID, At: s.Now(), AgeCheck: &AgeCheck{DocumentType: id.DocumentType}}
	var refused []string
	for _, p := range targets {
		age := p.Check.Age()
		if age == 0 {
			continue
		}
		if ok, err := handoff.AgeAtLeast(id.DateOfBirth, st.Date, age); err != nil || ok {
			continue
		}
		r.AgeCheck.MinimumAge = max(r.AgeCheck.MinimumAge, age)
		r.Parcels = append(r.Parcels, Refused{TrackingID: p.TrackingID,
			Note: fmt.Sprintf("Not delivered: the recipient's ID did not show the minimum age of %d", age)})
		refused = append(refused, p.TrackingID)
	}
	if _, err := s.Store.RecordRefusal(ctx, r); err != nil {
		return err
	}
	return handoff.Refuse(handoff.EFORBIDDEN, handoff.ReasonAgeNotVerified,
		"The ID does not show the minimum age of %d: %s is not delivered and goes back to the station (%s).", r.AgeCheck.MinimumAge, joinIDs(refused), tracking.RejectedAgeNotVerified)
}

// plainTargets returns the open parcels of a stop that a delivery without a
// passcode completes: those asked for (all when none), never a passcode
// parcel still waiting for its code.
func plainTargets(open []Parcel, trackingIDs []string) ([]Parcel, error) {
	want := map[string]bool{}
	for i, id := range trackingIDs {
		if !slices.ContainsFunc(open, func(p Parcel) bool { return p.TrackingID == id }) {
			return nil, handoff.Invalid(handoff.FieldError{Field: fmt.Sprintf("trackingIds[%d]", i), Message: "is not an open parcel of this stop"})
		}
		want[id] = true
	}
	var targets []Parcel
	for _, p := range open {
		if len(want) > 0 && !want[p.TrackingID] {
			continue
		}
		// A passcode parcel opened by its code (it waits for its signature
		// or age check) is handed over like one that needs no code; the
		// check rule then keeps it attended.
		if p.OTP && !p.CodeOK {
			if len(want) > 0 {
				return nil, handoff.Refuse(handoff.EFORBIDDEN, handoff.ReasonPasscodeNeeded, "Parcel %s needs the passcode: enter the code to deliver it; it is never left unattended.", p.TrackingID)
			}
			continue
		}
		targets = append(targets, p)
	}
	if len(targets) == 0 {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonNothingPlain, "No parcel at this stop can be delivered without the passcode.")
	}
	return targets, nil
}

// storePhoto cleans a delivery photo or a drawn signature (EXIF stripped,
// upright) and puts it in the photo store; field names the image in a
// refusal. Its thumbnail's key is fixed now, and the thumbnail is made
// there when first asked for (deliveryphoto).
func (s *Service) storePhoto(ctx context.Context, data []byte, now time.Time, field string) (*StoredPhoto, error) {
	if s.Photos == nil {
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "Photo storage is not configured.")
	}
	full, width, height, err := s.Cleaner.CleanImage(ctx, data)
	if err != nil {
		return nil, photoRefused(err, field)
	}
	base := auth.Random(32)
	sum := sha256.Sum256(full)
	p := &StoredPhoto{Blob: base + ".jpg", Thumb: base + ".thumb.jpg", Width: width, Height: height,
		ExpiresAt: now.Add(s.Policy.PhotoRetention), SHA256: hex.EncodeToString(sum[:])}
	if err := s.Photos.Put(ctx, p.Blob, full); err != nil {
		return nil, handoff.Internal(err, "store photo")
	}
	return p, nil
}

// bagsScanned refuses when a bagged open parcel among ids (all when nil;
// only the passcode ones when otpOnly) has not had its bag scanned: delivery
// completes only when the bag in hand matches.
func bagsScanned(open []Parcel, ids []string, otpOnly bool) error {
	var missing []string
	for _, p := range open {
		if p.BagID == "" || p.BagScanned || (otpOnly && !p.OTP) || (ids != nil && !slices.Contains(ids, p.TrackingID)) {
			continue
		}
		missing = append(missing, p.TrackingID)
	}
	if len(missing) > 0 {
		return handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonBagNotScanned, "Scan the tamper-evident bag of %s first: delivery completes only when it matches.", joinIDs(missing))
	}
	return nil
}

// joinIDs lists tracking IDs in order, for a message.
func joinIDs(ids []string) string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return strings.Join(ids, ", ")
}

// RecordAttempt implements handoff.DoorService: the stop's passcode attempt
// ends and its open parcels go back to the station.
func (s *Service) RecordAttempt(ctx context.Context, da *handoff.Principal, stopID, reason string) (*handoff.Stop, error) {
	if !slices.Contains(handoff.AttemptReasons, reason) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "reason", Message: "must be one of " + strings.Join(handoff.AttemptReasons, ", ")})
	}
	st, err := s.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	failed, err := s.Store.FailAttempt(ctx, Attempt{Stop: st, AssociateID: da.ID, Reason: reason,
		Note: tracking.Describe(tracking.StatusDeliveryAttempted, reason), NextAttempt: s.Policy.WorkingDays.NextAfter(st.Date), At: s.Now()})
	if err != nil {
		return nil, err
	}
	if len(failed) == 0 {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonStopSettled, "Every parcel at this stop is already settled.")
	}
	return s.Store.StopView(ctx, st.RouteID, st.ID)
}

// ScanBag implements handoff.DoorService. The associate's app never shows the
// expected ID: the scan must come from the bag in hand. A misread is told at
// once and not counted as a finding: the check character caught it. A bag
// that belongs to no parcel here is a finding for customer service.
func (s *Service) ScanBag(ctx context.Context, da *handoff.Principal, stopID, raw string) (*handoff.Stop, error) {
	st, err := s.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	id, err := bag.Parse(raw)
	if err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "bagId", Message: err.Error()})
	}
	matched, err := s.Store.RecordBagScan(ctx, Scan{Stop: st, AssociateID: da.ID, BagID: id, At: s.Now(),
		CaseSummary: "Bag " + bag.Format(id) + " was scanned at the door, but the parcel was sealed in another bag"})
	if err != nil {
		return nil, err
	}
	if matched == "" {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonBagMismatch, "This bag does not belong to any parcel at this stop. Do not deliver; the mismatch has been reported.")
	}
	return s.Store.StopView(ctx, st.RouteID, st.ID)
}

// RefuseParcels implements handoff.DoorService: the recipient refuses bagged
// parcels whose seal is broken (all of the stop's when none are named); they
// go back to the station and a tamper case opens for each.
func (s *Service) RefuseParcels(ctx context.Context, da *handoff.Principal, stopID string, trackingIDs []string) (*handoff.Stop, error) {
	st, open, err := s.openAt(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	var bagged []Parcel
	for _, p := range open {
		if p.BagID != "" {
			bagged = append(bagged, p)
		}
	}
	refuse := bagged
	if len(trackingIDs) > 0 {
		refuse = nil
		for i, t := range trackingIDs {
			j := slices.IndexFunc(bagged, func(p Parcel) bool { return p.TrackingID == t })
			if j < 0 {
				return nil, handoff.Invalid(handoff.FieldError{Field: "trackingIds[" + strconv.Itoa(i) + "]", Message: "is not an open bagged parcel of this stop"})
			}
			refuse = append(refuse, bagged[j])
		}
	}
	if len(refuse) == 0 {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonNoBaggedParcel, "No parcel in a tamper-evident bag is open at this stop.")
	}
	r := Refusal{Stop: st, AssociateID: da.ID, At: s.Now()}
	for _, p := range refuse {
		b := bag.Format(p.BagID)
		r.Parcels = append(r.Parcels, Refused{TrackingID: p.TrackingID,
			Note:        "Refused by the recipient: the seal of bag " + b + " was broken",
			CaseSummary: "Recipient refused bag " + b + ": seal broken"})
	}
	if _, err := s.Store.RecordRefusal(ctx, r); err != nil {
		return nil, err
	}
	return s.Store.StopView(ctx, st.RouteID, st.ID)
}

// photoRefused turns a refusal of the Cleaner into the client's
// error, naming the field (photo or signature.image) and, for a photo too big in bytes or pixels,
// the limit: 413 for those, 503 when no decoder came free in time (the
// server is busy, the photo may be fine), 400 for anything else.
func photoRefused(err error, name string) error {
	field := []handoff.FieldError{{Field: name, Message: err.Error()}}
	var tooLarge interface{ TooLarge() bool }
	var busy interface{ Busy() bool }
	switch {
	case errors.As(err, &tooLarge) && tooLarge.TooLarge():
		return &handoff.Error{Code: handoff.ETOOLARGE, Message: name + ": " + err.Error(), Fields: field}
	case errors.As(err, &busy) && busy.Busy():
		return &handoff.Error{Code: handoff.EUNAVAILABLE, Message: "The server is busy with other photos; try again shortly.", Err: err}
	}
	return handoff.Invalid(field...)
}
