// Package door is the delivery associate's use-case service: what may happen
// at a recipient's door. It asks the domain's pure rules (the passcode's
// scope, the photo rule, the policy), calls a few atomic operations of a
// store it declares here (Store; package sqlstore implements it), and then
// the adapters it is given (the photo store and image cleaning). It never
// talks SQL.
//
// Where a delivery is verified: verify.go. Where parcels are delivered,
// attempted, scanned and refused: deliver.go.
package door

import (
	"context"
	"log/slog"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/passcode"
)

// Stop is what the door's rules need to know of a stop and its route.
type Stop struct {
	ID, RouteID string
	Mobile      string // the recipient's, for the phone-digits fallback
	OTPState    string // handoff.OTP*
	AssociateID string
	Date        string // the route's service date
	Market      string
	RouteStatus string // handoff.Route*
	// GarageCloseFailed: a garage door at the stop was reported not to
	// have closed.
	GarageCloseFailed bool
}

// Parcel is a parcel of a stop still open on its route.
type Parcel struct {
	TrackingID string
	OTP        bool              // it needs the passcode
	CodeSet    string            // the contact set whose code opens it (package passcode)
	CodeOK     bool              // its code was entered; it waits to be handed over with its check
	BagID      string            // its sealed bag, "" when it has none
	BagScanned bool              // the bag was scanned at this stop and matched
	Privacy    string            // why it may not be photographed (handoff.NoPhoto*), ""
	Check      handoff.DoorCheck // the signature and age check its label asks for
	// KeyID is the key its code set's code of the stop's day is derived
	// with, "" when it is not fixed yet (the store fixes it for Guess).
	KeyID string
}

// Guess asks the store to count one entry at a stop and settle it, in one
// transaction: read the stop and its open parcels, have the door decide the
// entry (Decide), claim one of the associate's wrong-code budget and one of
// the stop's evaluations, record the check, then deliver the open passcode
// parcels of the matched sets or count a wrong entry, ending the attempt at
// the third.
type Guess struct {
	StopID, AssociateID string
	Method              string // MethodCode or MethodDigits
	// Decide is the door's rules on the entry, given the stop and its open
	// parcels as the transaction reads them, each open passcode parcel with
	// the key of its code (KeyID, fixed by then). An error refuses the
	// entry: nothing is written and Guess returns it. Decide must not call
	// the store.
	Decide       func(st *Stop, open []Parcel) (*Verdict, error)
	BudgetLimit  int // wrong entries per associate per window
	BudgetWindow time.Duration
	Detail, Note string // of the Delivered event when right
	At           time.Time
}

// Verdict is the door's decision on an entry (Guess.Decide).
type Verdict struct {
	Matched     map[string]bool // contact sets whose code the entry is; empty when wrong
	NextAttempt string          // the next working day, for the failed message
}

// GuessResult is the store's answer to a Guess.
type GuessResult struct {
	// Refused says why the guess was not evaluated, "" when it was:
	// handoff.ReasonAssociateLocked, ReasonTooManyWrong, or
	// ReasonNoAttemptsLeft (then State says whether the stop still waits).
	Refused      string
	State        string // the stop's OTP state, when not evaluated
	Correct      bool
	Delivered    []string
	AttemptsLeft int
	Ended        bool // this entry ended the attempt
	LockedNow    bool // this entry locked the associate's checks
	// Stop is the stop as the associate sees it after the entry, when the
	// store read it in the same transaction; nil when not.
	Stop *handoff.Stop
}

// Methods of code checks, as recorded.
const (
	MethodCode   = "code"
	MethodDigits = "phone_digits"
)

// RouteHead is what the door's rules read of a route before loading it.
type RouteHead struct {
	AssociateID string
	Date        string // service date
	Market      string
	Status      string // handoff.RoutePlanned, …
}

// Delivery asks the store to deliver parcels at a place in one transaction.
type Delivery struct {
	Stop        *Stop
	AssociateID string
	Place       string
	At          time.Time
	Detail      string // of the Delivered events: the place, or DeliveredWithSignature
	Parcels     []Delivered
	Photo       *StoredPhoto // nil when none was taken
	Signature   *SignatureTaken
	AgeCheck    *AgeCheck // nil when no age was checked
}

// SignatureTaken is the signature a delivery was handed over against.
type SignatureTaken struct {
	Kind, SignerName, Relationship string
	Image                          *StoredPhoto // the drawn signature; nil for a typed one
}

// AgeCheck is what is kept of an age check: the type of the ID document and
// the age checked, never the document's number or the date of birth.
type AgeCheck struct {
	DocumentType string
	MinimumAge   int
}

// Delivered is one parcel of a Delivery.
type Delivered struct {
	TrackingID string
	Note       string
	// NoPhotoReason is recorded when it was left unattended without the
	// photo a privacy rule forbade.
	NoPhotoReason string
}

// StoredPhoto is a cleaned photo already in the photo store.
type StoredPhoto struct {
	Blob, Thumb   string
	Width, Height int
	ExpiresAt     time.Time
	SHA256        string // hex, of the stored JPEG: the proof of delivery names it
}

