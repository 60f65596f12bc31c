-- SQLite FTS5 goes: search and topic linking read the Tantivy index beside the store
-- (storage/search_index.py), so the second copy of every title and abstract, and the
-- triggers that kept it, are dropped.

DROP TRIGGER IF EXISTS papers_fts_insert;
DROP TRIGGER IF EXISTS papers_fts_delete;
DROP TRIGGER IF EXISTS papers_fts_update;
DROP TABLE IF EXISTS papers_fts;

-- Title phrases are counted under an 8-byte key instead of their text. Bytes per row:
-- the key (the first 8 bytes of the phrase's BLAKE2b digest, read as a signed integer:
-- storage/topics.py phrase_hash), the count (1-3 bytes) and SQLite's cell overhead; no
-- phrase text and no second index. A collision between two phrases only adds their counts
-- together (odds about 1 in 10^5 at 25 million distinct phrases). The phrase itself is
-- never needed from this table: a batch knows the phrases it counted.
-- The text-keyed counts cannot be hashed in SQL, so they are dropped here and recounted
-- from the stored titles the first time the store is opened (storage/ingest_topics.py
-- recount_phrases, run while 'phrase_counts_stale' is in meta).
DROP TABLE phrase_counts;
CREATE TABLE phrase_counts (
    hash   INTEGER PRIMARY KEY,
    papers INTEGER NOT NULL
);
INSERT INTO meta (key, value) SELECT 'phrase_counts_stale', '1' WHERE EXISTS (SELECT 1 FROM papers);

-- paper_topics without a rowid: the (paper_id, topic_id) key is the table itself, in the
-- order a batch of new papers appends it, and one index serves "papers of a topic".
-- Before: a rowid table, its primary-key index and a second index, three copies of each pair.
CREATE TABLE paper_topics_new (
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    topic_id INTEGER NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    PRIMARY KEY (paper_id, topic_id)
) WITHOUT ROWID;
INSERT INTO paper_topics_new (paper_id, topic_id) SELECT paper_id, topic_id FROM paper_topics ORDER BY paper_id, topic_id;
DROP TABLE paper_topics;
ALTER TABLE paper_topics_new RENAME TO paper_topics;
CREATE INDEX paper_topics_topic ON paper_topics (topic_id, paper_id);

-- Papers are matched across sources by an 8-byte hash of their normalised title
-- (storage/text.py title_hash) instead of the whole normalised title, which was stored
-- twice more (column and index, ~180 B a paper). SQL cannot compute the hash: the
-- column is filled from the stored titles the first time the store is opened
-- (storage/ingest_topics.py rehash_titles, run while 'title_hashes_stale' is in meta).
DROP INDEX papers_title_key;
ALTER TABLE papers DROP COLUMN title_key;
ALTER TABLE papers ADD COLUMN title_hash INTEGER;
CREATE INDEX papers_title_hash ON papers (title_hash);
INSERT INTO meta (key, value) SELECT 'title_hashes_stale', '1' WHERE EXISTS (SELECT 1 FROM papers);
