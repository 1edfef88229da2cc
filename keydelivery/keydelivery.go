// Package keydelivery is in-garage (key) delivery, SPEC §4: a recipient
// enrols a smart garage opener and switches key delivery on; at the address
// the associate asks for access, the server checks it (package grant), opens
// the door itself, and closes it and confirms it closed when asked; a door
// that does not close alerts the recipient and customer service. The
// associate never sees a device credential.
//
// The Service reads as the rule book: it asks package grant, calls a few
// atomic steps of its Store (conditional moves, single-use grants, leases,
// all in SQL), then the garage devices. It never holds a transaction open
// across a device call, so every step that commands a door is recoverable:
// a grant in flight carries a step deadline, and past it Sweep reads the
// door's real state and settles the grant.
package keydelivery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/garage"
	"github.com/handoff-dev/handoff/grant"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// Store is what key delivery needs from storage. Each method is one atomic
// step; none calls a device or decides a rule.
type Store interface {
	// AddGarage stores an opener with its sealed connection details and
	// logs the enrolment.
	AddGarage(ctx context.Context, contact string, g handoff.Garage, sealed string, at *handoff.Position, detail string) error
	// GarageConfig returns the sealed details of one of the contact's
	// openers; ENOTFOUND otherwise.
	GarageConfig(ctx context.Context, contact, garageID string) (string, error)
	// ContactGarages lists the contact's openers; GarageSteps their log.
	ContactGarages(ctx context.Context, contact string) ([]handoff.Garage, error)
	GarageSteps(ctx context.Context, contact string) ([]handoff.GarageEvent, error)
	// LogGarage appends a step to a garage's log.
	LogGarage(ctx context.Context, garageID, grantID, step, detail string) error
	// SwitchKeyDelivery, SwitchParcelKeyDelivery and RetireGarage change
	// what may be delivered to a garage and, when it is less, apply revoke
	// to the garage's grants in the same transaction; they return the
	// grants they ended, each with the state it was in.
	SwitchKeyDelivery(ctx context.Context, garageID string, on bool, revoke []grant.Transition, until time.Time, why string) ([]handoff.GrantRecord, error)
	SwitchParcelKeyDelivery(ctx context.Context, contact, trackingID, garageID string, on bool, revoke []grant.Transition, until time.Time, why string) ([]handoff.GrantRecord, error)
	RetireGarage(ctx context.Context, garageID string, revoke []grant.Transition, until time.Time, why string) ([]handoff.GrantRecord, error)
	// ForgetGarage marks an opener removed and wipes its credentials.
	ForgetGarage(ctx context.Context, garageID string) error

	// GarageStop and KeyParcels return the facts access is decided on.
	GarageStop(ctx context.Context, stopID string) (*grant.Stop, error)
	KeyParcels(ctx context.Context, stopID string) ([]grant.Parcel, error)
	// AddGrant writes a pending grant if the garage still has key delivery
	// on (EFORBIDDEN) and no grant of the stop is live (ECONFLICT).
	AddGrant(ctx context.Context, g handoff.GrantRecord, step handoff.GrantMove) error
	// MoveGrant applies a step if the grant is still in m.From.
	MoveGrant(ctx context.Context, m handoff.GrantMove) (moved bool, delivered []string, err error)
	FindGrant(ctx context.Context, grantID string) (*handoff.GrantRecord, error)
	// GrantIn returns the associate's grant at a stop in a state; ENOTFOUND.
	GrantIn(ctx context.Context, stopID, associateID, state string) (*handoff.GrantRecord, error)
	// MoveDueGrants moves the grants in from whose time is up to to.
	MoveDueGrants(ctx context.Context, from, to string, now, until time.Time) ([]handoff.GrantRecord, error)
	// ClaimStaleGrants leases the grants in states whose step deadline passed.
	ClaimStaleGrants(ctx context.Context, states []string, now, until time.Time) ([]handoff.GrantRecord, error)
}

