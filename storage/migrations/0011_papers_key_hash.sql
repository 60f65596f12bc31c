-- paperboy: foreign keys off while this runs
-- The papers table is rebuilt, keeping every id, so that:
-- * a paper is found by an 8-byte hash of its key (storage/text.py key_hash) through
--   papers_key_hash, then by the key itself in its row. The UNIQUE index kept a second
--   copy of every key, 70 bytes for a title slug; storage/ingest.py keeps keys unique
--   (it asks for a key before taking it), so SQLite no longer has to.
-- * updated_at is NULL until a merge changes the paper: a NULL reads as first_seen_at
--   (storage/paper_rows.py), where every new paper had its own 32-byte copy.
-- * papers_first_seen leaves out the id: SQLite appends the rowid to every index entry,
--   so the id column stored it twice, and the queries that read it sort ties by published
--   before the id anyway.
-- A UNIQUE column's index can only go with its table. Foreign keys are off while the old
-- table is dropped (with them on, SQLite would first delete every row of the tables that
-- reference it); the ids are copied as they are, so every reference still holds.
-- paperboy_key_hash is storage/text.py key_hash, given to this connection by storage/db.py.
CREATE TABLE papers_new (
    id                INTEGER PRIMARY KEY,
    key               TEXT NOT NULL,
    key_hash          INTEGER NOT NULL,
    title             TEXT NOT NULL,
    title_hash        INTEGER,
    authors_truncated INTEGER NOT NULL DEFAULT 0,
    abstract          TEXT NOT NULL DEFAULT '',
    category          TEXT,
    categories        TEXT NOT NULL DEFAULT '[]',
    published         TEXT,
    has_code          INTEGER NOT NULL DEFAULT 0,
    code_url          TEXT,
    arxiv_id          TEXT,
    arxiv_version     INTEGER,
    doi               TEXT,
    links             TEXT NOT NULL DEFAULT '[]',
    comment           TEXT,
    journal_ref       TEXT,
    first_seen_at     TEXT NOT NULL,
    updated_at        TEXT  -- NULL: not changed since first_seen_at
);
INSERT INTO papers_new (id, key, key_hash, title, title_hash, authors_truncated, abstract, category,
    categories, published, has_code, code_url, arxiv_id, arxiv_version, doi, links, comment,
    journal_ref, first_seen_at, updated_at)
SELECT id, key, paperboy_key_hash(key), title, title_hash, authors_truncated, abstract, category,
    categories, published, has_code, code_url, arxiv_id, arxiv_version, doi, links, comment,
    journal_ref, first_seen_at, NULLIF(updated_at, first_seen_at)
FROM papers ORDER BY id;
DROP TABLE papers;
ALTER TABLE papers_new RENAME TO papers;

CREATE INDEX papers_key_hash ON papers (key_hash);
CREATE INDEX papers_title_hash ON papers (title_hash);
CREATE INDEX papers_first_seen ON papers (first_seen_at DESC);
CREATE INDEX papers_category ON papers (category);

-- The table's triggers went with it; the same ones again (0002, 0007).
CREATE TRIGGER search_log_insert AFTER INSERT ON papers BEGIN
    INSERT INTO search_log (paper_id, op) VALUES (new.id, 'i');
END;
CREATE TRIGGER search_log_update AFTER UPDATE OF title, abstract ON papers BEGIN
    INSERT INTO search_log (paper_id, op) VALUES (new.id, 'u');
END;
CREATE TRIGGER search_log_delete AFTER DELETE ON papers BEGIN
    INSERT INTO search_log (paper_id, op) VALUES (old.id, 'd');
END;
CREATE TRIGGER deliveries_paper_changed AFTER UPDATE OF title, doi, journal_ref, comment, arxiv_version ON papers
WHEN new.title IS NOT old.title OR new.doi IS NOT old.doi OR new.journal_ref IS NOT old.journal_ref
  OR new.comment IS NOT old.comment OR new.arxiv_version IS NOT old.arxiv_version
BEGIN
    UPDATE deliveries SET update_pending = 1
    WHERE paper_id = new.id AND status = 'sent' AND note IS NULL AND folded_into IS NULL;
END;
