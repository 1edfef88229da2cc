-- Customer service's looks at a parcel's recipient contacts, kept like the
-- photo views: who, when.
CREATE TABLE contact_views (
    id          TEXT PRIMARY KEY,
    tracking_id TEXT NOT NULL,
    viewer_id   TEXT NOT NULL,
    viewer_kind TEXT NOT NULL,
    viewer_name TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX contact_views_parcel ON contact_views (tracking_id, at);
CREATE INDEX packages_client_ref ON packages (client_ref);