// Sealer seals and opens the openers' connection details (a keyring).
type Sealer interface {
	Seal(purpose string, plaintext, aad []byte) string
	Open(purpose, sealed string, aad []byte) ([]byte, error)
}

// Settings bound in-garage delivery.
type Settings struct {
	Timeouts     garage.Timeouts
	GrantTTL     time.Duration // a grant must be used (opened) within this
	OpenWithin   time.Duration // the door must read open within this
	CloseWithin  time.Duration // … and closed within this, or the alert goes out
	PollInterval time.Duration
	NearMeters   float64 // the associate must be this close, when both positions are known
	Window       route.Hours
	Simulators   *garage.Simulators
	// StepDeadline, when positive, replaces the step deadline derived from
	// the bounds above (StepBound): the operator's choice of how soon the
	// sweeper takes over a step whose node died.
	StepDeadline time.Duration
}

// DefaultSettings are five-minute grants, 30 s to open, 60 s to close, 250 m
// of the address, and the default contact hours as the delivery window.
func DefaultSettings() Settings {
	return Settings{Timeouts: garage.DefaultTimeouts, GrantTTL: 5 * time.Minute, OpenWithin: 30 * time.Second,
		CloseWithin: 60 * time.Second, PollInterval: time.Second, NearMeters: 250, Window: route.DefaultContactHours, Simulators: garage.NewSimulators()}
}

// StepBound is how long one step in flight may take: an open or a close
// command with its confirmation, each device call with its retries, or
// StepDeadline when set. Past it, the node that drove the step is taken to
// have died.
func (s Settings) StepBound() time.Duration {
	if s.StepDeadline > 0 {
		return s.StepDeadline
	}
	calls := s.Timeouts.Call * time.Duration(2*(s.Timeouts.Retries+2))
	return calls + s.OpenWithin + s.CloseWithin + 10*time.Second
}

// Service implements handoff.GarageService and sweeps grants past their time.
type Service struct {
	Settings
	Store Store
	Keys  Sealer
	Now   func() time.Time
	Log   *slog.Logger
}

// New returns a service with the default settings over store.
func New(store Store, keys Sealer, log *slog.Logger) *Service {
	return &Service{Settings: DefaultSettings(), Store: store, Keys: keys, Log: log, Now: func() time.Time { return time.Now().UTC() }}
}

var _ handoff.GarageService = (*Service)(nil)

// EnrollGarage implements handoff.GarageService. The door's state is read
// once before anything is stored, so a recipient learns at once when the
// details are wrong.
func (s *Service) EnrollGarage(ctx context.Context, contact string, in handoff.GarageEnrollment) (*handoff.Garage, error) {
	var fe handoff.FieldErrors
	line, required := handoff.Text{}, handoff.Text{Required: true}
	required.Check(&fe, "label", &in.Label)
	required.Check(&fe, "addressLine1", &in.AddressLine1)
	required.Check(&fe, "postalCode", &in.PostalCode)
	line.Check(&fe, "deviceKey", &in.DeviceKey)
	line.Check(&fe, "token", &in.Token)
	line.Check(&fe, "entityId", &in.EntityID)
	cfg := garage.Config{Kind: in.Kind, URL: strings.TrimSpace(in.URL), DeviceKey: in.DeviceKey, Token: in.Token, EntityID: in.EntityID, SimulatorID: in.SimulatorID}
	switch in.Kind {
	case garage.KindOpenGarage, garage.KindHomeAssistant:
		if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fe.Add("url", "must be the device's http(s) address")
		}
	case garage.KindSimulator:
		if cfg.SimulatorID == "" {
			cfg.SimulatorID = "sim_" + auth.Random(16)
		}
	default:
		fe.Add("kind", "must be opengarage, homeassistant or simulator")
	}
	if (in.Lat == nil) != (in.Lon == nil) || (in.Lat != nil && !(math.Abs(*in.Lat) <= 90 && math.Abs(*in.Lon) <= 180)) {
		fe.Add("lat", "give both lat and lon, in degrees")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	dev, err := garage.New(cfg, s.Timeouts, s.Simulators)
	if err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "kind", Message: err.Error()})
	}
	state, err := dev.State(ctx)
	if err != nil || state == garage.Unknown {
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "The garage opener did not answer with its door state; check the address and credentials.")
	}
	if c, ok := dev.(garage.Checker); ok {
		if err := c.CheckCredentials(ctx); err != nil {
			return nil, handoff.Invalid(handoff.FieldError{Field: "deviceKey", Message: "was refused by the opener"})
		}
	}
	g := &handoff.Garage{ID: "gar_" + auth.Random(16), Kind: in.Kind, Label: strings.TrimSpace(in.Label), AddressLine1: strings.TrimSpace(in.AddressLine1),
		PostalCode: strings.TrimSpace(in.PostalCode), HasPosition: in.Lat != nil, CreatedAt: s.Now()}
	var at *handoff.Position
	if in.Lat != nil {
		at = &handoff.Position{Lat: *in.Lat, Lon: *in.Lon}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, handoff.Internal(err, "garage config")
	}
	if err := s.Store.AddGarage(ctx, contact, *g, s.Keys.Seal("garage", b, []byte(g.ID)), at, "door reads "+string(state)); err != nil {
		return nil, err
	}
	return g, nil
}

