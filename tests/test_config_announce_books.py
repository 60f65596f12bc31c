"""The announcer's settings ([ops], digest schedule, [[announce]] digest) refuse mistakes by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperboy.config import load, masked
from storage.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[ops]\nchannel = 1\nwebhook_env = "OPS"\n', "[ops]: set channel or webhook_env, not both"),
        ("[ops]\ndrop_ratio = 1.5\n", "[ops] drop_ratio: expected a share between 0 and 1"),
        ("[ops]\nfailures = 0\n", "[ops] failures: expected a number of at least 1"),
        ('[ops]\nchannel = "general"\n', "[ops] channel: expected a whole number"),
        ('[schedule]\ndigest_weekday = "monday"\n', "[schedule] digest_weekday: expected one of mon, tue"),
        ('[[announce]]\nname = "a"\nwebhook_url = "https://x/y"\ndigest = "hourly"\n',
         "[[announce]] #1 digest: expected one of off, daily, weekly"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert needle in str(info.value)


def test_the_ops_webhook_comes_from_the_environment_and_stays_hidden(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[ops]\nwebhook_env = "OPS_HOOK"\n', encoding="utf-8")
    config = load(path, env={"OPS_HOOK": "https://discord.com/api/webhooks/1/secret-token"})
    assert config.ops_webhook.endswith("secret-token")
    shown = masked(config)
    assert shown["secrets"]["OPS_HOOK"] == "set (hidden)" and "secret-token" not in str(shown)
    assert load(path, env={"PAPERBOY_OPS_FAILURES": "5"}).ops.failures == 5
