-- The derived search index beside the store (a Tantivy folder) follows this change log.
-- Every insert, delete and search-visible update of a paper appends one row; the index
-- applies the rows after the last one it committed and records that number both inside
-- its own commit and here, so a crash between the two is healed by replaying the log.

CREATE TABLE search_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    paper_id INTEGER NOT NULL,
    op       TEXT NOT NULL CHECK (op IN ('i', 'u', 'd'))
);

CREATE TRIGGER search_log_insert AFTER INSERT ON papers BEGIN
    INSERT INTO search_log (paper_id, op) VALUES (new.id, 'i');
END;
CREATE TRIGGER search_log_update AFTER UPDATE OF title, abstract ON papers BEGIN
    INSERT INTO search_log (paper_id, op) VALUES (new.id, 'u');
END;
CREATE TRIGGER search_log_delete AFTER DELETE ON papers BEGIN
    INSERT INTO search_log (paper_id, op) VALUES (old.id, 'd');
END;

-- search_index_seen: the last search_log.seq the index has committed (0: nothing yet).
-- search_index_store: this database's identity, so an index made for another copy is rebuilt.
INSERT INTO meta (key, value) VALUES ('search_index_seen', '0');
INSERT INTO meta (key, value) VALUES ('search_index_store', lower(hex(randomblob(16))));
