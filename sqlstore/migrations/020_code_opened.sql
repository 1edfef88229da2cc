-- A passcode parcel whose label also asks for a signature or an age check is
-- not delivered by its code alone: the right code opens it (code_ok), and the
-- associate then delivers it in person with the check.
ALTER TABLE route_parcels ADD COLUMN code_ok BOOLEAN NOT NULL DEFAULT FALSE;
