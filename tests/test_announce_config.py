"""[announce] max_age and [[announce.webhooks]] (beside the older [[announce]] list) are read and checked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from paperboy.config import ConfigError, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_announce_table_holds_max_age_and_webhooks(tmp_path: Path) -> None:
    config = load(write(tmp_path, '[announce]\nmax_age = "7d"\n[[announce.webhooks]]\nname = "lab"\n'
                                  'webhook_url = "https://discord.com/api/webhooks/1/t"\ntarget = "category"\n'
                                  'value = "cv"\n'), env={})
    assert config.max_age == timedelta(days=7)
    [hook] = config.announce
    assert (hook.name, hook.target, hook.value) == ("lab", "category", "cv")
    assert load(write(tmp_path, "[announce]\nmax_age = 0\n"), env={}).max_age is None
    assert load(None, env={}).max_age == timedelta(days=30)
    old_style = load(write(tmp_path, '[[announce]]\nname = "x"\nwebhook_url = "https://h/1/t"\n'), env={})
    assert old_style.max_age == timedelta(days=30) and len(old_style.announce) == 1


@pytest.mark.parametrize(("text", "says"), [
    ('[announce]\nmax_age = "soon"\n', '[announce] max_age: expected seconds or a duration like "30m"'),
    ("[announce]\nmaxage = 3\n", "[announce]: unknown key 'maxage'; known keys are max_age and webhooks"),
    ('[announce]\nmax_age = "-1d"\n', "[announce] max_age"),
])
def test_bad_announce_settings_name_the_key(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), env={})
    assert says in str(caught.value)


async def test_the_migration_reads_an_old_weekly_digest_flag_as_seven_days(tmp_path: Path) -> None:
    import sqlite3

    from storage.db import _split_sql, migrations
    from storage.store import Store

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    mine = next(m.version for m in migrations() if m.name == "subscription_options")
    for migration in migrations():
        if migration.version >= mine:
            break
        for statement in _split_sql(migration.sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, '2026-01-01')", (migration.version, migration.name))
    conn.execute("INSERT INTO subscriptions (guild_id, channel_id, target, digest, created_at)"
                 " VALUES (1, 2, 'all', 1, '2026-01-01T00:00:00+00:00')")
    conn.execute("INSERT INTO subscriptions (guild_id, channel_id, target, value, digest, created_at)"
                 " VALUES (1, 3, 'category', 'CV', 0, '2026-01-01T00:00:00+00:00')")
    conn.close()
    store = await Store.open(path, search_index=False)
    try:
        weekly, plain = await store.outbox.subscriptions()
        assert (weekly.digest, plain.digest) == (7, 0)
        assert (plain.include, plain.exclude, plain.mention_role_id, plain.paused_at) == ("", "", None, None)
    finally:
        await store.close()
