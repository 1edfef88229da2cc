package handoff

import (
	"context"
	"time"

	"github.com/handoff-dev/handoff/tracking"
)

// Reasons a delivery is completed without a photo (SPEC §3).
const (
	NoPhotoConfidential = "ConfidentialAddress"
	NoPhotoGiftRegistry = "GiftRegistry"
	NoPhotoOptedOut     = "RecipientOptedOut"
)

// UnattendedPlaces are the delivery places where nobody takes the parcel: a
// delivery there is completed with a photo unless a privacy rule applies.
var UnattendedPlaces = []string{"DeliveredToPorch", "DeliveredToDoorStep", "DeliveredToMailRoom"}

// PhotoInfo is what is known of a parcel's proof-of-delivery photo.
type PhotoInfo struct {
	ID        string     `json:"photoId,omitempty"`
	TakenAt   *time.Time `json:"takenAt,omitempty"`
	TakenBy   string     `json:"takenBy,omitempty"`
	Width     int        `json:"width,omitzero"`
	Height    int        `json:"height,omitzero"`
	RemovedAt *time.Time `json:"removedAt,omitempty"` // deleted after the retention period
	// SkippedReason says why there is none, when a privacy rule applied.
	SkippedReason string `json:"skippedReason,omitempty"`
}

// PhotoView is one logged view of a photo.
type PhotoView struct {
	ViewerID   string    `json:"viewerId"`
	ViewerKind string    `json:"viewerKind"`
	ViewerName string    `json:"viewerName"`
	At         time.Time `json:"at"`
	Image      string    `json:"image"` // what was seen: "delivery" (the photo) or "signature"
}

// DoorCheckInfo is what is known of the checks at the door when a parcel
// was handed over or refused (SPEC §7): the signature and the age check.
// Never the ID document's number or the date of birth.
type DoorCheckInfo struct {
	SignatureKind      string     `json:"signatureKind,omitempty"` // DRAWN, TYPED, "" when none was taken
	SignerName         string     `json:"signerName,omitempty"`
	Relationship       string     `json:"relationship,omitempty"`
	SignatureSHA256    string     `json:"signatureSha256,omitempty"`
	SignatureRemovedAt *time.Time `json:"signatureRemovedAt,omitempty"` // the drawn image, deleted after the retention period
	DocumentType       string     `json:"documentType,omitempty"`       // "" when no age was checked
	MinimumAge         int        `json:"minimumAge,omitzero"`
	AgeVerified        bool       `json:"ageVerified"`
	At                 time.Time  `json:"at"`
}

// AgentParcel is customer service's view of a parcel.
type AgentParcel struct {
	TrackingID string           `json:"trackingId"`
	ShipmentID string           `json:"shipmentId"`
	ShipperID  string           `json:"shipperId"`
	Recipient  string           `json:"recipient"`
	City       string           `json:"city"`
	Status     string           `json:"status"`
	StatusText string           `json:"statusText"`
	Events     []tracking.Event `json:"-"`
	Photo      *PhotoInfo       `json:"photo,omitempty"`
	DoorCheck  *DoorCheckInfo   `json:"doorCheck,omitempty"`
	PhotoViews []PhotoView      `json:"photoViews"`
	Cases      []Case           `json:"cases"`
	// Contacts are the recipient's contacts, masked; the full ones come
	// only from ContactService.RevealContacts, which logs the look.
	Contacts RecipientContacts `json:"contacts"`
	// ContactViews are the staff who revealed the contacts, oldest first.
	ContactViews []ContactView `json:"contactViews"`
}

// PhotoService shows photos to the people allowed to see them, logging every
// view by anyone but the recipient, and deletes them when they expire.
type PhotoService interface {
	// ParcelPhoto returns the photo (or its thumbnail) of a parcel to its
	// shipper or to customer service, and logs the view. ENOTFOUND when the
	// viewer may not see the parcel or there is no photo; EGONE once removed.
	ParcelPhoto(ctx context.Context, viewer *Principal, trackingID string, thumb bool) ([]byte, error)
	// RecipientPhoto returns the photo of one of the contact's parcels.
	RecipientPhoto(ctx context.Context, contact, trackingID string, thumb bool) ([]byte, error)
	// ParcelSignature returns the drawn signature of a parcel to its shipper
	// or customer service, logging the view, as ParcelPhoto does.
	ParcelSignature(ctx context.Context, viewer *Principal, trackingID string) ([]byte, error)
	// RecipientSignature returns the drawn signature of one of the contact's
	// parcels.
	RecipientSignature(ctx context.Context, contact, trackingID string) ([]byte, error)
	// DoorCheck describes a parcel's checks at the door, or returns nil when
	// none was made. Callers check the viewer may see the parcel.
	DoorCheck(ctx context.Context, trackingID string) (*DoorCheckInfo, error)
	// PhotoInfo describes a parcel's photo, or returns nil when it has none
	// and none was skipped. Callers check the viewer may see the parcel.
	PhotoInfo(ctx context.Context, trackingID string) (*PhotoInfo, error)
	// AgentParcel returns customer service's view of a parcel.
	AgentParcel(ctx context.Context, agent *Principal, trackingID string) (*AgentParcel, error)
	// PurgeExpiredPhotos deletes up to limit photos past their retention and
	// returns how many; safe to run on several nodes at once.
	PurgeExpiredPhotos(ctx context.Context, limit int) (int, error)
}
