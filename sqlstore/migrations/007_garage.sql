-- The delivery address in a comparable form: lower-case, single spaces,
-- "line1|postal code".
ALTER TABLE shipments ADD COLUMN address_key TEXT NOT NULL DEFAULT '';

-- Garage openers recipients enrol. The connection details, credentials
-- included, are sealed with the keyring and never shown again.
CREATE TABLE garages (
    id            TEXT PRIMARY KEY,
    contact       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    label         TEXT NOT NULL,
    address_line1 TEXT NOT NULL,
    postal_code   TEXT NOT NULL,
    address_key   TEXT NOT NULL,
    sealed_config TEXT NOT NULL,
    lat_e6        BIGINT NOT NULL DEFAULT 0,
    lon_e6        BIGINT NOT NULL DEFAULT 0,
    has_position  BOOLEAN NOT NULL DEFAULT FALSE,
    key_delivery  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    removed_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX garages_contact ON garages (contact, address_key);

-- Key delivery chosen for one parcel rather than for everything.
CREATE TABLE garage_parcels (
    tracking_id TEXT PRIMARY KEY REFERENCES packages (tracking_id),
    garage_id   TEXT NOT NULL REFERENCES garages (id),
    created_at  BIGINT NOT NULL
);

-- One-time access: pending -> opening -> open -> closing -> closed, or
-- failed, close_failed, revoked, refused; every move a conditional UPDATE.
CREATE TABLE garage_grants (
    id           TEXT PRIMARY KEY,
    garage_id    TEXT NOT NULL REFERENCES garages (id),
    associate_id TEXT NOT NULL REFERENCES principals (id),
    stop_id      TEXT NOT NULL REFERENCES stops (id),
    tracking_ids TEXT NOT NULL,
    state        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    opened_at    BIGINT NOT NULL DEFAULT 0,
    closed_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX garage_grants_garage ON garage_grants (garage_id, state);
CREATE INDEX garage_grants_stop ON garage_grants (stop_id);

-- Every step, for the recipient's log.
CREATE TABLE garage_events (
    id        TEXT PRIMARY KEY,
    garage_id TEXT NOT NULL REFERENCES garages (id),
    grant_id  TEXT NOT NULL DEFAULT '',
    step      TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '',
    at        BIGINT NOT NULL
);
CREATE INDEX garage_events_garage ON garage_events (garage_id, at);
-- One live grant per stop at a time: a second open request is refused by
-- the database, however requests race.
CREATE UNIQUE INDEX garage_grants_live ON garage_grants (stop_id) WHERE state IN ('pending', 'opening', 'open', 'closing');
