"""The gateway's Prometheus metrics (prometheus-client).

Three kinds of figures, each gathered where it is cheap:

- per request, on the hot path (``Metrics.request``): counts by surface, model and status,
  latency and time-to-first-byte histograms, tokens and quota spent. Labelled children are
  cached, so a request costs a dictionary lookup and a few additions;
- sampled from this process every few seconds (``Metrics.sample``, fed by ``Sample``): channel
  circuit state and upstream errors (read from ``routing.Router`` in ``sampling.py``, the one
  place that does), the usage writer's backlog and lag, DB pool use, rate-limit refusals;
- read from the database when scraped (``Metrics.render``'s ``extra``): open tasks by vendor
  and state, the poller's lag.

With several workers (``serve --workers N``) the process that starts them sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker imports prometheus-client; each worker then
writes its figures to files there and any worker's scrape reads them all. That is why the
client is imported here only when a ``Metrics`` is made, never at import time.
"""

from __future__ import annotations

import asyncio
import bisect
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# How long a request's figures may wait to go in with others' (``Metrics.request``).
FLUSH_SECONDS = 0.005
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True, slots=True)
class ChannelState:
    """One channel as this process sees it (``sampling.channel_states``)."""

    name: str
    vendor: str
    open: bool  # the circuit is open: the channel is cooling down after repeated failures
    failures_in_a_row: int
    errors: int  # upstream errors since this process started


@dataclass(frozen=True, slots=True)
class Sample:
    """What this process reports every few seconds."""

    channels: tuple[ChannelState, ...] = ()
    usage_pending: int = 0
    usage_lag_seconds: float = 0.0
    pool_checked_out: int = 0
    pool_size: int = 0
    rate_limit_refusals: int = 0
    auth_refusals: int = 0
    auth_failures: int = 0
    webhooks_pending: int = 0


@dataclass(slots=True)
class _Totals:
    """Process totals already reported, so sampled totals become counter increments."""

    seen: dict[tuple[str, ...], float] = field(default_factory=dict)

    def delta(self, key: tuple[str, ...], total: float) -> float:
        before = self.seen.get(key, 0.0)
        self.seen[key] = total
        return total - before if total >= before else total  # a reset counter starts again


