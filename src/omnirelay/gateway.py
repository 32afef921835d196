"""The shared resources of one serving process, created and closed by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from omnirelay import __version__
from omnirelay.billing import Ledger, Usage
from omnirelay.catalogue import ModelInfo, builtin_models, seed_models
from omnirelay.channels import Channel, disable_channel, upsert_channels
from omnirelay.config import ChannelSpec, Settings
from omnirelay.crypto import SecretBox, load_secret_box
from omnirelay.errors import GatewayError
from omnirelay.formats import kling, suno
from omnirelay.formats.midjourney import actions as mj_actions
from omnirelay.formats.midjourney import render as mj_render
from omnirelay.health import Policy, broken_reason
from omnirelay.keys import KeyCache, KeyRecord, ensure_admin_key
from omnirelay.metering import Meter
from omnirelay.nodes import NodeRegistry
from omnirelay.observability.metrics import Sample
from omnirelay.observability.observer import Observer
from omnirelay.observability.sampling import channel_states, pool_use
from omnirelay.outbound import GuardedClient, OutboundPolicy
from omnirelay.platform import channel_admin
from omnirelay.platform.auth_throttle import AuthThrottle
from omnirelay.platform.bus import Bus, RedisBus
from omnirelay.platform.limits.admission import Limiter
from omnirelay.platform.limits.base import LimitBackend, Scope
from omnirelay.platform.limits.memory import MemoryLimits
from omnirelay.platform.redis_link import RedisLink
from omnirelay.platform.usage_log import delete_old_usage, spent_by_scope
from omnirelay.relay import Relay, RetryPolicy, Timeouts
from omnirelay.reloading import ConfigReader
from omnirelay.routing import Router
from omnirelay.store import Database, open_database
from omnirelay.tasks.engine import TaskEngine, TaskTiming
from omnirelay.tasks.outbox import Outbox
from omnirelay.tasks.poller import Poller
from omnirelay.tasks.pricing import (
    TaskPrices,
    builtin_entries,
    seed_task_prices,
)
from omnirelay.tasks.signing import SigningKeys
from omnirelay.tasks.store import TaskStore
from omnirelay.tasks.webhooks import WebhookSender
from omnirelay.usage import UsageWriter
from omnirelay.vendors import Vendor, default_vendors

log = logging.getLogger(__name__)


def demo_channels(settings: Settings) -> list[ChannelSpec]:
    """In demo mode every vendor family is served by the sandbox on loopback."""
    base = f"http://127.0.0.1:{settings.sandbox_port}"
    return [
        ChannelSpec(
            name="sandbox-openai",
            vendor="openai",
            base_url=f"{base}/v1",
            secret=settings.sandbox_key,
            models=(),
        ),
        ChannelSpec(
            name="sandbox-kling",
            vendor="kling",
            base_url=f"{base}/kling",
            secret=f"{settings.sandbox_kling_access_key}:{settings.sandbox_kling_secret_key}",
            models=(),
        ),
        ChannelSpec(
            name="sandbox-midjourney",
            vendor="midjourney",
            base_url=base,
            secret=settings.sandbox_key,
            models=(),
        ),
        ChannelSpec(
            name="sandbox-anthropic",
            vendor="anthropic",
            base_url=base,
            secret=settings.sandbox_key,
            models=(),
        ),
        ChannelSpec(
            name="sandbox-gemini",
            vendor="gemini",
            base_url=base,
            secret=settings.sandbox_key,
            models=(),
        ),
        ChannelSpec(
            name="sandbox-suno",
            vendor="suno",
            base_url=base,
            secret=settings.sandbox_key,
            models=(),
        ),
        ChannelSpec(
            name="sandbox-ideogram",
            vendor="ideogram",
            base_url=f"{base}/ideogram",
            secret=settings.sandbox_key,
            models=(),
        ),
        ChannelSpec(
            name="sandbox-bfl",
            vendor="bfl",
            base_url=f"{base}/bfl",
            secret=settings.sandbox_key,
            models=(),
        ),
    ]


async def bootstrap(
    settings: Settings, *, with_demo_channels: bool = True, ensure_admin: bool = True
) -> str | None:
    """Run once before serving: migrate, seed the catalogue and channels, ensure an admin key.

    Returns an admin key generated now (to be shown once), or None.
    """
    db = await open_database(settings.resolved_database_url, migrate=True)
    try:
        box = load_secret_box(settings.secret_key, settings.data_dir)
        await seed_models(db, builtin_models(), settings.models)
        await seed_task_prices(db, builtin_entries())
        specs = list(settings.channels)
        if settings.demo and with_demo_channels:
            specs += demo_channels(settings)
        await upsert_channels(db, box, specs)
        if not ensure_admin:
            return None
        generated = await ensure_admin_key(db, settings.admin_key)
        if generated and settings.demo:
            # Demo data is throwaway; keeping its admin key on disk makes the tour repeatable.
            path = settings.data_dir / "demo-admin.key"
            path.write_text(generated + "\n", encoding="utf-8")
            path.chmod(0o600)
        return generated
    finally:
        await db.close()


def _task_engine(
    settings: Settings,
    db: Database,
    ledger: Ledger,
    router: Router,
    vendors: Mapping[str, Vendor],
    session: aiohttp.ClientSession,
    webhooks: WebhookSender,
    limiter: Limiter | None = None,
    outbound: GuardedClient | None = None,
    observer: Observer | None = None,
) -> TaskEngine:
    timing = TaskTiming(
        first_poll=settings.task_poll_seconds,
        max_poll=settings.task_poll_max_seconds,
        lease=settings.task_lease_seconds,
        timeout=settings.task_timeout_seconds,
    )
    # Each client format with task endpoints renders its own webhook bodies.
    origin = settings.public_url.rstrip("/") or f"http://{settings.host}:{settings.port}"
    renderers = {**kling.RENDERERS, **suno.RENDERERS, **mj_render.renderers(origin)}
    return TaskEngine(
        store=TaskStore(db),
        ledger=ledger,
        router=router,
        vendors=vendors,
        session=session,
        webhooks=webhooks,
        renderers=renderers,
        timing=timing,
        progress_webhooks=mj_actions.ACTIONS,
        limiter=limiter,
        outbound=outbound.policy if outbound is not None else None,
        on_finished=observer.task_finished if observer is not None else None,
    )


def health_policy(settings: Settings) -> Policy:
    return Policy(
        failures=max(1, settings.channel_failures),
        window=settings.channel_failure_window_seconds,
        cooldown=settings.channel_cooldown_seconds,
    )


def relay_timeouts(settings: Settings) -> Timeouts:
    """The settings' timeouts (a channel may override each)."""
    read = settings.upstream_read_timeout or None
    return Timeouts(
        connect=settings.upstream_connect_timeout or None,
        first_byte=settings.upstream_first_byte_timeout or read,
        idle=settings.upstream_idle_timeout or read,
        total=settings.upstream_total_timeout or None,
    )


