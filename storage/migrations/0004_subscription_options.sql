-- Subscription options set by /subscribe and /subscription edit: a role to ping,
-- include/exclude filters (words, "phrases", /regular expressions/), and an admin
-- pause that holds deliveries until /subscription resume. paused_reason stays the
-- "broken" state the announcer sets (deleted channel, lost permission); paused_at
-- is only ever set by a person.
--
-- digest now counts days per digest: 0 = post as they arrive, 1 = daily, 7 = weekly.
-- Before this it was a flag whose only meaning was weekly.

ALTER TABLE subscriptions ADD COLUMN mention_role_id INTEGER;
ALTER TABLE subscriptions ADD COLUMN include_text TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN exclude_text TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN paused_at TEXT;
ALTER TABLE subscriptions ADD COLUMN paused_by INTEGER;
UPDATE subscriptions SET digest = 7 WHERE digest = 1;

-- Resuming after a pause posts at most a few held papers; the next held row turns into
-- one summary line (note), and the rest are folded into it (folded_into = that row's id)
-- instead of being posted one by one.
ALTER TABLE deliveries ADD COLUMN note TEXT;
ALTER TABLE deliveries ADD COLUMN folded_into INTEGER;
