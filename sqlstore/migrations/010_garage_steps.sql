-- A grant in flight (opening, closing, revoking, expiring) has a node
-- commanding its door; step_until is when that node must have finished.
-- Past it, the sweeper reads the door's real state and settles the grant,
-- so a crash mid-step never leaves a door open with nobody owning it. Rows
-- from before have 0: due at once.
ALTER TABLE garage_grants ADD COLUMN step_until BIGINT NOT NULL DEFAULT 0;
CREATE INDEX garage_grants_state ON garage_grants (state, step_until);

-- While the server closes a door whose access ended (revoking, expiring), no
-- new grant of the stop may open it again.
DROP INDEX garage_grants_live;
CREATE UNIQUE INDEX garage_grants_live ON garage_grants (stop_id) WHERE state IN ('pending', 'opening', 'open', 'closing', 'revoking', 'expiring');
