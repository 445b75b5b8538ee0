"""The status page (`GET /` on the health server): what the bridge is doing, for a person, on a phone or
under Home Assistant's ingress. Plain server-rendered HTML that reloads itself; links are relative, so it
works under any path prefix. Rendering is a pure function of a `Status` snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Final

#: Seconds between the page's reloads.
REFRESH_SECONDS: Final = 10


@dataclass(frozen=True, slots=True)
class SettingRow:
    """One setting of an inverter on the page: its value as read, and the owner's limit."""

    name: str
    #: As last read, with its unit.
    value: str
    #: The owner's limit, with its unit, or "".
    limit: str
    #: Held beyond the owner's limit or the setting's own range.
    beyond: bool = False


@dataclass(frozen=True, slots=True)
class InverterStatus:
    """One inverter on the page: online or not, how fresh, through what, its live values and settings."""

    serial: str
    model: str
    online: bool | None
    #: Seconds since its last good read, or `None` before one.
    refreshed_ago: float | None
    transport: str
    settings: Sequence[SettingRow] = ()
    #: Why the last request about it failed (login refused, dongle silent, ...), or `None`.
    reason: str | None = None
    #: The values owners look at first, each with its label and unit (SOC, PV, battery, grid, load).
    live: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class CommandStatus:
    """One recent command on the page: what was asked of which setting, and how it went."""

    when: str
    serial: str
    setting: str
    requested: str
    outcome: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Status:
    """Everything the page shows, as one snapshot: the broker, the cloud's load, inverters, commands."""

    version: str
    broker: str
    broker_connected: bool
    cloud_requests_per_minute: float
    inverters: Sequence[InverterStatus] = ()
    commands: Sequence[CommandStatus] = field(default_factory=tuple)
    #: Why the broker link is down, or `None`.
    broker_reason: str | None = None
    #: When the page was made, in the bridge's local time.
    generated: str = ""


STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:.5rem;color:#1b1b1b}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #ddd;padding:.3rem;
text-align:left;vertical-align:top}.ok{color:#16632a}.bad{color:#a4161a}.meta{color:#555;font-size:.85rem}
.live{display:flex;flex-wrap:wrap;gap:.4rem 1rem;margin:.3rem 0}.live span{white-space:nowrap}
.why{color:#a4161a;font-size:.9rem}details{margin:.4rem 0}summary{cursor:pointer}
@media (max-width:40rem){td,th{display:block;border:0;padding:.1rem}
td::before{content:attr(data-label) ": ";color:#555}
tr{display:block;border-bottom:1px solid #ddd;padding:.3rem 0}thead{display:none}}
"""


#: How each routing mode is said on the page.
ROUTING_MODES: Final = {
    "cloud": "through the cloud",
    "local": "through its dongle",
    "hybrid": "through its dongle, the cloud when the dongle does not answer",
}


def _state(good: bool | None, yes: str, no: str) -> str:
    if good is None:
        return '<span class="meta">unknown</span>'
    return f'<span class="ok">{yes}</span>' if good else f'<span class="bad">{no}</span>'


def _age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f} s ago"


def _inverter(inverter: InverterStatus) -> str:
    """Its state and why, the live values, then its settings folded away (the commands stay near the top
    on a phone)."""
    rows = "".join(
        f'<tr><td data-label="setting">{escape(row.name)}</td><td data-label="value">{_held(row)}</td>'
        f'<td data-label="limit">{escape(row.limit)}</td></tr>'
        for row in inverter.settings
    )
    live = "".join(f"<span>{escape(label)}: <b>{escape(value)}</b></span>" for label, value in inverter.live)
    why = f'<p class="why">why: {escape(inverter.reason)}</p>' if inverter.reason else ""
    beyond = sum(1 for row in inverter.settings if row.beyond)
    flagged = f' · <span class="bad">{beyond} beyond the limit</span>' if beyond else ""
    return (
        f"<h2>{escape(inverter.model)} {escape(inverter.serial)}</h2>"
        f"<p>{_state(inverter.online, 'online', 'offline')} · last read {_age(inverter.refreshed_ago)} · "
        f"{escape(ROUTING_MODES.get(inverter.transport, inverter.transport))}</p>{why}"
        f'<div class="live">{live}</div>'
        f"<details><summary>{len(inverter.settings)} settings{flagged}</summary>"
        f"<table><thead><tr><th>setting</th><th>value</th><th>limit</th></tr></thead><tbody>{rows}</tbody>"
        "</table></details>"
    )


def _held(row: SettingRow) -> str:
    if not row.beyond:
        return escape(row.value)
    return f'<span class="bad">{escape(row.value)} (beyond the limit)</span>'


def _command(command: CommandStatus) -> str:
    good = command.outcome in ("accepted", "rechecked", "reasserted") and command.error is None
    return (
        f'<tr><td data-label="when">{escape(command.when)}</td>'
        f'<td data-label="inverter">{escape(command.serial)}</td>'
        f'<td data-label="setting">{escape(command.setting)}</td>'
        f'<td data-label="sent">{escape(command.requested)}</td>'
        f'<td data-label="outcome">{_state(good, command.outcome, command.outcome)}</td>'
        f'<td data-label="why">{escape(command.error or "")}</td></tr>'
    )


def render(status: Status) -> str:
    """The whole page: the broker and why it is down, each inverter in a few lines, the last commands, then
    (folded) each inverter's settings."""
    commands = "".join(_command(command) for command in reversed(status.commands)) or (
        '<tr><td colspan="6" class="meta">no command yet</td></tr>'
    )
    broker_why = f'<p class="why">why: {escape(status.broker_reason)}</p>' if status.broker_reason else ""
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>eg4-mqtt-bridge</title><style>{STYLE}</style></head><body>"
        f"<h1>eg4-mqtt-bridge {escape(status.version)}</h1>"
        f"<p>Broker {escape(status.broker)}: "
        f"{_state(status.broker_connected, 'connected', 'not connected')} · "
        f"cloud requests: {status.cloud_requests_per_minute:.1f} a minute · "
        '<a href="healthz">health</a> · <a href="metrics">metrics</a> · <a href="#commands">commands</a></p>'
        + broker_why
        + "".join(_inverter(inverter) for inverter in status.inverters)
        + f'<h2 id="commands">Last {len(status.commands)} commands</h2><table><thead><tr><th>when</th>'
        "<th>inverter</th><th>setting</th><th>sent</th><th>outcome</th><th>why</th></tr></thead>"
        f"<tbody>{commands}</tbody></table>"
        f'<p class="meta">Made at {escape(status.generated)}; the page reloads every {REFRESH_SECONDS} s.</p>'
        "</body></html>"
    )
