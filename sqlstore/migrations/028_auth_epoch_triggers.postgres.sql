-- The auth epoch moves with every change to what an API key authenticates
-- as, whoever makes it: this release, an older node still running during a
-- rolling upgrade, or an operator's own SQL. A key revoked or deleted, or
-- its account changed (or either table truncated), moves it; a key created
-- or its last use recorded does not (a node looks up a key it does not know
-- anyway).
-- The new number is random rather than the next: a database restored from a
-- backup, or a replica promoted behind its primary, never comes back to a
-- number a node still remembers keys under.
CREATE FUNCTION auth_epoch_move() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN UPDATE auth_epoch SET n = (random() * 9007199254740991)::bigint WHERE id = 1; RETURN NULL; END $$;
UPDATE auth_epoch SET n = (random() * 9007199254740991)::bigint WHERE id = 1;
CREATE TRIGGER auth_epoch_key_changed AFTER UPDATE OF revoked_at, digest, principal_id ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_move();
CREATE TRIGGER auth_epoch_key_deleted AFTER DELETE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_move();
CREATE TRIGGER auth_epoch_account_changed AFTER UPDATE OF id, kind, name, station_id, market, city, created_at ON principals FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_move();
CREATE TRIGGER auth_epoch_account_deleted AFTER DELETE ON principals FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_move();
CREATE TRIGGER auth_epoch_keys_truncated AFTER TRUNCATE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_move();
CREATE TRIGGER auth_epoch_accounts_truncated AFTER TRUNCATE ON principals FOR EACH STATEMENT EXECUTE FUNCTION auth_epoch_move();