// device returns the opener a garage's sealed details describe.
func (s *Service) device(garageID, sealed string) (garage.Device, error) {
	b, err := s.Keys.Open("garage", sealed, []byte(garageID))
	if err != nil {
		return nil, handoff.Internal(err, "open garage credentials")
	}
	var c garage.Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, handoff.Internal(err, "garage config")
	}
	return garage.New(c, s.Timeouts, s.Simulators)
}

// TestGarage implements handoff.GarageService.
func (s *Service) TestGarage(ctx context.Context, contact, garageID string) (string, error) {
	sealed, err := s.Store.GarageConfig(ctx, contact, garageID)
	if err != nil {
		return "", err
	}
	dev, err := s.device(garageID, sealed)
	if err != nil {
		return "", err
	}
	state, err := dev.State(ctx)
	detail := "door reads " + string(state)
	if err != nil {
		state, detail = garage.Unknown, "no answer"
	}
	if err := s.Store.LogGarage(ctx, garageID, "", "tested", detail); err != nil {
		s.Log.Error("garage log", "garage_id", garageID, "err", err)
	}
	return string(state), nil
}

// RecipientGarages implements handoff.GarageService.
func (s *Service) RecipientGarages(ctx context.Context, contact string) ([]handoff.Garage, error) {
	return s.Store.ContactGarages(ctx, contact)
}

// GarageLog implements handoff.GarageService.
func (s *Service) GarageLog(ctx context.Context, contact string) ([]handoff.GarageEvent, error) {
	return s.Store.GarageSteps(ctx, contact)
}

// RemoveGarage implements handoff.GarageService. Open doors are closed
// before the credentials are wiped, while the server can still reach them.
func (s *Service) RemoveGarage(ctx context.Context, contact, garageID string) error {
	sealed, err := s.Store.GarageConfig(ctx, contact, garageID)
	if err != nil {
		return err
	}
	ended, err := s.Store.RetireGarage(ctx, garageID, grant.Transitions(grant.Revoke), s.stepUntil(), "opener removed")
	if err != nil {
		return err
	}
	s.closeRevoked(ctx, garageID, sealed, ended, "the opener was removed")
	return s.Store.ForgetGarage(ctx, garageID)
}

// SetKeyDelivery implements handoff.GarageService. Switching off revokes in
// the same transaction, so a request after it is refused even if it started
// before, and a door left open under a grant is closed at once.
func (s *Service) SetKeyDelivery(ctx context.Context, contact, garageID string, on bool) error {
	sealed, err := s.Store.GarageConfig(ctx, contact, garageID)
	if err != nil {
		return err
	}
	ended, err := s.Store.SwitchKeyDelivery(ctx, garageID, on, grant.Transitions(grant.Revoke), s.stepUntil(), "key delivery switched off by the recipient")
	if err != nil {
		return err
	}
	s.closeRevoked(ctx, garageID, sealed, ended, "key delivery was switched off")
	return nil
}

