-- The shipments still waiting for a backfill done at start-up (their
-- contact set, their normalised recipient name) are found through these
-- instead of by reading every shipment at every start: they hold only the
-- rows the backfills still have to fill, so new shipments, which are made
-- with both, cost them nothing, and a start with a million parcels reads
-- none.
CREATE INDEX shipments_code_set_unfilled ON shipments (id) WHERE code_set = '';
CREATE INDEX shipments_recipient_name_unfilled ON shipments (id) WHERE recipient_name = '';
