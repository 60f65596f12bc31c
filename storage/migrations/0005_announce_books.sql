-- The announcer's books: edits owed to posted announcements, digests and what each
-- one holds, and the ops channel's record of each source's and subscription's state.

-- A posted paper that later gains a DOI, a journal reference, a venue (arXiv comment),
-- a new arXiv version or a new title owes its message an edit. The trigger marks it
-- inside the ingest's own transaction, so an edit is never lost to a crash either.
ALTER TABLE deliveries ADD COLUMN update_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN updated_note TEXT;
CREATE INDEX deliveries_update_pending ON deliveries (update_pending) WHERE update_pending = 1;
-- The trigger below finds a paper's deliveries by paper: without this it would scan them all.
CREATE INDEX deliveries_paper ON deliveries (paper_id);
CREATE TRIGGER deliveries_paper_changed AFTER UPDATE OF title, doi, journal_ref, comment, arxiv_version ON papers
WHEN new.title IS NOT old.title OR new.doi IS NOT old.doi OR new.journal_ref IS NOT old.journal_ref
  OR new.comment IS NOT old.comment OR new.arxiv_version IS NOT old.arxiv_version
BEGIN
    UPDATE deliveries SET update_pending = 1 WHERE paper_id = new.id AND status = 'sent';
END;

-- One row per digest message: the deliveries it holds are fixed (digest_items) before it
-- is sent, so a crash resends the same digest and the next one starts where it ended.
CREATE TABLE digests (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'empty')),
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    message_id      INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE INDEX digests_subscription ON digests (subscription_id, id);

CREATE TABLE digest_items (
    digest_id   INTEGER NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    delivery_id INTEGER NOT NULL UNIQUE REFERENCES deliveries (id) ON DELETE CASCADE,
    PRIMARY KEY (digest_id, delivery_id)
);

-- The ops channel's memory: the state each subject is in and the state last posted,
-- so a change is posted once and a restart does not post it again.
CREATE TABLE ops_state (
    subject        TEXT PRIMARY KEY,  -- "source:<name>" or "subscription:<id>"
    state          TEXT NOT NULL,
    detail         TEXT,
    failures       INTEGER NOT NULL DEFAULT 0,
    last_good      INTEGER,           -- papers in the last good poll
    changed_at     TEXT NOT NULL,
    posted_state   TEXT               -- what the ops channel was last told
);