// Attempt asks the store to record a failed attempt for the stop's open
// parcels.
type Attempt struct {
	Stop        *Stop
	AssociateID string
	Reason      string // handoff.AttemptReasons
	Note        string
	NextAttempt string
	At          time.Time
}

// Scan asks the store to record a bag scanned at a stop; a bag that matches
// no open parcel there opens a case, with CaseSummary, on each bagged one.
type Scan struct {
	Stop        *Stop
	AssociateID string
	BagID       string
	CaseSummary string
	At          time.Time
}

// Refusal asks the store to record parcels refused at the door: bagged
// parcels whose seal is broken, or parcels whose recipient's ID did not show
// the minimum age (AgeCheck set).
type Refusal struct {
	Stop        *Stop
	AssociateID string
	Parcels     []Refused
	AgeCheck    *AgeCheck // the age check that failed; nil for a broken seal
	At          time.Time
}

// Refused is one parcel of a Refusal; CaseSummary opens a tamper case when
// not "".
type Refused struct {
	TrackingID, Note, CaseSummary string
}

// Store is what the door needs of storage. Reads return handoff errors
// (ENOTFOUND for a missing stop or route); the writes are atomic: each
// either happens whole, conditionally on the state it expects, or not at all.
type Store interface {
	// DoorStop returns a stop's facts, or ENOTFOUND.
	DoorStop(ctx context.Context, stopID string) (*Stop, error)
	// StopView returns a stop as the associate sees it.
	StopView(ctx context.Context, routeID, stopID string) (*handoff.Stop, error)
	// OpenParcels returns the parcels of a stop still open on its route.
	OpenParcels(ctx context.Context, stopID string) ([]Parcel, error)
	// AssociateRoutes returns an associate's routes of the given dates.
	AssociateRoutes(ctx context.Context, associateID string, dates ...string) ([]*handoff.Route, error)

	// LoadVan loads a route in one transaction: it reads the route
	// (ENOTFOUND when there is none) and asks check whether the associate
	// may load it (an error from check is returned and nothing written);
	// then it puts the route's open parcels out for delivery, queues the
	// day's messages and returns the route as the transaction leaves it.
	// It loads nothing and returns the unsealed parcels when one that
	// needs a bag has none. check must not call the store.
	LoadVan(ctx context.Context, routeID, associateID string, at time.Time, check func(RouteHead) error) (view *handoff.Route, unsealed []string, err error)
	// Guess counts and settles one entry at a stop, as g.Decide decides
	// it on what the transaction reads.
	Guess(ctx context.Context, g Guess) (*GuessResult, error)
	// ClaimResend counts one re-send of a pending stop's code, up to limit,
	// and queues it to the contacts of the stop's open passcode parcels;
	// false when the limit is reached or the stop is not pending.
	ClaimResend(ctx context.Context, stop *Stop, limit int) (bool, error)
	// Deliver reads the associate's stop (ENOTFOUND when it is not theirs)
	// and its open parcels in one transaction, asks decide what the
	// delivery is, and settles its parcels as delivered, with the photo if
	// any; it returns the stop as the associate sees it after that, read
	// in the same transaction. An error from decide writes nothing and is
	// returned. decide must not call the store.
	Deliver(ctx context.Context, stopID, associateID string, decide func(st *Stop, open []Parcel) (*Delivery, error)) (*handoff.Stop, error)
	// FailAttempt ends the stop's passcode attempt and records the failed
	// attempt for its open parcels; it returns those it settled.
	FailAttempt(ctx context.Context, a Attempt) ([]string, error)
	// RecordBagScan records the scan and returns the parcel it matched, ""
	// when none.
	RecordBagScan(ctx context.Context, s Scan) (string, error)
	// RecordRefusal settles the refused parcels (with the failed age check,
	// if any), opens their tamper cases and returns those it settled.
	RecordRefusal(ctx context.Context, r Refusal) ([]string, error)
}

// Cleaner validates an uploaded image and returns it without its metadata,
// upright (the images adapter, package photo); its thumbnail is made when
// first asked for (deliveryphoto). A refusal may say TooLarge() or Busy()
// (see photoRefused).
type Cleaner interface {
	CleanImage(ctx context.Context, data []byte) (jpeg []byte, width, height int, err error)
}

// Blobs keeps image bytes under keys (the photo store).
type Blobs interface {
	Put(ctx context.Context, key string, data []byte) error
	Delete(ctx context.Context, key string) error
}

// Service implements handoff.DoorService.
type Service struct {
	Store   Store
	Keys    passcode.Subkeys
	Photos  Blobs   // nil when photo storage is not configured
	Cleaner Cleaner // the images adapter: photo.Limits
	// Policy is the server's delivery policy, shared with the other
	// services.
	Policy *handoff.Policy
	Now    func() time.Time
	Today  func(market string) string // the service date now in a marketplace
	Log    *slog.Logger
	// OnCodeCheck, when set, counts each evaluated entry (for metrics).
	OnCodeCheck func(method string, correct bool)
}