// SetParcelKeyDelivery implements handoff.GarageService.
func (s *Service) SetParcelKeyDelivery(ctx context.Context, contact, trackingID, garageID string, on bool) error {
	sealed, err := s.Store.GarageConfig(ctx, contact, garageID)
	if err != nil {
		return err
	}
	ended, err := s.Store.SwitchParcelKeyDelivery(ctx, contact, trackingID, garageID, on, grant.Transitions(grant.Revoke), s.stepUntil(),
		"key delivery switched off for "+trackingID)
	if err != nil {
		return err
	}
	s.closeRevoked(ctx, garageID, sealed, ended, "key delivery was switched off")
	return nil
}

// closeRevoked closes the doors of grants that were open when the recipient
// withdrew access. It runs after the revocation committed, so the
// recipient's switch takes effect even if a door does not answer. A grant
// that was opening is left to its open call, which closes the door once it
// sees the revocation (or to the sweeper if that call died).
func (s *Service) closeRevoked(ctx context.Context, garageID, sealed string, ended []handoff.GrantRecord, why string) {
	for _, g := range ended {
		if g.Was != handoff.GrantOpen {
			continue
		}
		g.GarageID, g.Sealed = garageID, sealed
		if err := s.shut(ctx, &g, why); err != nil {
			s.Log.Error("garage door after revocation: left to the sweeper", "grant_id", g.ID, "err", err)
		}
	}
}

