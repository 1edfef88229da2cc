-- A station's town, which its events (received, arrived) show as their
-- place, rather than the recipient's postcode.
ALTER TABLE principals ADD COLUMN city TEXT NOT NULL DEFAULT '';
