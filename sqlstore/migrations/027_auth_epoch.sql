-- A number that every change to what an API key authenticates as moves on
-- (a key revoked, an account's credentials reset), in the same transaction.
-- A node remembers the keys it authenticated together with the number it
-- read; a request reads only this one row and uses what it remembers while
-- the number is unchanged, so a revocation on any node, or by any process
-- on the same SQLite file, is seen on the next request.
CREATE TABLE auth_epoch (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO auth_epoch (id, n) VALUES (1, 0);
