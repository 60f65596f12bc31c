-- paper_sources without a rowid, its times NULL where they are the paper's own: a paper
-- reported by one source kept its two 32-byte times three times over (the paper's row, the
-- source's row, and the rowid table's key beside its (paper_id, source_id) index).
-- A NULL is read as the paper's time; storage/paper_writes.py spell_out_records writes the
-- times out before the paper's own change.
CREATE TABLE paper_sources_new (
    paper_id      INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    source_id     INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    record        TEXT NOT NULL,
    record_hash   TEXT NOT NULL,
    first_seen_at TEXT,  -- NULL: the paper's first_seen_at
    updated_at    TEXT,  -- NULL: the paper's updated_at
    PRIMARY KEY (paper_id, source_id)
) WITHOUT ROWID;
INSERT INTO paper_sources_new (paper_id, source_id, record, record_hash, first_seen_at, updated_at)
SELECT ps.paper_id, ps.source_id, ps.record, ps.record_hash,
       NULLIF(ps.first_seen_at, p.first_seen_at), NULLIF(ps.updated_at, p.updated_at)
FROM paper_sources ps JOIN papers p ON p.id = ps.paper_id
ORDER BY ps.paper_id, ps.source_id;
DROP TABLE paper_sources;
ALTER TABLE paper_sources_new RENAME TO paper_sources;
CREATE INDEX paper_sources_source ON paper_sources (source_id);

-- Categories are counted from this index (Store.categories); no query reads its time column:
-- papers of a category are found with lower(category), which no index on category serves.
DROP INDEX papers_category;
CREATE INDEX papers_category ON papers (category);
