-- Proof-of-delivery photos. The blobs live in the photo store under random
-- keys; a row outlives its blobs so the record keeps that a photo existed and
-- when it was removed.
CREATE TABLE photos (
    id          TEXT PRIMARY KEY,
    tracking_id TEXT NOT NULL REFERENCES packages (tracking_id),
    blob_key    TEXT NOT NULL,
    thumb_key   TEXT NOT NULL,
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    taken_by    TEXT NOT NULL,
    taken_at    BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    deleted_at  BIGINT NOT NULL DEFAULT 0,
    purge_until BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX photos_tracking ON photos (tracking_id);
CREATE INDEX photos_expiry ON photos (deleted_at, expires_at);

-- Every view of a photo by anyone but its recipient.
CREATE TABLE photo_views (
    id          TEXT PRIMARY KEY,
    photo_id    TEXT NOT NULL REFERENCES photos (id),
    viewer_id   TEXT NOT NULL,
    viewer_kind TEXT NOT NULL,
    viewer_name TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX photo_views_photo ON photo_views (photo_id, at);

-- Why a delivery was completed without a photo, when a privacy rule applied.
ALTER TABLE packages ADD COLUMN no_photo_reason TEXT NOT NULL DEFAULT '';
