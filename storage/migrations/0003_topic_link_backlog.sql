-- Topics learnt while older papers exist are linked to those papers after the
-- ingest commits, in small transactions, instead of inside the ingest: one
-- search per new topic over the whole corpus is too slow to hold the write lock for.

ALTER TABLE topics ADD COLUMN link_pending INTEGER NOT NULL DEFAULT 0;
CREATE INDEX topics_link_pending ON topics (link_pending) WHERE link_pending = 1;
