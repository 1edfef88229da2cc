-- On SQLite, INSERT OR REPLACE deletes the row it replaces without firing
-- the DELETE triggers of 028 (unless recursive_triggers is on, which an
-- operator's own session seldom has), so a key or an account replaced that
-- way by hand would not move the auth epoch. Any insert into these tables
-- moves it: keys and accounts are created seldom, and a node that forgot its
-- keys looks each up again once. (PostgreSQL has no REPLACE: an upsert fires
-- the UPDATE triggers of 028.)
CREATE TRIGGER auth_epoch_key_inserted AFTER INSERT ON api_keys BEGIN UPDATE auth_epoch SET n = random() WHERE id = 1; END;
CREATE TRIGGER auth_epoch_account_inserted AFTER INSERT ON principals BEGIN UPDATE auth_epoch SET n = random() WHERE id = 1; END;
