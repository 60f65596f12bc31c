"""The emulated Discord gateway (v10): HELLO, IDENTIFY/READY, heartbeats, RESUME and dispatch.

Sessions outlive sockets: events dispatched while a client is disconnected are
kept in the session log and replayed by sequence when it RESUMEs, as Discord
does. With ``compress=zlib-stream`` in the URL every payload goes out through
one shared zlib stream, each ending in a Z_SYNC_FLUSH (``00 00 ff ff``) as
binary frames; without it payloads are JSON text frames. discord.py asks for
``zstd-stream`` instead when the ``zstandard`` module is importable; the
emulator then answers with one zstd stream flushed per payload (and refuses
that mode, with a log line, when it cannot import ``zstandard`` itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from ._state import Notifier, World

log = logging.getLogger(__name__)

# Opcodes
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE, RESUME, RECONNECT = 0, 1, 2, 3, 4, 6, 7
REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 8, 9, 10, 11

# Which intent a dispatched event needs (events not listed always go out).
GUILDS, GUILD_MEMBERS, GUILD_MESSAGES, DIRECT_MESSAGES = 1 << 0, 1 << 1, 1 << 9, 1 << 12
_EVENT_INTENT = {
    "GUILD_CREATE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
}


@dataclass
class GatewayFrame:
    """One payload the emulator sent (before compression)."""

    op: int
    t: str | None
    s: int | None
    d: Any
    binary: bool


@dataclass
class Connection:
    ws: web.WebSocketResponse
    compress: str | None
    resume_url: bool
    transport: Any = None
    compressor: Any = None
    flush_mode: int = zlib.Z_SYNC_FLUSH
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: Session | None = None
    frames: list[GatewayFrame] = field(default_factory=list)
    binary_frames: int = 0
    text_frames: int = 0

    async def send(self, payload: dict[str, Any], split: bool) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self.lock:
            if self.ws.closed:
                return
            binary = self.compressor is not None
            self.frames.append(GatewayFrame(payload["op"], payload.get("t"), payload.get("s"),
                                            payload.get("d"), binary))
            try:
                if binary:
                    data = self.compressor.compress(text.encode()) + self.compressor.flush(
                        self.flush_mode
                    )
                    parts = [data[: len(data) // 2], data[len(data) // 2 :]] if split else [data]
                    for part in parts:
                        if part:
                            await self.ws.send_bytes(part)
                            self.binary_frames += 1
                else:
                    await self.ws.send_str(text)
                    self.text_frames += 1
            except (ConnectionError, RuntimeError) as exc:
                log.debug("gateway send failed: %s", exc)


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    conn: Connection | None = None
    ready: bool = False
    ended: bool = False


def _zstd_compressor(conn: Connection) -> bool:
    """Set up zstd-stream on ``conn`` if ``zstandard`` (what discord.py would use) is importable."""
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return False
    conn.compressor = zstandard.ZstdCompressor().compressobj()
    conn.flush_mode = zstandard.COMPRESSOBJ_FLUSH_BLOCK
    return True


class Gateway:
    """Accepts discord.py's websocket, runs sessions and fans out dispatched events."""

    def __init__(
        self,
        world: World,
        notifier: Notifier,
        token: str,
        *,
        heartbeat_interval_ms: int,
        split_compressed_frames: bool,
        resume_url: Callable[[], str],
    ) -> None:
        self.world = world
        self.notifier = notifier
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.split_compressed_frames = split_compressed_frames
        self._resume_url = resume_url
        self.sessions: dict[str, Session] = {}
        self.connections: list[Connection] = []
        self.received: list[dict[str, Any]] = []  # every payload a client sent
        self.identify_count = 0
        self.resume_count = 0
        self.heartbeat_count = 0
        self.replayed_count = 0
        self.closing = False

    # -- public --------------------------------------------------------------
    @property
    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if not s.ended and s.ready]

    def connected(self) -> bool:
        return any(s.conn is not None for s in self.live_sessions)

    async def dispatch(self, event: str, data: dict[str, Any]) -> int:
        """Send a DISPATCH to every live session (queued for disconnected ones); return count."""
        sent = 0
        for session in self.live_sessions:
            needed = _EVENT_INTENT.get(event)
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"):
                needed = GUILD_MESSAGES if data.get("guild_id") else DIRECT_MESSAGES
            if needed is not None and not session.intents & needed:
                continue
            await self._send_event(session, event, data)
            sent += 1
        return sent

    async def guild_join(self, guild: Any) -> None:
        """GUILD_CREATE for a guild added while sessions are live (members per session intents)."""
        for session in self.live_sessions:
            if session.intents & GUILDS:
                data = self.world.guild_create_payload(
                    guild, all_members=bool(session.intents & GUILD_MEMBERS))
                # A join carries no "unavailable" flag; false would mean "back from an outage".
                del data["unavailable"]
                await self._send_event(session, "GUILD_CREATE", data)

    async def drop(self, code: int | None = 4000) -> int:
        """Close every client socket (code None: abort the TCP connection); sessions stay resumable."""
        conns = [c for c in self.connections if not c.ws.closed]
        for conn in conns:
            if conn.session is not None:
                conn.session.conn = None
            if code is None:
                if conn.transport is not None:
                    conn.transport.abort()
            else:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(code=code, message=b"emulator drop"), 2)
        self.notifier.notify()
        return len(conns)

    async def send_op(self, op: int, d: Any) -> None:
        for session in self.live_sessions:
            if session.conn is not None:
                await session.conn.send({"op": op, "d": d, "s": None, "t": None},
                                        self.split_compressed_frames)

    async def invalidate(self, resumable: bool = False) -> None:
        """Send INVALID_SESSION; with ``resumable=False`` the sessions end (the client re-IDENTIFYs)."""
        for session in self.live_sessions:
            conn = session.conn
            if not resumable:
                session.ended = True
            if conn is not None:
                await conn.send({"op": INVALID_SESSION, "d": resumable, "s": None, "t": None},
                                self.split_compressed_frames)
        self.notifier.notify()

    async def close_all(self) -> None:
        self.closing = True
        for conn in list(self.connections):
            if not conn.ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.ws.close(code=1001, message=b"emulator stopping"), 2)

    # -- internals -----------------------------------------------------------
    async def _send_event(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        payload = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.log.append(payload)
        if session.conn is not None:
            await session.conn.send(payload, self.split_compressed_frames)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.closing:
            raise web.HTTPServiceUnavailable()
        compress = request.query.get("compress")
        encoding = request.query.get("encoding", "json")
        ws = web.WebSocketResponse(max_msg_size=0, autoclose=False, autoping=True)
        await ws.prepare(request)
        if encoding != "json":
            await ws.close(code=4002, message=b"only encoding=json is emulated")
            return ws
        conn = Connection(ws, compress, resume_url=request.path.startswith("/resume"),
                          transport=request.transport)
        if compress == "zlib-stream":
            conn.compressor = zlib.compressobj()
        elif compress == "zstd-stream" and _zstd_compressor(conn):
            pass
        elif compress is not None:
            log.error("gateway: client asked for unsupported compress=%s", compress)
            await ws.close(code=4000, message=b"unsupported compress")
            return ws
        self.connections.append(conn)
        self.notifier.notify()
        await conn.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms},
                         "s": None, "t": None}, self.split_compressed_frames)
        try:
            await self._serve(conn)
        finally:
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in (1000, 1001) and not self.closing:
                    # A clean client close ends the session, as on Discord.
                    session.ended = True
            self.notifier.notify()
        return ws

    async def _serve(self, conn: Connection) -> None:
        ws = conn.ws
        async for msg in ws:
            if msg.type == WSMsgType.CLOSE:
                await ws.close()
                break
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    await ws.close(code=4002, message=b"binary payloads are not emulated")
                continue
            try:
                payload = json.loads(msg.data)
                op = payload["op"]
            except (ValueError, KeyError, TypeError):
                await ws.close(code=4002, message=b"Error while decoding payload.")
                break
            self.received.append(payload)
            await self._on_payload(conn, op, payload.get("d"))
            self.notifier.notify()

    async def _on_payload(self, conn: Connection, op: int, d: Any) -> None:
        split = self.split_compressed_frames
        if op == HEARTBEAT:
            self.heartbeat_count += 1
            await conn.send({"op": HEARTBEAT_ACK, "d": None, "s": None, "t": None}, split)
        elif op == IDENTIFY:
            await self._identify(conn, d or {})
        elif op == RESUME:
            await self._resume(conn, d or {})
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == REQUEST_MEMBERS:
            await self._members_chunk(conn.session, d or {})
        elif op in (PRESENCE, VOICE):
            pass  # recorded in self.received; nothing to answer
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    async def _identify(self, conn: Connection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if "intents" not in d:
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        self.identify_count += 1
        session = Session(id=secrets.token_hex(16), intents=int(d["intents"]))
        self.sessions[session.id] = session
        session.conn = conn
        conn.session = session
        guilds = list(self.world.guilds.values())
        ready = {
            "v": 10,
            "user": self.world.bot_user.payload() | {"verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self._resume_url(),
            "shard": [0, 1],
            "application": {"id": str(self.world.application_id), "flags": 1 << 23},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
            "auth_session_id_hash": secrets.token_hex(8),
        }
        await self._send_event(session, "READY", ready)
        if session.intents & GUILDS:
            for guild in guilds:
                data = self.world.guild_create_payload(
                    guild, all_members=bool(session.intents & GUILD_MEMBERS))
                await self._send_event(session, "GUILD_CREATE", data)
        session.ready = True

    async def _resume(self, conn: Connection, d: dict[str, Any]) -> None:
        split = self.split_compressed_frames
        session = self.sessions.get(str(d.get("session_id")))
        if d.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if session is None or session.ended:
            await conn.send({"op": INVALID_SESSION, "d": False, "s": None, "t": None}, split)
            return
        seq = d.get("seq") or 0
        if seq > session.seq:
            await conn.ws.close(code=4007, message=b"Invalid seq.")
            return
        self.resume_count += 1
        old = session.conn
        if old is not None and old is not conn and not old.ws.closed:
            await old.ws.close(code=4000, message=b"session resumed elsewhere")
        conn.session = session
        # Replay under the connection lock's ordering: no new event can be sent to this
        # connection until the session points at it, which happens after the replay.
        for payload in session.log:
            if payload["s"] > seq:
                await conn.send(payload, split)
                self.replayed_count += 1
        session.seq += 1
        resumed = {"op": DISPATCH, "t": "RESUMED", "s": session.seq, "d": {}}
        session.log.append(resumed)
        await conn.send(resumed, split)
        session.conn = conn

    async def _members_chunk(self, session: Session, d: dict[str, Any]) -> None:
        guild = self.world.guilds.get(int(d.get("guild_id", 0)))
        if guild is None:
            return
        members = list(guild.members.values())
        if d.get("user_ids"):
            wanted = {int(u) for u in d["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif d.get("query"):
            q = str(d["query"]).lower()
            members = [m for m in members if m.user.name.lower().startswith(q)]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.payload() for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        await self._send_event(session, "GUILD_MEMBERS_CHUNK", chunk)
