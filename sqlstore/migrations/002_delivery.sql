-- Where each parcel is in the network; see handoff.Stage*.
ALTER TABLE packages ADD COLUMN stage TEXT NOT NULL DEFAULT 'label';
ALTER TABLE packages ADD COLUMN station_id TEXT NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN route_id TEXT NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN failed_days INTEGER NOT NULL DEFAULT 0;
ALTER TABLE packages ADD COLUMN last_attempt_date TEXT NOT NULL DEFAULT '';
CREATE INDEX packages_station ON packages (station_id, stage);

CREATE TABLE routes (
    id           TEXT PRIMARY KEY,
    station_id   TEXT NOT NULL REFERENCES principals (id),
    associate_id TEXT NOT NULL REFERENCES principals (id),
    service_date TEXT NOT NULL,
    marketplace  TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    loaded_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX routes_associate ON routes (associate_id, service_date);
CREATE INDEX routes_station ON routes (station_id, service_date);

-- A stop: one recipient at one address on a route. guesses counts the codes
-- claimed for evaluation (never above 3, by a conditional UPDATE); wrong counts
-- those found wrong; the attempt ends when wrong reaches 3.
CREATE TABLE stops (
    id             TEXT PRIMARY KEY,
    route_id       TEXT NOT NULL REFERENCES routes (id),
    position       INTEGER NOT NULL,
    stop_key       TEXT NOT NULL,
    recipient_name TEXT NOT NULL,
    address_line1  TEXT NOT NULL,
    address_line2  TEXT NOT NULL,
    city           TEXT NOT NULL,
    postal_code    TEXT NOT NULL,
    country_code   TEXT NOT NULL,
    mobile         TEXT NOT NULL DEFAULT '',
    planned_minute INTEGER NOT NULL,
    otp_state      TEXT NOT NULL,
    guesses        INTEGER NOT NULL DEFAULT 0,
    wrong          INTEGER NOT NULL DEFAULT 0,
    resends        INTEGER NOT NULL DEFAULT 0,
    UNIQUE (route_id, stop_key)
);

CREATE TABLE route_parcels (
    route_id    TEXT NOT NULL REFERENCES routes (id),
    tracking_id TEXT NOT NULL REFERENCES packages (tracking_id),
    stop_id     TEXT NOT NULL REFERENCES stops (id),
    outcome     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (route_id, tracking_id)
);
CREATE INDEX route_parcels_stop ON route_parcels (stop_id);
CREATE INDEX route_parcels_tracking ON route_parcels (tracking_id);

-- Which secret key a recipient's day's passcode is derived with. The code
-- itself is never stored (see package passcode).
CREATE TABLE passcode_keys (
    mobile       TEXT NOT NULL,
    service_date TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    PRIMARY KEY (mobile, service_date)
);

-- Per-associate wrong-code budget: a fixed window; locked_at > 0 locks checks
-- until the station unlocks.
CREATE TABLE associate_guard (
    associate_id TEXT PRIMARY KEY REFERENCES principals (id),
    window_start BIGINT NOT NULL DEFAULT 0,
    wrong        INTEGER NOT NULL DEFAULT 0,
    locked_at    BIGINT NOT NULL DEFAULT 0
);

-- Every evaluated code entry, for the station and for audits. Never the code.
CREATE TABLE code_checks (
    id           TEXT PRIMARY KEY,
    stop_id      TEXT NOT NULL REFERENCES stops (id),
    associate_id TEXT NOT NULL REFERENCES principals (id),
    method       TEXT NOT NULL,
    correct      BOOLEAN NOT NULL,
    at           BIGINT NOT NULL
);
CREATE INDEX code_checks_stop ON code_checks (stop_id);

-- The notification outbox, written in the same transaction as the event that
-- causes a message. A message that carries the passcode names the recipient's
-- number and date; the code is derived only when it is sent.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    lang            TEXT NOT NULL,
    data            TEXT NOT NULL,
    passcode_mobile TEXT NOT NULL DEFAULT '',
    passcode_date   TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    claim_token     TEXT NOT NULL DEFAULT '',
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
