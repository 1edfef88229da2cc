-- The operator's lists of messages, newest first, all of them or of one
-- status; retention deletes settled messages by status and age through the
-- second.
CREATE INDEX notifications_created ON notifications (created_at, id);
CREATE INDEX notifications_status_created ON notifications (status, created_at, id);

-- Retention deletes idempotency keys by age.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Leases let one node at a time run a periodic job (retention). A lease is
-- free when it has expired; its holder may renew it.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