class Metrics:
    def __init__(self, version: str) -> None:
        import prometheus_client as prom

        self._prom = prom
        # ``*_created`` series double the exposition and no dashboard reads them.
        prom.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # One registry per Metrics (several gateways may live in one test process); in
        # multiprocess mode figures go to files and a scrape collects those instead.
        self.registry: CollectorRegistry | None = (
            None if self.multiprocess else prom.CollectorRegistry(auto_describe=True)
        )
        r = self.registry
        self._requests = prom.Counter(
            "omnirelay_requests", "Requests answered", ["surface", "model", "status"], registry=r
        )
        self._latency = prom.Histogram(
            "omnirelay_request_duration_seconds",
            "Time from a request's arrival to its last byte",
            ["surface", "model"],
            buckets=SECONDS,
            registry=r,
        )
        self._ttfb = prom.Histogram(
            "omnirelay_time_to_first_byte_seconds",
            "Time from a request's arrival to its answer's first byte",
            ["surface", "model"],
            buckets=SECONDS,
            registry=r,
        )
        self._tokens = prom.Counter(
            "omnirelay_tokens", "Tokens billed", ["surface", "model", "kind"], registry=r
        )
        self._spent = prom.Counter(
            "omnirelay_spent_micro_usd",
            "Quota spent (micro-dollars charged, requests and tasks)",
            ["surface", "model"],
            registry=r,
        )
        self._tasks = prom.Counter(
            "omnirelay_tasks_finished", "Tasks that ended", ["vendor", "state"], registry=r
        )
        self._upstream_errors = prom.Counter(
            "omnirelay_upstream_errors", "Failed upstream calls", ["channel", "vendor"], registry=r
        )
        self._circuit = prom.Gauge(
            "omnirelay_channel_circuit_open",
            "1 while a channel's circuit is open (cooling down after failures)",
            ["channel", "vendor"],
            multiprocess_mode="max",
            registry=r,
        )
        self._failures = prom.Gauge(
            "omnirelay_channel_failures_in_a_row",
            "Consecutive failed upstream calls of a channel",
            ["channel", "vendor"],
            multiprocess_mode="max",
            registry=r,
        )
        self._refusals = prom.Counter(
            "omnirelay_rate_limited", "Requests refused by a limit", ["reason"], registry=r
        )
        self._auth_failures = prom.Counter(
            "omnirelay_auth_failures", "Requests with a wrong API key", registry=r
        )
        self._usage_pending = prom.Gauge(
            "omnirelay_usage_writer_pending",
            "Usage records not yet written",
            multiprocess_mode="livesum",
            registry=r,
        )
        self._usage_lag = prom.Gauge(
            "omnirelay_usage_writer_lag_seconds",
            "How long the oldest unwritten usage record has waited",
            multiprocess_mode="livemax",
            registry=r,
        )
        self._pool = prom.Gauge(
            "omnirelay_db_pool_connections",
            "Database connections of the pool",
            ["state"],
            multiprocess_mode="livesum",
            registry=r,
        )
        self._webhooks = prom.Gauge(
            "omnirelay_webhooks_pending",
            "Webhook deliveries queued or retrying",
            multiprocess_mode="livesum",
            registry=r,
        )
        info = prom.Gauge(
            "omnirelay_build_info",
            "The running version",
            ["version"],
            multiprocess_mode="max",
            registry=r,
        )
        info.labels(version).set(1)
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._pending: list[tuple[str, str, int, float, float, int, int, int]] = []
        self._money: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self._totals = _Totals()

    def request(
        self,
        surface: str,
        model: str,
        status: int,
        seconds: float,
        first_byte: float,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost: int = 0,
    ) -> None:
        """One answered request (the hot path). Its figures wait a few milliseconds and go in
        with those of the requests that ended meanwhile: a counter or a histogram is added to
        once a batch, not once a request (in multiprocess mode each addition takes a lock and
        writes a file: ~9 us of a request's CPU)."""
        self._pending.append(
            (surface, model, status, seconds, first_byte, prompt_tokens, completion_tokens, cost)
        )
        if len(self._pending) == 1:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a script, a test): at once
                self.flush()
            else:
                loop.call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Adds what requests have reported since the last flush (a scrape flushes first)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        timings: dict[tuple[str, str, int], tuple[list[float], list[float]]] = {}
        money: dict[tuple[str, str], list[int]] = {}
        for surface, model, status, seconds, first, prompt, completion, cost in pending:
            key = (surface, model, status)
            found = timings.get(key)
            if found is None:
                found = timings[key] = ([], [])
            found[0].append(seconds)
            found[1].append(first)
            if prompt or completion or cost:
                sums = money.get((surface, model))
                if sums is None:
                    sums = money[(surface, model)] = [0, 0, 0]
                sums[0] += cost
                sums[1] += prompt
                sums[2] += completion
        for key, (durations, firsts) in timings.items():
            children = self._children.get(key)
            if children is None:
                surface, model, status = key
                children = (
                    self._requests.labels(surface, model, str(status)),
                    self._latency.labels(surface, model),
                    self._ttfb.labels(surface, model),
                )
                self._children[key] = children
            count, latency, ttfb = children
            count.inc(len(durations))
            _observe_all(latency, durations)
            _observe_all(ttfb, firsts)
        for (surface, model), (cost, prompt, completion) in money.items():
            self.spent(surface, model, cost, prompt, completion)

    def spent(
        self, surface: str, model: str, cost: int, prompt_tokens: int = 0, completion: int = 0
    ) -> None:
        money = self._money.get((surface, model))
        if money is None:
            money = (
                self._spent.labels(surface, model),
                self._tokens.labels(surface, model, "prompt"),
                self._tokens.labels(surface, model, "completion"),
            )
            self._money[(surface, model)] = money
        spent, prompt, completion_counter = money
        if cost:
            spent.inc(cost)
        if prompt_tokens:
            prompt.inc(prompt_tokens)
        if completion:
            completion_counter.inc(completion)

    def task_finished(self, vendor: str, model: str, state: str, charged: int) -> None:
        self._tasks.labels(vendor or "none", state).inc()
        if charged:
            self.spent("tasks", model, charged)

    def sample(self, sample: Sample) -> None:
        """This process's periodic figures."""
        for channel in sample.channels:
            labels = (channel.name, channel.vendor)
            self._circuit.labels(*labels).set(1 if channel.open else 0)
            self._failures.labels(*labels).set(channel.failures_in_a_row)
            errors = self._totals.delta(("upstream", *labels), channel.errors)
            if errors:
                self._upstream_errors.labels(*labels).inc(errors)
        for reason, total in (
            ("limits", sample.rate_limit_refusals),
            ("auth_failures", sample.auth_refusals),
        ):
            refused = self._totals.delta(("refused", reason), total)
            if refused:
                self._refusals.labels(reason).inc(refused)
        failed = self._totals.delta(("auth",), sample.auth_failures)
        if failed:
            self._auth_failures.inc(failed)
        self._usage_pending.set(sample.usage_pending)
        self._usage_lag.set(sample.usage_lag_seconds)
        self._pool.labels("checked_out").set(sample.pool_checked_out)
        self._pool.labels("size").set(sample.pool_size)
        self._webhooks.set(sample.webhooks_pending)

    def render(self, extra: Iterable[Metric] = ()) -> bytes:
        """The exposition text: every process's figures, and ``extra`` (read at scrape).
        ``flush`` first, on the event loop's thread (this may run on another)."""
        prom = self._prom
        registry = prom.CollectorRegistry(auto_describe=True)
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            assert self.registry is not None
            registry.register(_Forward(self.registry))
        registry.register(_Fixed(list(extra)))
        return bytes(prom.generate_latest(registry))


def _observe_all(histogram: Any, values: list[float]) -> None:
    """``histogram.observe`` for each value, with one addition per bucket hit and one to the
    sum (the client's own fields; observed one by one if a version lacks them)."""
    buckets = getattr(histogram, "_buckets", None)
    bounds = getattr(histogram, "_upper_bounds", None)
    total = getattr(histogram, "_sum", None)
    if len(values) == 1 or buckets is None or bounds is None or total is None:
        for value in values:
            histogram.observe(value)
        return
    hits = [0] * len(bounds)
    for value in values:
        hits[bisect.bisect_left(bounds, value)] += 1  # the first bound >= value; the last is +Inf
    total.inc(sum(values))
    for index, hit in enumerate(hits):
        if hit:
            buckets[index].inc(hit)


def gauge_family(
    name: str, help_text: str, labels: list[str], rows: Iterable[tuple[Sequence[str], float]]
) -> Metric:
    """A gauge read at scrape time (from the database), for ``Metrics.render``."""
    from prometheus_client.core import GaugeMetricFamily

    family = GaugeMetricFamily(name, help_text, labels=labels)
    for values, value in rows:
        family.add_metric(list(values), value)
    return family


class _Fixed:
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


class _Forward:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


def mark_process_dead(pid: int) -> None:
    """A worker exited: its live gauges stop counting (multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
