"""Health of a running service for /healthz: store, scheduler, sources, Discord; and the probe Docker runs.

``python -m paperboy.health`` asks the local service's /healthz (the address comes from the same
config and environment `paperboy run` reads) and exits 0 when it answers 200, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from storage.redact import mask_secrets

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from paperboy.config import Config, SourceConfig
    from storage.store import Store

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 5.0


class BotState(Protocol):
    """The part of discord.Client the health check reads."""

    def is_ready(self) -> bool: ...

    def is_closed(self) -> bool: ...


class Health:
    """An async callable for feeds.web's ``health=``: its mapping is merged into /healthz.

    ``status`` is "ok" or "unhealthy"; ``reasons`` says why in sentences. A source that
    failed once is reported as "failing" but keeps the service healthy (the next poll may
    well succeed, and restarting paperboy would not fix someone else's server); one that
    has not succeeded for ``stale_after`` intervals since start is "stale" and unhealthy.
    What the ops channel is told (paperboy.ops: a source failing polls in a row or "dropped"
    after a sharp drop, a broken subscription) is read from the store and listed under
    ``warnings``; it keeps the service healthy.
    """

    def __init__(
        self,
        store: Store,
        scheduler: BaseScheduler,
        sources: Sequence[SourceConfig] = (),
        *,
        bot: Callable[[], BotState | None] = lambda: None,
        discord: bool = False,
        jitter: float = 0.0,
        stale_after: float = 3.0,
        connect_grace: float = 120.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.sources = tuple(sources)
        self.bot = bot
        self.discord = discord
        self.jitter = jitter
        self.stale_after = stale_after
        self.connect_grace = connect_grace
        self.clock = clock
        self.started_at = clock()

    async def __call__(self) -> dict[str, Any]:
        reasons: list[str] = []
        warnings: list[str] = []
        ops = await self._ops()
        report: dict[str, Any] = {
            "store": await self._store(reasons),
            "scheduler": self._scheduler(reasons),
            "sources": await self._sources(reasons, ops, warnings),
            "subscriptions": self._subscriptions(ops, warnings),
            "discord": self._discord(reasons),
        }
        if reasons:
            log.warning("unhealthy: %s", "; ".join(reasons))
        # Warnings (a sharp drop, a source failing for a while, a broken subscription) are what the
        # ops channel is told; they do not make the service unhealthy: restarting it fixes none.
        return {"status": "unhealthy" if reasons else "ok", "reasons": reasons, "warnings": warnings, **report}

    async def _ops(self) -> dict[str, Any]:
        from storage.ops import OpsStates

        try:
            states = await asyncio.wait_for(OpsStates(self.store.db).all(), CHECK_TIMEOUT)
        except Exception:
            return {}
        return {st.subject: st for st in states}

    def _subscriptions(self, ops: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
        broken = {st.name: st.detail for subject, st in ops.items()
                  if subject.startswith("subscription:") and st.state == "broken"}
        for sub_id, detail in broken.items():
            warnings.append(f"subscription #{sub_id} broke: {detail}")
        return {"broken": broken}

    async def _store(self, reasons: list[str]) -> dict[str, Any]:
        try:
            papers = await asyncio.wait_for(self.store.count_papers(), CHECK_TIMEOUT)
        except TimeoutError:
            reasons.append(f"store: no answer within {CHECK_TIMEOUT:g} s")
            return {"state": "error", "error": "timeout"}
        except Exception as exc:
            message = str(exc) or type(exc).__name__
            reasons.append(f"store: cannot be read ({message})")
            return {"state": "error", "error": message}
        return {"state": "ok", "papers": papers}

    def _scheduler(self, reasons: list[str]) -> dict[str, Any]:
        from apscheduler.schedulers.base import STATE_PAUSED, STATE_RUNNING

        if self.scheduler.state != STATE_RUNNING:
            # A paused scheduler counts as "running" to APScheduler, but runs no job.
            state = "paused" if self.scheduler.state == STATE_PAUSED else "stopped"
            reasons.append(f"scheduler: {state}, so no source is polled and nothing is announced")
            return {"state": state}
        return {"state": "running", "jobs": len(self.scheduler.get_jobs())}

    async def _sources(self, reasons: list[str], ops: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
        if not self.sources:
            return {}
        try:
            stored = {s.name: s for s in await asyncio.wait_for(self.store.sources(), CHECK_TIMEOUT)}
        except Exception:
            # The store check has already said why; the sources cannot be judged without it.
            return {s.name: {"state": "unknown"} for s in self.sources}
        now = self.clock()
        out: dict[str, Any] = {}
        for source in self.sources:
            row = stored.get(source.name)
            last_ok = row.last_success_at if row else None
            error = row.last_error if row else None
            entry: dict[str, Any] = {
                "state": "ok",
                "last_polled_at": _iso(row.last_polled_at if row else None),
                "last_success_at": _iso(last_ok),
                "last_error": mask_secrets(error) if error else None,
            }
            # Downtime before this start is not the source's fault: count from whichever is later.
            since = max(last_ok, self.started_at) if last_ok else self.started_at
            allowed = self.stale_after * source.interval + self.jitter
            waited = (now - since).total_seconds()
            if waited > allowed:
                entry["state"] = "stale"
                reasons.append(
                    f"source {source.name}: no successful poll for {waited:.0f} s (polled every "
                    f"{source.interval:g} s)" + (f"; last error: {error}" if error else "")
                )
            elif error:
                entry["state"] = "failing"
            elif row is None or row.last_polled_at is None:
                entry["state"] = "pending"
            st = ops.get(f"source:{source.name}")
            if st is not None:
                entry["consecutive_failures"] = st.failures
                entry["last_good_papers"] = st.last_good
                if st.state == "dropped":
                    if entry["state"] == "ok":
                        entry["state"] = "dropped"
                    warnings.append(f"source {source.name}: sharp drop, the last poll returned {st.detail}")
                elif st.state == "failing":
                    warnings.append(f"source {source.name}: failed {st.failures} polls in a row: {st.detail}")
            out[source.name] = entry
        return out

    def _discord(self, reasons: list[str]) -> dict[str, Any]:
        if not self.discord:
            return {"state": "off"}
        bot = self.bot()
        waited = (self.clock() - self.started_at).total_seconds()
        if bot is None or (not bot.is_closed() and not bot.is_ready()):
            if waited > self.connect_grace:
                reasons.append(f"discord: not connected {waited:.0f} s after start")
                return {"state": "connecting", "error": "not connected"}
            return {"state": "connecting"}
        if bot.is_closed():
            reasons.append("discord: the gateway connection is closed")
            return {"state": "disconnected"}
        entry: dict[str, Any] = {"state": "connected"}
        latency = getattr(bot, "latency", None)
        if isinstance(latency, float) and math.isfinite(latency):
            entry["latency_ms"] = round(latency * 1000, 1)
        return entry


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# -- the probe ------------------------------------------------------------------------------


def local_url(config: Config) -> str:
    """Where this machine reaches the service's /healthz: a wildcard listen address means loopback."""
    from storage.errors import ConfigError

    if not config.http.enabled:
        raise ConfigError("[http] enabled = false: there is no /healthz to ask")
    if config.http.port == 0:
        raise ConfigError("[http] port = 0 picks a port at start-up; set a fixed port for the health probe")
    host = config.http.host
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.http.port}/healthz"


def probe(url: str, *, timeout: float = CHECK_TIMEOUT) -> tuple[bool, str]:
    """GET ``url``; (True, body) on 200, (False, why) on anything else."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code}: {exc.read().decode('utf-8', 'replace')}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"cannot reach {url}: {getattr(exc, 'reason', exc)}"


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    from paperboy import config as config_mod
    from storage.errors import PaperboyError

    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    try:
        url = args[0] if args else local_url(config_mod.load(env.get("PAPERBOY_CONFIG") or None, env=env))
    except PaperboyError as exc:
        print(f"paperboy health: {exc}", file=sys.stderr)
        return 2
    ok, text = probe(url)
    print(text.strip(), file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
