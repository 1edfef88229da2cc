-- Principals: shippers, stations, delivery associates, customer-service agents.
-- Secrets are stored only as a SHA-256 digest (API keys) or argon2id (passwords).
CREATE TABLE principals (
    id             TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    station_id     TEXT REFERENCES principals (id),
    market         TEXT NOT NULL DEFAULT '',
    api_key_digest TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Web sessions; the cookie holds the token, the table its digest.
CREATE TABLE sessions (
    digest       TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- A shipper's settings as JSON, with a version for optimistic updates.
CREATE TABLE shipper_settings (
    shipper_id TEXT PRIMARY KEY REFERENCES principals (id),
    body       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE shipments (
    id                   TEXT PRIMARY KEY,
    shipper_id           TEXT NOT NULL REFERENCES principals (id),
    marketplace          TEXT NOT NULL,
    payment_type         TEXT NOT NULL,
    ship_to              TEXT NOT NULL,
    ship_from            TEXT NOT NULL,
    recipient_mobile     TEXT NOT NULL DEFAULT '',
    mobile_state         INTEGER NOT NULL,
    recipient_email      TEXT NOT NULL DEFAULT '',
    buyer                TEXT NOT NULL DEFAULT '',
    buyer_mobile         TEXT NOT NULL DEFAULT '',
    confidential_address BOOLEAN NOT NULL,
    gift_registry        BOOLEAN NOT NULL,
    warnings             TEXT NOT NULL DEFAULT '[]',
    created_at           BIGINT NOT NULL
);
CREATE INDEX shipments_shipper ON shipments (shipper_id, created_at);

CREATE TABLE packages (
    tracking_id   TEXT PRIMARY KEY,
    shipment_id   TEXT NOT NULL REFERENCES shipments (id),
    shipper_id    TEXT NOT NULL REFERENCES principals (id),
    position      INTEGER NOT NULL,
    client_ref    TEXT NOT NULL DEFAULT '',
    insured_minor BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    contents      TEXT NOT NULL,
    otp_required  BOOLEAN NOT NULL,
    otp_reasons   TEXT NOT NULL,
    bag_required  BOOLEAN NOT NULL,
    bag_reasons   TEXT NOT NULL,
    status        TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '',
    last_seq      INTEGER NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX packages_shipper ON packages (shipper_id, created_at);
CREATE INDEX packages_shipment ON packages (shipment_id, position);

-- Tracking events: append-only. seq comes from packages.last_seq, bumped by a
-- conditional UPDATE in the same transaction, so events of one parcel are
-- totally ordered on every engine.
CREATE TABLE events (
    tracking_id     TEXT NOT NULL REFERENCES packages (tracking_id),
    seq             INTEGER NOT NULL,
    code            TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    at              BIGINT NOT NULL,
    city            TEXT NOT NULL DEFAULT '',
    state_or_region TEXT NOT NULL DEFAULT '',
    postal_code     TEXT NOT NULL DEFAULT '',
    country_code    TEXT NOT NULL DEFAULT '',
    actor           TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tracking_id, seq)
);

-- Idempotency keys of shipment creation, one per shipper and key.
CREATE TABLE idempotency_keys (
    shipper_id     TEXT NOT NULL REFERENCES principals (id),
    idem_key       TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    shipment_id    TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (shipper_id, idem_key)
);
