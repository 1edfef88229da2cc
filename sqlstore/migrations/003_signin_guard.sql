-- Failed web sign-ins per account ID in a fixed window; past the limit, even
-- the right password is refused until the window ends.
CREATE TABLE signin_guard (
    account      TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     INTEGER NOT NULL
);
