-- The tamper-evident audit log (package audit): entries in chains, each
-- carrying the hash of the one before it. A chain's head row holds its last
-- seq and hash; appending locks it (a conditional UPDATE in the action's own
-- transaction), so entries of one chain are numbered one after another
-- however many nodes write, and the primary key refuses a fork.
CREATE TABLE audit_log (
    chain     TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    subject   TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE audit_heads (
    chain TEXT PRIMARY KEY,
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);

-- An associate's entries of a day, for the station's anomaly flags.
CREATE INDEX audit_log_actor ON audit_log (actor, at);
