-- The checks a label asks for at the door (SPEC §7), fixed when the label is
-- made: the signature required ('', ANY, ADULT), the minimum age (0: none),
-- and whether the shipper refused the typed-name fallback then.
ALTER TABLE shipments ADD COLUMN signature_required TEXT NOT NULL DEFAULT '';
ALTER TABLE shipments ADD COLUMN minimum_age INTEGER NOT NULL DEFAULT 0;
ALTER TABLE shipments ADD COLUMN typed_signature_refused BOOLEAN NOT NULL DEFAULT FALSE;

-- A drawn signature is an image stored like a delivery photo (blob store,
-- retention, staff views logged); kind tells them apart.
ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'delivery';

-- What was checked at the door when a parcel was handed over or refused for
-- its age: the signature (its kind, the signer's printed name and
-- relationship, the SHA-256 of its stored image) and the age check (the ID
-- document's type, the age checked and whether it was reached). Never the
-- document's number or the date of birth.
CREATE TABLE door_checks (
    id               TEXT PRIMARY KEY,
    tracking_id      TEXT NOT NULL REFERENCES packages (tracking_id),
    signature_kind   TEXT NOT NULL,
    signer_name      TEXT NOT NULL,
    relationship     TEXT NOT NULL,
    signature_photo  TEXT NOT NULL,
    signature_sha256 TEXT NOT NULL,
    document_type    TEXT NOT NULL,
    minimum_age      INTEGER NOT NULL,
    age_verified     BOOLEAN NOT NULL,
    checked_by       TEXT NOT NULL,
    checked_at       BIGINT NOT NULL
);
CREATE INDEX door_checks_tracking ON door_checks (tracking_id, checked_at);
