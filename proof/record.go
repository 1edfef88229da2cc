// Package proof turns a delivery into evidence a shipper can verify on its
// own: a proof-of-delivery record (the facts of one parcel's delivery, never
// the recipient's contact data), signed by the server with Ed25519 as a
// compact JWS (alg EdDSA, with the key ID), the public keys as a JWK Set, and
// a one-page PDF of the same facts with a QR code of the signed record.
//
// The signing keys are not stored anywhere: each is derived from a key of the
// server's keyring (package keyring), so it rotates with the other keys and
// has the same key ID. The package has no I/O.
package proof

import "github.com/handoff-dev/handoff/tracking"

// Issuer is the iss claim of every record.
const Issuer = "handoff"

// Record is the signed facts of one parcel's delivery. The JSON names are
// the record's format: shippers and auditors read them.
type Record struct {
	Issuer   string `json:"iss"`
	ID       string `json:"jti"` // the proof's own ID
	IssuedAt int64  `json:"iat"` // seconds since 1970, UTC
	Subject  string `json:"sub"` // the tracking ID, as JWT libraries expect

	TrackingID string `json:"trackingId"`
	ShipperID  string `json:"shipperId"`
	// Recipient refers to the label addressed to the recipient, never to
	// the recipient's name, phone or email.
	Recipient   Recipient         `json:"recipient"`
	DeliveredAt string            `json:"deliveredAt"` // RFC 3339, UTC
	Method      string            `json:"method"`      // the Delivered event's detail code
	Location    tracking.Location `json:"location"`
	Bag         *Bag              `json:"bag,omitempty"`
	Garage      *Garage           `json:"garage,omitempty"`
	Photo       *Photo            `json:"photo,omitempty"`
	Signature   *Signature        `json:"signature,omitempty"`
	AgeCheck    *AgeCheck         `json:"ageCheck,omitempty"`
	AssociateID string            `json:"associateId"`
	RouteID     string            `json:"routeId"`
}

// Recipient is the reference of the recipient: the shipment that named them
// and the shipper's own reference of the parcel.
type Recipient struct {
	ShipmentID string `json:"shipmentId"`
	Reference  string `json:"packageClientReferenceId,omitempty"`
}

// Bag is the tamper-evident bag of the parcel: its ID, and whether it was
// scanned at the door and matched the parcel before delivery.
type Bag struct {
	BagID             string `json:"bagId"`
	ScannedAndMatched bool   `json:"scannedAndMatched"`
	ScannedAt         string `json:"scannedAt,omitempty"`
}

// Garage is the one-time garage access of an in-garage delivery.
type Garage struct {
	GrantID  string `json:"grantId"`
	OpenedAt string `json:"openedAt"`
	ClosedAt string `json:"closedAt"`
}

// Photo is the delivery photo: the SHA-256 of the JPEG the shipper can
// download, so the bytes can be matched to the record.
type Photo struct {
	SHA256  string `json:"sha256"`
	TakenAt string `json:"takenAt"`
}

// Signature is the signature the parcel was handed over against: drawn on
// the associate's screen (with the SHA-256 of the stored JPEG) or, the
// weaker fallback, the signer's name typed (no image).
type Signature struct {
	Kind         string `json:"kind"` // DRAWN or TYPED
	SHA256       string `json:"sha256,omitempty"`
	SignerName   string `json:"signerName"`
	Relationship string `json:"relationship"` // RECIPIENT, HOUSEHOLD_MEMBER, NEIGHBOUR or OTHER
	SignedAt     string `json:"signedAt"`
}

// AgeCheck is the age check before the hand-over: the type of ID document
// seen and the minimum age it showed. The document's number and the date of
// birth are never kept.
type AgeCheck struct {
	DocumentType string `json:"documentType"`
	MinimumAge   int    `json:"minimumAge"`
	Verified     bool   `json:"verified"`
}
