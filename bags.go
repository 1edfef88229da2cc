package handoff

import (
	"context"
	"time"

	"github.com/handoff-dev/handoff/tracking"
)

// Bag states.
const (
	BagIssued    = "issued"
	BagSealed    = "sealed"
	BagDelivered = "delivered"
	BagRefused   = "refused"
	BagVoided    = "voided"
)

// MaxBatch bounds one batch of bags.
const MaxBatch = 1000

// Reasons a bag action is refused (Error.Reason).
const (
	ReasonBagNotNeeded = "bag_not_needed" // the shipper's bag rules do not apply to the parcel
	ReasonParcelBagged = "parcel_bagged"  // the parcel is sealed in a bag already
	ReasonBagNotIssued = "bag_not_issued" // the bag was never issued to this station
	ReasonBagVoided    = "bag_voided"     // the bag was voided
	ReasonBagUsed      = "bag_used"       // the bag was sealed before: a bag is single-use
)

// Bag is one tamper-evident bag of the inventory.
type Bag struct {
	ID         string     `json:"bagId"`
	Printed    string     `json:"printed"` // the ID as printed: TEB-XXXXX-XXXXX-C
	BatchID    string     `json:"batchId"`
	StationID  string     `json:"stationId,omitempty"`
	State      string     `json:"state"`
	TrackingID string     `json:"trackingId,omitempty"`
	SealedBy   string     `json:"sealedBy,omitempty"`
	SealedAt   *time.Time `json:"sealedAt,omitempty"`
	Note       string     `json:"note,omitempty"`
}

// BagBatch is a batch of bags issued together.
type BagBatch struct {
	ID        string    `json:"batchId"`
	StationID string    `json:"stationId,omitempty"`
	Bags      []Bag     `json:"bags"`
	CreatedAt time.Time `json:"createdAt"`
}

// LabelIDs returns the batch's bag IDs as barcodes carry them and as they
// are printed, in order, for its label sheets.
func (b *BagBatch) LabelIDs() (ids, printed []string) {
	for _, bg := range b.Bags {
		ids, printed = append(ids, bg.ID), append(printed, bg.Printed)
	}
	return ids, printed
}

// BagScan is one scan of a bag at a door.
type BagScan struct {
	StopID      string    `json:"stopId"`
	TrackingID  string    `json:"trackingId,omitempty"`
	AssociateID string    `json:"associateId"`
	Scanned     string    `json:"scanned"`
	Matched     bool      `json:"matched"`
	At          time.Time `json:"at"`
}

// Case kinds and statuses.
const (
	CaseTamper       = "tamper"        // the recipient refused a bag whose seal was broken
	CaseScanMismatch = "scan_mismatch" // a bag scanned at the door did not match
	CaseGarage       = "garage"        // a garage door did not close after a delivery
	CaseEnquiry      = "enquiry"       // opened by customer service about a parcel
	CaseOpen         = "open"
	CaseClosed       = "closed"
)

// Outcomes a customer-service agent may close a case with.
const (
	CaseReship          = "reship"            // the parcel goes out again
	CaseReturnToShipper = "return_to_shipper" // the parcel goes back to the shipper
	CaseRefund          = "refund"            // the shipper refunds; the parcel goes back
	CaseNoAction        = "no_action"
)

// CaseOutcomes lists the outcomes a case may be closed with.
var CaseOutcomes = []string{CaseReship, CaseReturnToShipper, CaseRefund, CaseNoAction}

// CaseSendsBack reports whether a case closed with outcome sends its
// parcel back to the shipper.
func CaseSendsBack(outcome string) bool {
	return outcome == CaseReturnToShipper || outcome == CaseRefund
}

// CarrierRef is one route that carried a parcel.
type CarrierRef struct {
	RouteID       string `json:"routeId"`
	ServiceDate   string `json:"serviceDate"`
	AssociateID   string `json:"associateId"`
	AssociateName string `json:"associateName"`
	Outcome       string `json:"outcome,omitempty"`
}

