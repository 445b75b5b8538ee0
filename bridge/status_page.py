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
    name: str
    #: As last read, with its unit.
    value: str
    #: The owner's limit, with its unit, or "".
    limit: str
    #: Held beyond the owner's limit or the setting's own range.
    beyond: bool = False


@dataclass(frozen=True, slots=True)
class InverterStatus:
    serial: str
    model: str
    online: bool | None
    #: Seconds since its last good read, or `None` before one.
    refreshed_ago: float | None
    transport: str
    settings: Sequence[SettingRow] = ()


@dataclass(frozen=True, slots=True)
class CommandStatus:
    when: str
    serial: str
    setting: str
    requested: str
    outcome: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Status:
    version: str
    broker: str
    broker_connected: bool
    cloud_requests_per_minute: float
    inverters: Sequence[InverterStatus] = ()
    commands: Sequence[CommandStatus] = field(default_factory=tuple)


STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:.5rem;color:#1b1b1b}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #ddd;padding:.3rem;
text-align:left;vertical-align:top}.ok{color:#16632a}.bad{color:#a4161a}.meta{color:#555;font-size:.85rem}
@media (max-width:40rem){td,th{display:block;border:0;padding:.1rem}
tr{display:block;border-bottom:1px solid #ddd;padding:.3rem 0}thead{display:none}}
"""


#: How each transport is said on the page.
WAYS: Final = {
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
    rows = "".join(
        f"<tr><td>{escape(row.name)}</td><td>{_held(row)}</td><td>{escape(row.limit)}</td></tr>"
        for row in inverter.settings
    )
    return (
        f"<h2>{escape(inverter.model)} {escape(inverter.serial)}</h2>"
        f"<p>{_state(inverter.online, 'online', 'offline')} · last read {_age(inverter.refreshed_ago)} · "
        f"{escape(WAYS.get(inverter.transport, inverter.transport))}</p>"
        f"<table><thead><tr><th>setting</th><th>value</th><th>limit</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _held(row: SettingRow) -> str:
    if not row.beyond:
        return escape(row.value)
    return f'<span class="bad">{escape(row.value)} (beyond the limit)</span>'


def _command(command: CommandStatus) -> str:
    good = command.outcome in ("accepted", "rechecked", "reasserted") and command.error is None
    return (
        f"<tr><td>{escape(command.when)}</td><td>{escape(command.serial)}</td><td>{escape(command.setting)}</td>"
        f"<td>{escape(command.requested)}</td><td>{_state(good, command.outcome, command.outcome)}</td>"
        f"<td>{escape(command.error or '')}</td></tr>"
    )


def render(status: Status) -> str:
    """The whole page."""
    commands = "".join(_command(command) for command in reversed(status.commands)) or (
        '<tr><td colspan="6" class="meta">no command yet</td></tr>'
    )
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
        f"<title>eg4-mqtt-bridge</title><style>{STYLE}</style></head><body>"
        f"<h1>eg4-mqtt-bridge {escape(status.version)}</h1>"
        f"<p>Broker {escape(status.broker)}: "
        f"{_state(status.broker_connected, 'connected', 'not connected')} · "
        f"cloud requests: {status.cloud_requests_per_minute:.1f} a minute · "
        '<a href="healthz">health</a> · <a href="metrics">metrics</a></p>'
        + "".join(_inverter(inverter) for inverter in status.inverters)
        + f"<h2>Last {len(status.commands)} commands</h2><table><thead><tr><th>when</th><th>inverter</th>"
        "<th>setting</th><th>sent</th><th>outcome</th><th>why</th></tr></thead>"
        f"<tbody>{commands}</tbody></table>"
        f'<p class="meta">This page reloads every {REFRESH_SECONDS} s.</p></body></html>'
    )