// OpenGarage implements handoff.GarageService. The rules come first
// (grant.Decide); then a pending grant is written in the same transaction
// that re-reads that key delivery is on; then the grant moves pending →
// opening, which a revocation in between makes fail. The server itself
// opens the door and confirms it reads open; if the grant was revoked while
// the door moved, it closes it again at once.
func (s *Service) OpenGarage(ctx context.Context, da *handoff.Principal, stopID string, pos *handoff.Position) (*handoff.GarageGrant, error) {
	stop, err := s.Store.GarageStop(ctx, stopID)
	if err != nil {
		return nil, err
	}
	req := s.request(da, stop.Market, pos)
	if err := grant.OnRoute(*stop, req); err != nil {
		return nil, err // before the parcels are read: nothing about another's stop
	}
	if stop.Parcels, err = s.Store.KeyParcels(ctx, stopID); err != nil {
		return nil, err
	}
	access, err := grant.Decide(*stop, req)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	g := handoff.GrantRecord{GarageGrant: handoff.GarageGrant{ID: "gg_" + auth.Random(16), StopID: stop.ID, State: handoff.GrantPending,
		TrackingIDs: access.TrackingIDs, Delivered: []string{}, ExpiresAt: now.Add(s.GrantTTL)}, GarageID: access.GarageID, AssociateID: da.ID}
	if err := s.Store.AddGrant(ctx, g, handoff.GrantMove{Step: "requested", Event: tracking.GarageAccessRequested,
		Note: "Garage access requested by the associate", Detail: "Garage access requested by the associate", Actor: da.ID, Notify: true}); err != nil {
		return nil, err
	}
	step := s.stepUntil() // this call's step: past it, the sweeper may take the grant over
	claimed, _, err := s.move(ctx, &g, grant.Claim, handoff.GrantMove{Before: s.Now(), StepUntil: step})
	if err != nil {
		return nil, err
	}
	if !claimed {
		return nil, handoff.Refuse(handoff.EFORBIDDEN, grant.ReasonKeyDeliveryOff, "The recipient has switched key delivery off.")
	}
	rec, err := s.Store.FindGrant(ctx, g.ID)
	if err != nil {
		return nil, err // the grant stays opening with its deadline: the sweeper settles it
	}
	switch rec.State {
	case handoff.GrantOpening:
	case handoff.GrantRevoking:
		// Revoked between the claim and this read: the revocation left the
		// grant to this call, and no command has gone to the door under
		// it. The access is cancelled without touching the door, which its
		// owner may be using.
		if _, _, err := s.move(ctx, rec, grant.DoorShut, handoff.GrantMove{Step: "revoked", Actor: "system",
			Detail: "key delivery was switched off before the door opened; the door was not moved"}); err != nil {
			s.Log.Error("garage grant after revocation: left to the sweeper", "grant_id", g.ID, "err", err)
		}
		return nil, handoff.Refuse(handoff.EFORBIDDEN, grant.ReasonKeyDeliveryOff, "The recipient has switched key delivery off.")
	default:
		return nil, errChanged() // the sweeper took it over: nothing to open under it
	}
	dev, err := s.device(rec.GarageID, rec.Sealed)
	if err == nil {
		if err = dev.Open(ctx); err == nil {
			err = garage.Confirm(ctx, dev, garage.Open, s.OpenWithin, s.PollInterval)
		}
	}
	if err != nil {
		s.Log.Warn("garage did not open", "grant_id", g.ID, "err", err)
		// Only while this call still holds its step: a sweeper that took
		// it over reads the door itself, and if the door opened late and
		// sticks, its move to close_failed (the alert and the case) must
		// find the grant still opening, not failed by this call.
		moved, _, merr := s.move(ctx, rec, grant.OpenFailed, handoff.GrantMove{Step: "failed", Event: tracking.GarageAccessFailed,
			Note: "The garage did not open", Detail: "The garage did not open", Actor: da.ID, Notify: true, Holding: step})
		switch {
		case merr != nil:
			s.Log.Error("garage grant: left to the sweeper", "grant_id", g.ID, "err", merr)
		case !moved:
			s.Log.Warn("garage grant: the sweeper took the opening over", "grant_id", g.ID)
		}
		if dev != nil && errors.Is(err, garage.ErrTimeout) {
			// It may have started to move: ask it to close, to be safe.
			dev.Close(context.WithoutCancel(ctx))
		}
		return nil, handoff.Refuse(handoff.EUNAVAILABLE, grant.ReasonDoorNotOpened, "The garage did not open; deliver another way.")
	}
	// The grant moves to open only while this call still holds its step:
	// a sweeper that took it over may be closing the door right now, and
	// the associate would be told it is open.
	opened, _, err := s.move(ctx, rec, grant.Opened, handoff.GrantMove{Opened: true, Step: "opened", Event: tracking.GarageOpened,
		Note: "Garage opened for delivery", Detail: "Garage opened for delivery", Actor: da.ID, Notify: true, Holding: step})
	if err != nil {
		return nil, err // opening past its deadline: the sweeper closes the door
	}
	if !opened {
		now, err := s.Store.FindGrant(ctx, g.ID)
		if err == nil && now.State == handoff.GrantRevoking {
			// Revoked while the door moved: the recipient wins.
			if err := s.shut(ctx, now, "key delivery was switched off while the door opened"); err != nil {
				s.Log.Error("garage door after revocation: left to the sweeper", "grant_id", g.ID, "err", err)
			}
			return nil, handoff.Refuse(handoff.EFORBIDDEN, grant.ReasonKeyDeliveryOff, "The recipient has switched key delivery off; the garage was closed again.")
		}
		// The sweeper took the grant over while this call opened the door
		// (it took the call for dead), and may have read the door before
		// it opened, or settled the grant already: nothing may close it
		// but this call. Unless a new grant of the associate's (a retried
		// request) has the door now.
		for _, state := range []string{handoff.GrantOpening, handoff.GrantOpen} {
			if other, err := s.Store.GrantIn(ctx, stop.ID, da.ID, state); err == nil && other.ID != g.ID {
				return nil, errChanged()
			}
		}
		if cerr := s.ensureClosed(context.WithoutCancel(ctx), dev); cerr != nil {
			s.Log.Error("garage door opened after its grant was settled did not close", "grant_id", g.ID, "garage_id", rec.GarageID, "err", cerr)
			s.alertOpenedLate(context.WithoutCancel(ctx), g.ID, da.ID)
			return nil, handoff.Refuse(handoff.EUNAVAILABLE, grant.ReasonDoorStuck,
				"The garage opened too late and did not close again. The recipient and customer service have been alerted; stay until it is resolved.")
		}
		return nil, handoff.Refuse(handoff.EUNAVAILABLE, grant.ReasonDoorNotOpened, "The garage opened too late and was closed again; deliver another way.")
	}
	g.State = handoff.GrantOpen
	return &g.GarageGrant, nil
}

