-- Webhook secret rotation: the secret replaced last stays valid, sealed like
-- the current one, until previous_until; deliveries until then carry a
-- signature under each.
ALTER TABLE shipper_webhooks ADD COLUMN previous_sealed_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE shipper_webhooks ADD COLUMN previous_until BIGINT NOT NULL DEFAULT 0;

-- A webhook's delivery log reads its deliveries newest first.
CREATE INDEX notifications_recipient ON notifications (recipient, created_at, id);

-- Named API keys. Only the SHA-256 digest of a key is kept, with its first
-- characters for the owner to recognise it. A key authenticates while
-- revoked_at is 0; last_used_at is written at most once a minute.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    principal_id TEXT NOT NULL REFERENCES principals (id),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    digest       TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0,
    revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_principal ON api_keys (principal_id, created_at);

-- The key every principal was onboarded with becomes its first named key.
-- Its characters were never kept, so its prefix is only the kind's.
INSERT INTO api_keys (id, principal_id, name, prefix, digest, created_at)
    SELECT 'key_' || id, id, 'Onboarding key', 'hk_', api_key_digest, created_at FROM principals;