// Case is a customer-service case with the parcel's whole history.
type Case struct {
	ID         string     `json:"caseId"`
	Kind       string     `json:"kind"`
	TrackingID string     `json:"trackingId"`
	Status     string     `json:"status"`
	Summary    string     `json:"summary"`
	Outcome    string     `json:"outcome,omitempty"`
	Note       string     `json:"note,omitempty"`
	OpenedBy   string     `json:"openedBy"`
	OpenedAt   time.Time  `json:"openedAt"`
	ClosedBy   string     `json:"closedBy,omitempty"`
	ClosedAt   *time.Time `json:"closedAt,omitempty"`
	// Notes are customer service's notes while the case was open, oldest
	// first; filled by FindCase.
	Notes []CaseNote `json:"notes,omitempty"`

	// The history, filled by FindCase.
	Events   []tracking.Event `json:"-"`
	Bags     []Bag            `json:"bags,omitempty"`
	Scans    []BagScan        `json:"scans,omitempty"`
	Carriers []CarrierRef     `json:"carriers,omitempty"`
}

// BagService is the bag inventory: batches, sealing at the station, voiding.
type BagService interface {
	// IssueBatch issues n new bags to a station (by the station itself, or
	// by the operator when by is nil).
	IssueBatch(ctx context.Context, by *Principal, stationID string, n int) (*BagBatch, error)
	// FindBatch returns a batch with its bags; a station sees only its own.
	FindBatch(ctx context.Context, by *Principal, batchID string) (*BagBatch, error)
	// SealParcel records a parcel sealed into a bag. It fails unless the
	// parcel needs a bag, has none, is at this station, and the bag is
	// issued to this station and unused.
	SealParcel(ctx context.Context, station *Principal, trackingID, bagID string) (*Bag, error)
	// VoidBag takes a damaged bag out of use; a sealed parcel in it must be
	// re-bagged.
	VoidBag(ctx context.Context, station *Principal, bagID, reason string) (*Bag, error)
	// ListBags returns the station's bags in a state ("" for all).
	ListBags(ctx context.Context, station *Principal, state string) ([]Bag, error)
	// FindBag returns one bag the station may see by its ID as scanned or
	// typed: its own, or one issued to no station yet. EINVALID for an ID
	// that is not one, ENOTFOUND for any other bag.
	FindBag(ctx context.Context, station *Principal, bagID string) (*Bag, error)
	// ParcelBag returns the bag one of the station's parcels is sealed in
	// now, or ENOTFOUND.
	ParcelBag(ctx context.Context, station *Principal, trackingID string) (*Bag, error)
}

// CaseService is customer service's queue.
type CaseService interface {
	// ListCases returns cases of a status ("" for all), oldest open first.
	ListCases(ctx context.Context, agent *Principal, status string) ([]Case, error)
	// FindCase returns a case with the parcel's whole history.
	FindCase(ctx context.Context, agent *Principal, caseID string) (*Case, error)
	// CloseCase closes an open case with an outcome.
	CloseCase(ctx context.Context, agent *Principal, caseID, outcome, note string) (*Case, error)
	// OpenCase opens an enquiry about a parcel with a summary of what the
	// caller said. EINVALID (field "summary") without one, ENOTFOUND for an
	// unknown parcel, ECONFLICT while an enquiry about it is open.
	OpenCase(ctx context.Context, agent *Principal, trackingID, summary string) (*Case, error)
	// AddCaseNote adds a note to an open case and returns the case.
	// EINVALID (field "note") for an empty one, ENOTFOUND for an unknown
	// case, ECONFLICT for a closed one.
	AddCaseNote(ctx context.Context, agent *Principal, caseID, note string) (*Case, error)
}

// CaseNote is one note customer service added to a case.
type CaseNote struct {
	AuthorID   string    `json:"authorId"`
	AuthorName string    `json:"authorName"`
	Body       string    `json:"body"`
	At         time.Time `json:"at"`
}
