package handoff

import (
	"context"
	"time"
)

// DeliveryProof is the signed proof of one parcel's delivery (SPEC §7):
// the compact JWS of its record (package proof) and the key that signed it.
type DeliveryProof struct {
	TrackingID string
	KeyID      string
	Token      string
	IssuedAt   time.Time
}

// ProofKey is the public half of a key that signs proofs of delivery.
type ProofKey struct {
	KeyID     string
	PublicKey []byte // Ed25519
}

// ProofService hands out proofs of delivery and the keys to verify them.
type ProofService interface {
	// ShipmentProofs returns the proofs of a shipment's delivered parcels,
	// in tracking-ID order; ENOTFOUND when the shipment is not the
	// shipper's.
	ShipmentProofs(ctx context.Context, shipperID, shipmentID string) ([]DeliveryProof, error)
	// ProofKeys returns every public key that ever signed a proof, or may
	// sign one, in key-ID order.
	ProofKeys(ctx context.Context) ([]ProofKey, error)
}
