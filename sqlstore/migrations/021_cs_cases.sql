-- Customer service says why it looked at a recipient's contacts; the reason
-- is kept with the look. Cases get notes, and customer service opens cases
-- of its own (kind "enquiry") from a parcel's page.
ALTER TABLE contact_views ADD COLUMN reason TEXT NOT NULL DEFAULT '';
CREATE TABLE case_notes (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases (id),
    author_id   TEXT NOT NULL,
    author_name TEXT NOT NULL,
    body        TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX case_notes_case ON case_notes (case_id, at);
CREATE UNIQUE INDEX cases_one_open_enquiry ON cases (tracking_id) WHERE kind = 'enquiry' AND status = 'open';
