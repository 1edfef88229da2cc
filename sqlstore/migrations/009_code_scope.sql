-- A passcode is scoped to the contacts its label sends it to (see package
-- passcode): code_set is the digest of a shipment's contact set, filled in
-- when the label is created (and, for shipments made before this migration,
-- by the store when it opens).
ALTER TABLE shipments ADD COLUMN code_set TEXT NOT NULL DEFAULT '';

-- Which secret key a contact set's day's code is derived with; replaces the
-- per-mobile passcode_keys. The code itself is never stored.
CREATE TABLE passcode_sets (
    code_set     TEXT NOT NULL,
    service_date TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    PRIMARY KEY (code_set, service_date)
);
DROP TABLE passcode_keys;

-- A queued code message names the contact set whose code the sender puts in.
ALTER TABLE notifications RENAME COLUMN passcode_mobile TO passcode_set;
-- Code messages still queued from before named a mobile, not a set: sending
-- them would put in a code that opens nothing. They are set aside for the
-- operator (the associate can re-send the code from the stop).
UPDATE notifications SET status = 'dead', last_error = 'queued before passcodes were scoped to contact sets: re-send the code from the stop'
    WHERE status = 'pending' AND passcode_set <> '';