// OpenGrant implements handoff.GarageService.
func (s *Service) OpenGrant(ctx context.Context, da *handoff.Principal, stopID string) (*handoff.GarageGrant, error) {
	stop, err := s.Store.GarageStop(ctx, stopID)
	if err != nil {
		return nil, err
	}
	if err := grant.OnRoute(*stop, s.request(da, stop.Market, nil)); err != nil {
		return nil, err
	}
	g, err := s.Store.GrantIn(ctx, stop.ID, da.ID, handoff.GrantOpen)
	if err != nil {
		return nil, err
	}
	return &g.GarageGrant, nil
}

// CloseGarage implements handoff.GarageService. The grant moves open →
// closing first, so it is closed once; the server closes the door and reads
// it until it is closed, then delivers the parcels. A door that does not
// close alerts the recipient and customer service and opens a case; the
// parcels are not delivered as if nothing happened.
func (s *Service) CloseGarage(ctx context.Context, da *handoff.Principal, stopID, grantID string) (*handoff.GarageGrant, error) {
	stop, err := s.Store.GarageStop(ctx, stopID)
	if err != nil {
		return nil, err
	}
	if err := grant.OnRoute(*stop, s.request(da, stop.Market, nil)); err != nil {
		return nil, err
	}
	g, err := s.Store.FindGrant(ctx, grantID)
	if err != nil || g.StopID != stop.ID || g.AssociateID != da.ID {
		return nil, handoff.NotFound("Grant")
	}
	if _, err := grant.Next(g.State, grant.AskClose); err != nil {
		return nil, err
	}
	claimed, _, err := s.move(ctx, g, grant.AskClose, handoff.GrantMove{StepUntil: s.stepUntil()})
	if err != nil {
		return nil, err
	}
	if !claimed {
		now, err := s.Store.FindGrant(ctx, grantID)
		if err != nil {
			return nil, err
		}
		_, err = grant.Next(now.State, grant.AskClose)
		return nil, err
	}
	dev, err := s.device(g.GarageID, g.Sealed)
	if err == nil {
		if err = dev.Close(ctx); err == nil {
			err = garage.Confirm(ctx, dev, garage.Closed, s.CloseWithin, s.PollInterval)
		}
	}
	return s.settle(ctx, g, err, da.ID, "")
}

