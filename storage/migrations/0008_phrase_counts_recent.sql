-- Phrase counts of recent small batches, folded into phrase_counts in key order once they
-- are many (storage/ingest_topics.py _ripe). A small batch's phrases land all over the big
-- table's b-tree: at a million papers, counting the phrases of 1,000 new titles there
-- rewrote 9,440 of its pages (155 MB of WAL, then as much again at the checkpoint).
CREATE TABLE phrase_counts_recent (
    hash   INTEGER PRIMARY KEY,
    papers INTEGER NOT NULL
);
