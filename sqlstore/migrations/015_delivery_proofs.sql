-- Signed proofs of delivery: one per delivered parcel, written in the
-- delivery's own transaction. token is the compact JWS the shipper gets;
-- key_id names the keyring key its Ed25519 key was derived from.
CREATE TABLE delivery_proofs (
    id          TEXT PRIMARY KEY,
    tracking_id TEXT NOT NULL REFERENCES packages (tracking_id),
    shipment_id TEXT NOT NULL,
    shipper_id  TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    token       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX delivery_proofs_shipment ON delivery_proofs (shipment_id, tracking_id);
CREATE INDEX delivery_proofs_tracking ON delivery_proofs (tracking_id);

-- The public halves of the proof signing keys, kept when a node's keyring
-- no longer has the key, so proofs signed long ago still verify against
-- /.well-known/jwks.json.
CREATE TABLE proof_keys (
    key_id     TEXT PRIMARY KEY,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The SHA-256 of the stored JPEG, which the proof of delivery names.
ALTER TABLE photos ADD COLUMN sha256 TEXT NOT NULL DEFAULT '';
