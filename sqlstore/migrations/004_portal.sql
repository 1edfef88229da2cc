-- Buyers are looked up by email too.
ALTER TABLE shipments ADD COLUMN buyer_email TEXT NOT NULL DEFAULT '';
CREATE INDEX shipments_recipient_mobile ON shipments (recipient_mobile);
CREATE INDEX shipments_recipient_email ON shipments (recipient_email);
CREATE INDEX shipments_buyer_mobile ON shipments (buyer_mobile);
CREATE INDEX shipments_buyer_email ON shipments (buyer_email);

-- One-time sign-ins of the recipient portal: the link token is stored as a
-- digest, the short code as a keyed MAC with its key ID; both die at first use,
-- at expiry, or after five wrong codes.
CREATE TABLE portal_logins (
    id           TEXT PRIMARY KEY,
    contact      TEXT NOT NULL,
    token_digest TEXT NOT NULL UNIQUE,
    code_mac     TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX portal_logins_contact ON portal_logins (contact, expires_at);

CREATE TABLE recipient_sessions (
    digest     TEXT PRIMARY KEY,
    contact    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE recipient_prefs (
    contact       TEXT PRIMARY KEY,
    photo_opt_out BOOLEAN NOT NULL DEFAULT FALSE,
    key_delivery  BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at    BIGINT NOT NULL
);