// settle ends a grant whose door was due to close (closing, revoking,
// expiring, or opening when its open call died), given whether the door
// then read closed (doorErr nil). A closed door moves it on — for a closing
// grant, that delivers the parcels; a door that did not close moves it to
// close_failed, which alerts the recipient and customer service and opens a
// case, all in one transaction with the move. If that cannot be written the
// grant stays in flight and the sweeper tries again past its deadline: the
// alert is never lost.
func (s *Service) settle(ctx context.Context, g *handoff.GrantRecord, doorErr error, actor, why string) (*handoff.GarageGrant, error) {
	out := g.GarageGrant
	if doorErr != nil {
		s.Log.Error("garage door did not close", "grant_id", g.ID, "state", g.State, "err", doorErr)
		summary := "Garage door did not close after a delivery attempt (grant " + g.ID + ")"
		detail := "The garage door did not close"
		switch g.State {
		case handoff.GrantOpening:
			summary, detail = "Garage door did not close after an interrupted opening (grant "+g.ID+")", detail+" after an interrupted opening"
		case handoff.GrantRevoking, handoff.GrantExpiring:
			summary, detail = "Garage door did not close after its access ended (grant "+g.ID+")", "the door did not close after "+why
		}
		moved, _, err := s.move(ctx, g, grant.DoorStuck, handoff.GrantMove{Step: "close_failed", Event: tracking.GarageCloseFailed,
			Note: "The garage door did not close", Detail: detail, Actor: actor, Notify: true, Case: summary})
		if err != nil {
			s.Log.Error("garage alert not written: the sweeper will retry", "grant_id", g.ID, "err", err)
			return nil, err
		}
		if !moved {
			return nil, errChanged()
		}
		return nil, handoff.Refuse(handoff.EUNAVAILABLE, grant.ReasonDoorStuck,
			"The garage door did not close. The recipient and customer service have been alerted; stay until it is resolved.")
	}
	m := handoff.GrantMove{Closed: true, Step: "closed", Detail: "closed by the server: " + why, Actor: actor}
	switch g.State {
	case handoff.GrantClosing:
		m.Detail, m.Event, m.Note, m.Notify, m.Deliver = "Garage closed and confirmed closed", tracking.GarageClosed, "Garage closed and confirmed closed", true, true
	case handoff.GrantOpening:
		m.Step, m.Event, m.Note, m.Notify, m.Closed = "failed", tracking.GarageAccessFailed, "The garage did not open", true, false
		m.Detail = "The opening was interrupted; the door reads closed"
	}
	moved, delivered, err := s.move(ctx, g, grant.DoorShut, m)
	if err != nil {
		return nil, err
	}
	if !moved {
		return nil, errChanged()
	}
	out.State, out.Delivered = handoff.GrantClosed, delivered
	if out.Delivered == nil {
		out.Delivered = []string{}
	}
	return &out, nil
}

// alertOpenedLate moves the grant of a door that opened after the sweeper
// took its step over, and then did not close, to close_failed: the
// recipient and customer service are alerted, a case is opened, and the
// stop cannot be finished until it is resolved. The sweeper may still hold
// the grant (opening: this call settles it as stuck) or have settled it as
// failed, having read the door before it opened (opened_late). If the
// sweeper settles it meanwhile, it is read again. Failing to write leaves a
// log line; a sweeper that holds the grant still reads the door itself.
func (s *Service) alertOpenedLate(ctx context.Context, grantID, actor string) {
	m := handoff.GrantMove{Step: "close_failed", Event: tracking.GarageCloseFailed, Note: "The garage door did not close",
		Detail: "The garage door opened after its access had ended and did not close", Actor: actor, Notify: true,
		Case: "Garage door opened too late and did not close (grant " + grantID + ")"}
	for range 3 {
		g, err := s.Store.FindGrant(ctx, grantID)
		if err != nil {
			s.Log.Error("garage alert not written", "grant_id", grantID, "err", err)
			return
		}
		e := grant.DoorStuck
		switch g.State {
		case handoff.GrantOpening:
		case handoff.GrantFailed:
			e = grant.OpenedLate
		default:
			return // close_failed: the sweeper alerted; nothing else is this call's
		}
		moved, _, err := s.move(ctx, g, e, m)
		if err != nil {
			s.Log.Error("garage alert not written", "grant_id", grantID, "err", err)
			return
		}
		if moved {
			return
		}
	}
	s.Log.Error("garage alert not written: the grant kept changing", "grant_id", grantID)
}

// errChanged is the answer when another driver moved a grant first.
func errChanged() error {
	return handoff.Refuse(handoff.ECONFLICT, grant.ReasonGrantNotOpen, "The grant changed meanwhile.")
}

