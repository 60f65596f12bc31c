-- The first schema: papers with their authors, sources, topics, the search index,
-- subscriptions and the delivery outbox.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('data_version', '0');

CREATE TABLE papers (
    id                INTEGER PRIMARY KEY,
    key               TEXT NOT NULL UNIQUE,
    title             TEXT NOT NULL,
    title_key         TEXT NOT NULL,
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
    updated_at        TEXT NOT NULL
);
CREATE INDEX papers_first_seen ON papers (first_seen_at DESC, id DESC);
CREATE INDEX papers_title_key ON papers (title_key);
CREATE INDEX papers_category ON papers (category, first_seen_at DESC);

-- Identifiers that find a paper besides its key: arXiv ids and DOIs learnt later.
CREATE TABLE paper_aliases (
    alias    TEXT PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('arxiv', 'doi', 'key')),
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE
);
CREATE INDEX paper_aliases_paper ON paper_aliases (paper_id);

CREATE TABLE authors (
    id   INTEGER PRIMARY KEY,
    key  TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL
);

-- The authors of each paper in order, with the name as that paper writes it;
-- inferred rows link a source's owner to a truncated list that hides them.
CREATE TABLE paper_authors (
    paper_id  INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    author_id INTEGER NOT NULL REFERENCES authors (id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    inferred  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (paper_id, position)
) WITHOUT ROWID;
CREATE INDEX paper_authors_author ON paper_authors (author_id, paper_id);

CREATE TABLE sources (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('listing', 'arxiv', 'feed', 'bibtex')),
    location        TEXT,
    owner           TEXT,
    last_polled_at  TEXT,
    last_success_at TEXT,
    last_error      TEXT,
    etag            TEXT,
    last_modified   TEXT,
    content_hash    TEXT
);

-- What each source said about each paper, so fields can be merged by precedence.
CREATE TABLE paper_sources (
    paper_id      INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    source_id     INTEGER NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    record        TEXT NOT NULL,
    record_hash   TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (paper_id, source_id)
);
CREATE INDEX paper_sources_source ON paper_sources (source_id);

CREATE TABLE topics (
    id        INTEGER PRIMARY KEY,
    slug      TEXT NOT NULL UNIQUE,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('acronym', 'phrase', 'category')),
    expansion TEXT
);

CREATE TABLE paper_topics (
    paper_id INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    topic_id INTEGER NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    PRIMARY KEY (topic_id, paper_id)
);
CREATE INDEX paper_topics_paper ON paper_topics (paper_id);

-- Candidate keyphrases from titles and how many papers use them; a phrase
-- becomes a topic once enough papers share it.
CREATE TABLE phrase_counts (
    phrase TEXT PRIMARY KEY,
    papers INTEGER NOT NULL
) WITHOUT ROWID;

-- Full-text index over title and abstract, kept in step with papers by triggers.
CREATE VIRTUAL TABLE papers_fts USING fts5 (
    title, abstract,
    content = 'papers',
    content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers BEGIN
    INSERT INTO papers_fts (rowid, title, abstract) VALUES (new.id, new.title, new.abstract);
END;
CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, abstract)
        VALUES ('delete', old.id, old.title, old.abstract);
END;
CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, abstract ON papers BEGIN
    INSERT INTO papers_fts (papers_fts, rowid, title, abstract)
        VALUES ('delete', old.id, old.title, old.abstract);
    INSERT INTO papers_fts (rowid, title, abstract) VALUES (new.id, new.title, new.abstract);
END;

CREATE TABLE subscriptions (
    id            INTEGER PRIMARY KEY,
    guild_id      INTEGER,
    channel_id    INTEGER,
    webhook_url   TEXT,
    target        TEXT NOT NULL CHECK (target IN ('all', 'author', 'topic', 'category')),
    value         TEXT,
    digest        INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    paused_reason TEXT,
    CHECK ((channel_id IS NULL) != (webhook_url IS NULL))
);
CREATE UNIQUE INDEX subscriptions_unique
    ON subscriptions (COALESCE(channel_id, webhook_url), target, COALESCE(value, ''));

-- The outbox: one row per (subscription, paper), written with the paper.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    paper_id        INTEGER NOT NULL REFERENCES papers (id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    nonce           TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    next_attempt_at TEXT,
    sent_at         TEXT,
    message_id      INTEGER,
    last_error      TEXT,
    UNIQUE (subscription_id, paper_id)
);
CREATE INDEX deliveries_pending ON deliveries (status, next_attempt_at, id);
