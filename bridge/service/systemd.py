"""systemd's notify protocol, spoken directly: READY=1, WATCHDOG=1, STOPPING=1 as datagrams.

See sd_notify(3). With no NOTIFY_SOCKET in the environment (not under systemd) every call does nothing.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


class Notifier:
    """Tells systemd the bridge is ready, alive or stopping; does nothing when not under systemd."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # A leading @ names a socket in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._watchdog_seconds = _watchdog_seconds(env)

    @property
    def watchdog_interval(self) -> float | None:
        """How often to send WATCHDOG=1: half the period systemd waits, or `None` without a watchdog."""
        return None if self._watchdog_seconds is None else self._watchdog_seconds / 2

    def notify(self, message: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("systemd_notify_failed", error=str(exc))


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1_000_000
    except ValueError:
        return None
