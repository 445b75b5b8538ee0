"""Prometheus metrics: cloud requests, write outcomes, MQTT reconnects, age of each inverter's last refresh.

One registry per bridge (not the global one), so that several bridges, or tests, can live in one process.
Counts the coordinator and the link keep themselves are read at scrape time by a collector.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from bridge import __version__
from bridge.core.commands import Outcome
from bridge.transports.local.dongle import LocalStats

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class BridgeMetrics:
    """One bridge's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._recent: deque[float] = deque(maxlen=100_000)
        self._requests = Counter(
            "eg4_bridge_cloud_requests",
            "Requests to the cloud, by endpoint and outcome",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "eg4_bridge_cloud_request_seconds",
            "Time from sending a cloud request to its answer, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_request(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._requests.labels(endpoint, outcome).inc()
        self._latency.labels(endpoint).observe(seconds)
        self._recent.append(time.monotonic())

    def requests_per_minute(self) -> float:
        """Cloud requests in the last minute."""
        since = time.monotonic() - 60
        return float(sum(1 for when in self._recent if when >= since))

    def watch(
        self,
        command_outcomes: Mapping[str, int],
        connections: Callable[[], int],
        last_good_refresh: Callable[[], Mapping[str, float]],
        dropped: Callable[[], int] = lambda: 0,
        published: Callable[[], int] = lambda: 0,
        energy_held_back: Callable[[], int] = lambda: 0,
        readings_dropped: Callable[[], int] = lambda: 0,
    ) -> None:
        """Report what the coordinator and the link count, read afresh at every scrape."""
        self.registry.register(
            _StateCollector(
                command_outcomes,
                connections,
                last_good_refresh,
                dropped,
                published,
                energy_held_back,
                readings_dropped,
            )
        )

    def watch_local_transports(self, stats: Mapping[str, tuple[str, LocalStats]]) -> None:
        """Report each dongle's or adapter's counts (by the inverter behind it and the transport's name),
        read afresh at every scrape."""
        self.registry.register(_LocalCollector(stats))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _StateCollector(Collector):
    def __init__(
        self,
        command_outcomes: Mapping[str, int],
        connections: Callable[[], int],
        last_good_refresh: Callable[[], Mapping[str, float]],
        dropped: Callable[[], int],
        published: Callable[[], int],
        energy_held_back: Callable[[], int],
        readings_dropped: Callable[[], int],
    ) -> None:
        self._energy_held_back = energy_held_back
        self._readings_dropped = readings_dropped
        self._command_outcomes = command_outcomes
        self._connections = connections
        self._last_good_refresh = last_good_refresh
        self._dropped = dropped
        self._published = published

    def collect(self) -> Iterable[Metric]:
        info = InfoMetricFamily("eg4_bridge", "The running bridge")
        info.add_metric([], {"version": __version__})
        yield info
        commands = CounterMetricFamily(
            "eg4_bridge_commands", "Commands from /set topics, by outcome", labels=["outcome"]
        )
        for outcome in Outcome:
            commands.add_metric([outcome.value], self._command_outcomes.get(outcome, 0))
        yield commands
        dropped = CounterMetricFamily(
            "eg4_bridge_mqtt_messages_dropped",
            "MQTT messages dropped: results beyond the outbox limit, and messages no broker could take",
        )
        dropped.add_metric([], self._dropped())
        yield dropped
        published = CounterMetricFamily(
            "eg4_bridge_mqtt_messages_published",
            "MQTT messages handed to the broker link: states, discovery, results",
        )
        published.add_metric([], self._published())
        yield published
        held_back = CounterMetricFamily(
            "eg4_bridge_energy_readings_held_back",
            "Energy counter readings lower than the last published, held back (never published)",
        )
        held_back.add_metric([], self._energy_held_back())
        yield held_back
        canary = CounterMetricFamily(
            "eg4_bridge_settings_reads_dropped",
            "Settings reads dropped because the inverter's device type code (the canary) changed",
        )
        canary.add_metric([], self._readings_dropped())
        yield canary
        reconnects = CounterMetricFamily(
            "eg4_bridge_mqtt_reconnects", "Connections to the broker after the first"
        )
        reconnects.add_metric([], max(0, self._connections() - 1))
        yield reconnects
        age = GaugeMetricFamily(
            "eg4_bridge_last_refresh_age_seconds",
            "Seconds since each inverter was last read without error",
            labels=["serial"],
        )
        now = time.monotonic()
        for serial, when in sorted(self._last_good_refresh().items()):
            age.add_metric([serial], round(now - when, 3))
        yield age


#: Each register transport's counter (a dongle's, an RS485 adapter's): its metric name, help text, and the
#: count of `LocalStats` it reports.
LOCAL_COUNTERS = (
    ("eg4_bridge_local_requests", "Requests sent through the inverter's dongle or RS485 adapter", "requests"),
    ("eg4_bridge_local_reconnects", "Connections to the dongle or adapter after the first", "reconnects"),
    (
        "eg4_bridge_local_frames_skipped",
        "Frames from the dongle that answered no request: heartbeats, the cloud's traffic, stale replies",
        "skipped_frames",
    ),
    ("eg4_bridge_local_heartbeats_answered", "Dongle heartbeats echoed back", "heartbeats_answered"),
)


class _LocalCollector(Collector):
    def __init__(self, stats: Mapping[str, tuple[str, LocalStats]]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        for name, text, count in LOCAL_COUNTERS:
            family = CounterMetricFamily(name, text, labels=["serial", "transport"])
            for serial, (transport, stats) in sorted(self._stats.items()):
                family.add_metric([serial, transport], getattr(stats, count))
            yield family
