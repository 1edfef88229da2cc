-- The recipient's name, lower-cased with single spaces, so that shipper
-- central can filter its parcels by it (the label's address is JSON text).
-- Rows made before this are filled in once at start (fillRecipientNames).
ALTER TABLE shipments ADD COLUMN recipient_name TEXT NOT NULL DEFAULT '';
-- The dashboard reads a shipper's passcode parcels of a period.
CREATE INDEX packages_shipper_otp ON packages (shipper_id, otp_required, created_at);