// shut closes the door of a grant whose access ended (revoking, expiring)
// or whose step was interrupted, unless it already reads closed, and
// settles the grant.
func (s *Service) shut(ctx context.Context, g *handoff.GrantRecord, why string) error {
	dev, err := s.device(g.GarageID, g.Sealed)
	if err == nil {
		err = s.ensureClosed(ctx, dev)
	}
	actor := "system"
	if g.State == handoff.GrantClosing {
		actor = g.AssociateID // a close the associate asked for, finished after a crash
	}
	_, err = s.settle(ctx, g, err, actor, why)
	if handoff.ErrorCode(err) == handoff.EUNAVAILABLE {
		return nil // the door did not close: alerted
	}
	return err
}

// ensureClosed reads the door and, unless it reads closed, closes it and
// confirms it closed.
func (s *Service) ensureClosed(ctx context.Context, dev garage.Device) error {
	if st, err := dev.State(ctx); err == nil && st == garage.Closed {
		return nil
	}
	if err := dev.Close(ctx); err != nil {
		return err
	}
	return garage.Confirm(ctx, dev, garage.Closed, s.CloseWithin, s.PollInterval)
}

// SweepGarageGrants settles the grants that nobody else will: a pending one
// past its time expires; a door still open past the grant's time is closed
// by the server (its parcels are not delivered: nobody confirmed them); and
// a grant in flight past its step deadline — its node crashed or gave up
// while the door moved — has its door read and closed unless it reads
// closed. A door that will not close raises the alert and the case. It
// returns how many doors it dealt with. Safe on several nodes: each grant
// is taken by a conditional UPDATE or a lease.
func (s *Service) SweepGarageGrants(ctx context.Context) (int, error) {
	now := s.Now()
	if _, err := s.Store.MoveDueGrants(ctx, handoff.GrantPending, mustNext(handoff.GrantPending, grant.Expire), now, time.Time{}); err != nil {
		return 0, err
	}
	expired, err := s.Store.MoveDueGrants(ctx, handoff.GrantOpen, mustNext(handoff.GrantOpen, grant.Expire), now, s.stepUntil())
	if err != nil {
		return 0, err
	}
	stale, err := s.Store.ClaimStaleGrants(ctx, grant.InFlightStates(), now, s.stepUntil())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range append(expired, stale...) {
		why := "the access expired"
		switch g.State {
		case handoff.GrantOpening:
			why = "the opening was interrupted"
		case handoff.GrantClosing:
			why = "the closing was interrupted"
		case handoff.GrantRevoking:
			why = "the access was withdrawn"
		}
		if err := s.shut(ctx, &g, why); err != nil {
			s.Log.Error("garage sweep", "grant_id", g.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// move applies event e to a grant in its current state, with the step's
// records; false when another driver moved it first.
func (s *Service) move(ctx context.Context, g *handoff.GrantRecord, e grant.Event, m handoff.GrantMove) (bool, []string, error) {
	to, err := grant.Next(g.State, e)
	if err != nil {
		return false, nil, err
	}
	m.ID, m.From, m.To = g.ID, g.State, to
	if grant.InFlight(to) && m.StepUntil.IsZero() {
		m.StepUntil = s.stepUntil()
	}
	moved, delivered, err := s.Store.MoveGrant(ctx, m)
	if moved {
		g.State = to
	}
	return moved, delivered, err
}

// mustNext is a move the table is known to allow.
func mustNext(state string, e grant.Event) string {
	to, err := grant.Next(state, e)
	if err != nil {
		panic(err)
	}
	return to
}

// stepUntil is the deadline of a step starting now.
func (s *Service) stepUntil() time.Time { return s.Now().Add(s.StepBound()) }

// request is who asks, where and when, for the rules.
func (s *Service) request(da *handoff.Principal, mkt string, at *handoff.Position) grant.Request {
	m, ok := market.Lookup(mkt)
	if !ok {
		m, _ = market.Lookup("GB")
	}
	now := s.Now()
	loc := m.Location()
	local := now.In(loc)
	r := grant.Request{Today: route.Today(now, loc), Minute: local.Hour()*60 + local.Minute(), Window: s.Window, At: at, NearMeters: s.NearMeters}
	if da != nil {
		r.Associate, r.AssociateID = da.Kind == auth.KindAssociate, da.ID
	}
	return r
}
