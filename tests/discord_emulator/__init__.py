"""A loopback Discord API v10 (REST + gateway) that the unmodified discord.py client logs into.

Quick start::

    from tests.discord_emulator import DiscordEmulator

    async with DiscordEmulator(token="test-token") as emu:
        guild = emu.add_guild("Lab")
        papers = emu.add_channel(guild.id, "papers")
        bob = emu.add_member(guild.id, "bob", permissions=0)
        emu.point_discord_py()            # or point_discord_py_at(emu.api_base, emu.gateway_url)
        task = asyncio.create_task(bot.start("test-token"))
        await emu.wait_ready()
        res = await emu.slash("paper", "search", options={"query": "x"},
                              channel_id=papers.id, user_id=bob.id)
        assert res.type == 4 and "x" in res.content
        await bot.close(); await task

discord.py is pointed at the emulator through two process-wide class attributes,
``discord.http.Route.BASE`` (set it to ``emu.api_base``) and
``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (``yarl.URL(emu.gateway_url)``).
``point_discord_py_at(api_base, gateway_url)`` sets both and returns a function
that restores them; ``emu.point_discord_py()`` does the same and undoes it on close.
A bot that reads these from its own config can set them itself instead.

For breaking things on purpose: ``emu.honour_nonce = False`` ignores ``enforce_nonce`` (a
resend after Discord's few-minute nonce window); ``emu.post_delay = 0.02`` answers each
message create that long after posting it (a kill lands between the two more often);
``emu.drop_after_posting(n)`` posts the next ``n`` messages and drops their connections
unanswered; ``fail_next`` and ``refuse_channel`` answer with errors.
"""

from ._emulator import DiscordEmulator, point_discord_py_at
from ._faults import Fault
from ._gateway import GatewayFrame
from ._interactions import InteractionFailed, InteractionResult, Rejection
from ._limits import DiscordError
from ._state import (
    ADMINISTRATOR,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Channel,
    Guild,
    Member,
    RecordedRequest,
    Role,
    User,
    Webhook,
)

__all__ = [
    "ADMINISTRATOR",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "Channel",
    "DiscordEmulator",
    "DiscordError",
    "Fault",
    "GatewayFrame",
    "Guild",
    "InteractionFailed",
    "InteractionResult",
    "Member",
    "RecordedRequest",
    "Rejection",
    "Role",
    "User",
    "Webhook",
    "point_discord_py_at",
]
