-- "Papers of a topic" moves from an index on paper_topics to a table of its own, in two parts.
-- At a million papers, the 1,000 papers of one small batch linked to some 14,000 (topic, paper)
-- pairs, each a new entry at the end of its topic's run in the by-topic index: most of that
-- index's 12,000 leaf pages were written, about 200 MB through the WAL and again into the
-- file, for 14,000 entries. Now:
-- * topic_papers holds the pairs up to the last fold, in (topic, paper) order;
-- * topic_papers_recent holds the pairs written since, a small table that a batch writes
--   along a few pages; storage/topic_links.py folds it into topic_papers in key order
--   once it is big, so each page of the big table is written once per fold.
-- Both are kept by the triggers on paper_topics, so every write and every cascade (a paper
-- or a topic deleted) reaches them; readers by topic read both (storage/topic_links.py).
CREATE TABLE topic_papers (
    topic_id INTEGER NOT NULL,
    paper_id INTEGER NOT NULL,
    PRIMARY KEY (topic_id, paper_id)
) WITHOUT ROWID;
INSERT INTO topic_papers (topic_id, paper_id) SELECT topic_id, paper_id FROM paper_topics ORDER BY topic_id, paper_id;
CREATE TABLE topic_papers_recent (
    topic_id INTEGER NOT NULL,
    paper_id INTEGER NOT NULL,
    PRIMARY KEY (topic_id, paper_id)
) WITHOUT ROWID;
DROP INDEX paper_topics_topic;

CREATE TRIGGER paper_topics_insert AFTER INSERT ON paper_topics BEGIN
    INSERT OR IGNORE INTO topic_papers_recent (topic_id, paper_id) VALUES (new.topic_id, new.paper_id);
END;
CREATE TRIGGER paper_topics_delete AFTER DELETE ON paper_topics BEGIN
    DELETE FROM topic_papers WHERE topic_id = old.topic_id AND paper_id = old.paper_id;
    DELETE FROM topic_papers_recent WHERE topic_id = old.topic_id AND paper_id = old.paper_id;
END;
