-- Phrase counts keyed by 48 bits of the BLAKE2b digest, as a non-negative number: a key is
-- the table's rowid, and SQLite writes a rowid as a varint, so a signed 64-bit hash took 9
-- bytes where this takes 7 (storage/topics.py phrase_hash). 48 bits keep collisions among
-- 30 million phrases (all of arXiv's titles) to about two pairs.
-- The old key's top 48 bits are the new key, so the counts carry over without a recount.
CREATE TABLE phrase_counts_new (
    hash   INTEGER PRIMARY KEY,
    papers INTEGER NOT NULL
);
INSERT INTO phrase_counts_new (hash, papers)
SELECT (hash >> 16) & 281474976710655, sum(papers)
FROM (SELECT hash, papers FROM phrase_counts UNION ALL SELECT hash, papers FROM phrase_counts_recent)
GROUP BY 1 ORDER BY 1;
DROP TABLE phrase_counts;
ALTER TABLE phrase_counts_new RENAME TO phrase_counts;
DELETE FROM phrase_counts_recent;
