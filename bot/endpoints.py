"""Where discord.py connects: Discord itself, or a loopback Discord such as the tests' emulator."""

from __future__ import annotations

from collections.abc import Callable


def point_discord(api_base: str, gateway_url: str) -> Callable[[], None]:
    """Send discord.py to ``api_base`` / ``gateway_url``; returns a function that undoes it.

    discord.py keeps both as class attributes, so this is process-wide: it is
    done when the bot starts (never at import) and undone when it stops.
    """
    import discord.gateway
    import discord.http
    import yarl

    old_base = discord.http.Route.BASE
    old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)

    def restore() -> None:
        discord.http.Route.BASE = old_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    return restore
