-- Tamper-evident bags: issued in batches, each single use. A bag moves
-- issued -> sealed -> delivered | refused, or to voided, only by conditional
-- UPDATEs on its state.
CREATE TABLE bag_batches (
    id         TEXT PRIMARY KEY,
    station_id TEXT NOT NULL DEFAULT '',
    issued_by  TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE bags (
    id          TEXT PRIMARY KEY,
    batch_id    TEXT NOT NULL REFERENCES bag_batches (id),
    station_id  TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,
    tracking_id TEXT NOT NULL DEFAULT '',
    sealed_by   TEXT NOT NULL DEFAULT '',
    sealed_at   BIGINT NOT NULL DEFAULT 0,
    note        TEXT NOT NULL DEFAULT '',
    updated_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX bags_batch ON bags (batch_id);
CREATE INDEX bags_tracking ON bags (tracking_id);

ALTER TABLE packages ADD COLUMN bag_id TEXT NOT NULL DEFAULT '';
ALTER TABLE route_parcels ADD COLUMN bag_scanned BOOLEAN NOT NULL DEFAULT FALSE;

-- Every bag scan at a door, matching or not, with what was scanned.
CREATE TABLE bag_scans (
    id           TEXT PRIMARY KEY,
    stop_id      TEXT NOT NULL,
    tracking_id  TEXT NOT NULL DEFAULT '',
    associate_id TEXT NOT NULL,
    scanned      TEXT NOT NULL,
    matched      BOOLEAN NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX bag_scans_tracking ON bag_scans (tracking_id);
CREATE INDEX bag_scans_stop ON bag_scans (stop_id);

-- Customer-service cases: a refused tampered bag, a bag that did not match.
CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    tracking_id TEXT NOT NULL,
    status      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    outcome     TEXT NOT NULL DEFAULT '',
    note        TEXT NOT NULL DEFAULT '',
    opened_by   TEXT NOT NULL,
    opened_at   BIGINT NOT NULL,
    closed_by   TEXT NOT NULL DEFAULT '',
    closed_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX cases_status ON cases (status, opened_at);
CREATE INDEX cases_tracking ON cases (tracking_id);