async def _platform(settings: Settings, db: Database) -> tuple[RedisLink | None, LimitBackend, Bus]:
    """Rate limits and invalidations: shared through Redis when one is configured."""

    async def seed(scope: Scope) -> tuple[int, int]:
        return await spent_by_scope(db, scope.id)

    if not settings.redis_url:
        if settings.workers > 1:
            log.info(
                "no Redis configured: each of the %d workers counts rate limits on its own",
                settings.workers,
            )
        return None, MemoryLimits(seed), Bus()
    from omnirelay.platform.limits.redis import RedisLimits  # only with Redis: its client is big

    link = RedisLink(settings.redis_url)
    await link.start()
    return link, RedisLimits(link, seed), RedisBus(link)


@dataclass(slots=True)
class Gateway:
    settings: Settings
    db: Database
    box: SecretBox
    session: aiohttp.ClientSession
    vendors: Mapping[str, Vendor]
    keys: KeyCache
    ledger: Ledger
    usage: UsageWriter
    router: Router
    relay: Relay
    tasks: TaskEngine
    task_prices: TaskPrices
    limiter: Limiter
    bus: Bus
    outbound: GuardedClient
    observer: Observer
    redis: RedisLink | None = None
    nodes: NodeRegistry | None = None
    catalogue: dict[str, ModelInfo] = field(default_factory=dict)
    _prober: asyncio.Task[None] | None = None
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    _refresher: asyncio.Task[None] | None = None
    _retention: asyncio.Task[None] | None = None
    _poller: Poller | None = None
    _webhooks: WebhookSender | None = None
    _reader: ConfigReader | None = None

    @classmethod
    async def open(cls, settings: Settings, in_flight: Callable[[], int] | None = None) -> Gateway:
        """``in_flight`` counts the requests the app serves (the usage writer's hint)."""
        db = await open_database(settings.resolved_database_url, migrate=False)
        observer = Observer(__version__, metrics=settings.metrics)
        tracing = observer.tracing
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=settings.upstream_connect_timeout,
            sock_read=settings.upstream_read_timeout,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=True,
            skip_auto_headers=("User-Agent",),
            # Upstream calls become child spans of the request (or poll) that made them.
            trace_configs=[tracing.trace_config()] if tracing is not None else None,
        )
        router = Router(policy=health_policy(settings))
        vendors = default_vendors()
        registry = NodeRegistry(
            db,
            heartbeat=settings.node_heartbeat_seconds,
            dead_after=settings.node_dead_seconds,
            version=__version__,
        )
        await registry.join()
        ledger = Ledger(db, registry=registry)
        registry.on_fenced = ledger.forget
        # Fetches made on a user's behalf have a client (and a connection pool) of their own.
        outbound = GuardedClient(
            OutboundPolicy(settings.outbound_allow_rules),
            connect_timeout=settings.upstream_connect_timeout,
        )
        box = load_secret_box(settings.secret_key, settings.data_dir)
        webhooks = WebhookSender(
            outbound,
            db,
            signing=SigningKeys(box, legacy=settings.webhook_legacy_signing),
            retry_seconds=settings.webhook_retry_seconds,
            give_up_seconds=settings.webhook_give_up_seconds,
        )
        link, backend, bus = await _platform(settings, db)
        limiter = Limiter(backend)
        engine = _task_engine(
            settings, db, ledger, router, vendors, session, webhooks, limiter, outbound, observer
        )
        gateway = cls(
            settings=settings,
            db=db,
            box=box,
            session=session,
            vendors=vendors,
            keys=KeyCache(
                db, settings.cache_ttl_seconds, AuthThrottle(settings.auth_failures_per_minute)
            ),
            ledger=ledger,
            usage=UsageWriter(
                db, settings.usage_flush_seconds, returns=ledger.returns, in_flight=in_flight
            ),
            router=router,
            relay=Relay(
                session,
                router,
                vendors,
                timeouts=relay_timeouts(settings),
                retry=RetryPolicy(settings.relay_attempts, settings.relay_backoff_seconds),
            ),
            tasks=engine,
            task_prices=TaskPrices.builtin(),
            limiter=limiter,
            bus=bus,
            outbound=outbound,
            observer=observer,
            redis=link,
            nodes=registry,
        )
        router.on_disable = gateway._disabled
        await gateway.reload()
        registry.start()
        bus.subscribe(gateway._invalidated)
        await bus.start()
        gateway.usage.start()
        gateway.keys.start()
        gateway._webhooks = webhooks
        webhooks.start()
        gateway._poller = Poller(engine, span=tracing.span if tracing is not None else None)
        gateway._poller.start()
        observer.start(gateway.sample)
        gateway._refresher = asyncio.create_task(gateway._refresh_loop(), name="refresh")
        if settings.usage_retention_days > 0:
            gateway._retention = asyncio.create_task(gateway._retention_loop(), name="retention")
        if settings.channel_probe_seconds > 0:
            gateway._prober = asyncio.create_task(gateway._probe_loop(), name="channel-probes")
        return gateway

    async def meter(
        self,
        key: KeyRecord,
        model: ModelInfo,
        endpoint: str,
        estimate: Usage,
        *,
        stream: bool = False,
        request_id: str | None = None,
    ) -> Meter:
        """Hold ``estimate``'s price on the key (or raise ``QuotaExceeded``) for one request."""
        return await Meter.start(
            self.ledger,
            self.usage,
            key=key,
            model=model,
            endpoint=endpoint,
            estimate=estimate,
            stream=stream,
            request_id=request_id,
            limiter=self.limiter,
        )

    async def reload(self) -> None:
        """Re-read the catalogue and channels (other processes may have changed them); what
        has not changed since the last read is kept as it is (``reloading``)."""
        read_at = time.monotonic()  # the router's clock: disablings written before are seen
        if self._reader is None:
            families = {name: vendor.families for name, vendor in self.vendors.items()}
            self._reader = ConfigReader(self.db, self.box, families)
        found = await self._reader.read()
        if found.catalogue is not None:
            self.catalogue = found.catalogue
        if found.channels is not None:
            self.router.replace(found.channels, read_at=read_at)
        if found.task_prices is not None:
            self.task_prices = found.task_prices

    async def changed(self, topic: str) -> None:
        """Something an admin changed: every node's caches follow (``platform.bus``)."""
        await self.bus.publish(topic)

    async def _invalidated(self, topic: str) -> None:
        if topic == "keys":
            self.keys.invalidate()
        elif topic == "catalogue":
            await self.reload()

    def _disabled(self, channel: Channel, reason: str, model: str | None) -> None:
        """The router stopped picking a broken channel: write it down, tell the other nodes."""

        async def write() -> None:
            try:
                await disable_channel(self.db, channel.id, reason, model)
                self.router.disable_written(channel.id, model)
                await self.changed("catalogue")
            except Exception:
                log.exception("recording that channel %s is disabled failed", channel.name)

        self._spawn(write(), f"disable-{channel.id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _probe_loop(self) -> None:
        """Half-open channels that real traffic has not probed get a synthetic probe."""
        while True:
            await asyncio.sleep(1.0)
            for channel in self.router.probes_due(self.settings.channel_probe_seconds):
                if self.router.acquire(channel):
                    self._spawn(self._probe(channel), f"probe-{channel.id}")

    async def _probe(self, channel: Channel) -> None:
        vendor = self.vendors.get(channel.vendor)
        if vendor is None:
            return
        try:
            model = channel_admin.model_to_test(channel, self.catalogue, None)
            await asyncio.wait_for(
                channel_admin.ping(self.session, vendor, channel, model),
                self.relay.timeouts.of(channel).first_byte or channel_admin.TEST_TIMEOUT,
            )
        except GatewayError as error:
            broken = broken_reason(error, "")
            if broken is not None and broken.model is None:
                self.router.disable(channel, broken.reason)
            else:
                self.router.report_failure(channel, f"probe: {error.message}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.router.report_failure(channel, f"probe: unreachable ({type(exc).__name__})")
        else:
            log.info("channel %s answered its probe: closed again", channel.name)
            self.router.report_success(channel)

    @property
    def outbox(self) -> Outbox:
        """The webhook outbox (the admin API lists and re-sends deliveries)."""
        assert self._webhooks is not None
        return self._webhooks.outbox

    def webhooks_wake(self) -> None:
        if self._webhooks is not None:
            self._webhooks.wake()

    def sample(self) -> Sample:
        """This process's figures, for the metrics (``observability``)."""
        pending, lag = self.usage.backlog()
        checked_out, size = pool_use(self.db.engine.sync_engine)
        throttle = self.keys.throttle
        return Sample(
            channels=channel_states(self.router),
            usage_pending=pending,
            usage_lag_seconds=lag,
            pool_checked_out=checked_out,
            pool_size=size,
            rate_limit_refusals=self.limiter.refusals,
            auth_refusals=throttle.refusals if throttle is not None else 0,
            auth_failures=throttle.failures if throttle is not None else 0,
            webhooks_pending=self._webhooks.pending if self._webhooks is not None else 0,
        )

    def health(self) -> dict[str, str]:
        """``status`` is ``degraded`` while a configured Redis is unreachable."""
        redis = self.redis.status if self.redis is not None else "off"
        return {
            "status": "degraded" if redis == "degraded" else "ok",
            "redis": redis,
            "limits": self.limiter.backend.status,
        }

    async def _retention_loop(self) -> None:
        while True:
            try:
                deleted = await delete_old_usage(self.db, self.settings.usage_retention_days)
                if deleted:
                    log.info("retention: deleted %d usage records", deleted)
            except Exception:
                log.exception("deleting old usage records failed; will retry")
            await asyncio.sleep(3600)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cache_ttl_seconds)
            try:
                await self.reload()
            except Exception:
                log.exception("reloading channels failed; keeping the previous state")

    async def close(self) -> None:
        await self.observer.stop()
        if self._poller is not None:
            await self._poller.stop()
        if self._webhooks is not None:
            await self._webhooks.stop()
        for task in (self._refresher, self._retention, self._prober, *self._background):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.bus.close()
        await self.keys.stop()
        try:
            # Lease extensions first: the writer's last flush returns every lease.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ledger.close(), 10)
            await asyncio.wait_for(self.usage.stop(), 10)
            if self.nodes is not None:
                await self.nodes.leave()
        finally:
            if self.nodes is not None:
                await self.nodes.stop()  # also when the database was away for the above
            await self.limiter.backend.close()
            if self.redis is not None:
                await self.redis.close()
            await self.session.close()
            await self.outbound.close()
            await self.db.close()