// New returns the door service over store, with the keys codes are derived
// with, the photo store and limits, and the shared policy and clock.
func New(store Store, keys passcode.Subkeys, photos Blobs, cleaner Cleaner, policy *handoff.Policy,
	now func() time.Time, today func(string) string, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{Store: store, Keys: keys, Photos: photos, Cleaner: cleaner, Policy: policy, Now: now, Today: today, Log: log}
}

var _ handoff.DoorService = (*Service)(nil)

// associateStop returns a stop of the associate's route of today, or
// ENOTFOUND for anything else, so that stop IDs cannot be probed.
func (s *Service) associateStop(ctx context.Context, da *handoff.Principal, stopID string) (*Stop, error) {
	if err := requireAssociate(da); err != nil {
		return nil, err
	}
	st, err := s.Store.DoorStop(ctx, stopID)
	if err != nil {
		return nil, err
	}
	if err := s.ownStop(da, st); err != nil {
		return nil, err
	}
	return st, nil
}

// ownStop refuses, as ENOTFOUND, a stop that is not on the associate's
// route of today.
func (s *Service) ownStop(da *handoff.Principal, st *Stop) error {
	if st.AssociateID != da.ID || st.Date != s.Today(st.Market) {
		return handoff.NotFound("Stop")
	}
	return nil
}

// outStop returns a stop of the associate's route of today whose van is
// loaded: parcels can only be delivered from a loaded van.
func (s *Service) outStop(ctx context.Context, da *handoff.Principal, stopID string) (*Stop, error) {
	st, err := s.associateStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	if err := loaded(st); err != nil {
		return nil, err
	}
	return st, nil
}

// loaded refuses a stop whose route's van is not loaded yet.
func loaded(st *Stop) error {
	if st.RouteStatus != handoff.RouteLoaded {
		return handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonRouteNotLoaded, "Load the route first: its parcels are not out for delivery yet.")
	}
	return nil
}

// openAt returns a stop of the associate's loaded route of today with its
// open parcels.
func (s *Service) openAt(ctx context.Context, da *handoff.Principal, stopID string) (*Stop, []Parcel, error) {
	st, err := s.outStop(ctx, da, stopID)
	if err != nil {
		return nil, nil, err
	}
	open, err := s.Store.OpenParcels(ctx, st.ID)
	if err != nil {
		return nil, nil, err
	}
	return st, open, nil
}

func requireAssociate(p *handoff.Principal) error {
	if p == nil || p.Kind != auth.KindAssociate {
		return handoff.Errorf(handoff.EFORBIDDEN, "This action is for %s accounts.", auth.KindAssociate)
	}
	return nil
}

// garageSettled refuses to finish a stop as a normal delivery while its
// garage door is reported not to have closed.
func garageSettled(st *Stop) error {
	if st.GarageCloseFailed {
		return handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonDoorNotClosed, "The garage door at this stop did not close: the stop cannot be finished as a normal delivery until customer service resolves it.")
	}
	return nil
}

// Itinerary implements handoff.DoorService.
func (s *Service) Itinerary(ctx context.Context, da *handoff.Principal) ([]*handoff.Route, error) {
	if err := requireAssociate(da); err != nil {
		return nil, err
	}
	// Today differs by marketplace; ask for the dates around UTC's today and
	// keep the routes whose date is today where they are.
	now := s.Now()
	routes, err := s.Store.AssociateRoutes(ctx, da.ID, now.AddDate(0, 0, -1).Format("2006-01-02"), now.Format("2006-01-02"), now.AddDate(0, 0, 1).Format("2006-01-02"))
	if err != nil {
		return nil, err
	}
	out := []*handoff.Route{}
	for _, r := range routes {
		if r.ServiceDate == s.Today(r.Marketplace) {
			out = append(out, r)
		}
	}
	return out, nil
}

// FindStop implements handoff.DoorService.
func (s *Service) FindStop(ctx context.Context, da *handoff.Principal, stopID string) (*handoff.Stop, error) {
	st, err := s.associateStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	return s.Store.StopView(ctx, st.RouteID, st.ID)
}

// LoadRoute implements handoff.DoorService: the associate loads the van and
// every parcel goes out for delivery; the day's code goes to the contacts of
// each passcode parcel's label. A parcel that needs a bag never goes out
// unsealed.
func (s *Service) LoadRoute(ctx context.Context, da *handoff.Principal, routeID string) (*handoff.Route, error) {
	if err := requireAssociate(da); err != nil {
		return nil, err
	}
	// The route is checked, loaded and read back in one transaction.
	r, unsealed, err := s.Store.LoadVan(ctx, routeID, da.ID, s.Now(), func(r RouteHead) error {
		if r.AssociateID != da.ID || r.Date != s.Today(r.Market) {
			return handoff.NotFound("Route")
		}
		if r.Status != handoff.RoutePlanned {
			return handoff.Refuse(handoff.ECONFLICT, handoff.ReasonRouteLoaded, "The route is already loaded.")
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case len(unsealed) > 0:
		return nil, handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonUnsealed, "These parcels need a tamper-evident bag and are not sealed yet: %s. Seal them at the station first.", joinIDs(unsealed))
	}
	return r, nil
}
