-- The secret keys the stored data depends on: passcodes are derived from
-- them, queued messages and garage credentials are sealed with them. A node
-- whose keys lack any of these would answer 500 to the right passcode and
-- fail every sealed message, so start-up refuses instead (cmd/handoff).
CREATE TABLE secret_keys_in_use (
    key_id TEXT PRIMARY KEY,
    first_used_at BIGINT NOT NULL
);
