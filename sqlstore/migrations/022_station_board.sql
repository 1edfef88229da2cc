-- The station board counts a station's parcels by stage, and those that
-- started back to the shipper on one day by when they last changed: one
-- index serves both (it covers what packages_station served).
CREATE INDEX packages_station_day ON packages (station_id, stage, updated_at);
DROP INDEX packages_station;
