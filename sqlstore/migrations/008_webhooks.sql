-- Shippers' webhook endpoints. The signing secret is sealed with the keyring
-- and shown to the shipper once, at creation.
CREATE TABLE shipper_webhooks (
    id            TEXT PRIMARY KEY,
    shipper_id    TEXT NOT NULL REFERENCES principals (id),
    url           TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    deleted_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX shipper_webhooks_shipper ON shipper_webhooks (shipper_id, deleted_at);
