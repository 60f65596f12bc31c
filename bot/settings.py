"""What the bot needs of the service's configuration, as plain values (``bot`` never reads the config)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class BotSettings:
    """Built by the composition root from ``[http]``, ``[discord]`` and ``[announce]``.

    The defaults are the configuration's own defaults, so a bot built without
    settings (the command listing, tests) behaves as a default config would.
    """

    public_base_url: str = "http://127.0.0.1:8650/"
    sync_commands: bool = True
    guild_ids: tuple[int, ...] = ()
    max_age: timedelta | None = timedelta(days=30)
