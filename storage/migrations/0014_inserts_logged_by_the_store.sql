-- A new paper's search_log row and a new topic link's recent by-topic pair are written by
-- the store's own statements (storage/ingest.py, storage/topic_links.py), no longer by
-- AFTER INSERT triggers. SQLite runs a trigger's program once per row, and each executemany
-- row became a statement of its own around it. At a million papers, on the store's 16 KB
-- pages, a paper's insert cost about 47 us with the trigger against 19 us with the
-- log row written after it in one executemany, and a topic link 7.4 us against 2.4 us: a
-- tenth of a 1,000-paper ingest. Paper inserts come from one function and link inserts
-- from two; the update and delete triggers stay, as cascades and merges reach them.
DROP TRIGGER IF EXISTS search_log_insert;
DROP TRIGGER IF EXISTS paper_topics_insert;
