"""The router (`Router._route`), table-driven: for each routing mode, whether the dongle has the setting's
register, whether the dongle is resting, the kind of dongle failure and whether the request was a write,
which transport answers or which error comes back, and whether the cloud was asked. The transports are
handed in as fakes: the dongle's answer is a callable, the cloud's a counted callable; nothing touches a
socket."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from bridge.core.config import Settings
from bridge.core.errors import (
    NoTransportError,
    OutcomeUnknownError,
    RefusedError,
    TransientError,
    TransportError,
)
from bridge.transports.cloud import CloudClient
from bridge.transports.local.dongle import (
    LocalDroppedError,
    LocalSilentError,
    LocalTransportError,
    LocalUnreachableError,
    ModbusExceptionError,
)
from bridge.transports.router import RegisterConnection, RegisterTransport, Router
from tests.unit.fakes import FakeClock

pytestmark = pytest.mark.unit

SERIAL = "4512345600"
DONGLE = {"host": "192.0.2.1", "serial": "BA12345600", "rest_seconds": 60}

#: The dongle's failures: unreachable (nothing sent), silent before sending (a read), silent after a write
#: went out, dropped mid-request, a Modbus exception reply.
FAILURES: dict[str, LocalTransportError] = {
    "unreachable": LocalUnreachableError("cannot connect", sent=False),
    "silent, not sent": LocalSilentError("did not answer", sent=False),
    "silent, sent": LocalSilentError("did not answer", sent=True),
    "dropped, sent": LocalDroppedError("closed before it answered", sent=True),
    "exception": ModbusExceptionError("the inverter refused the request (Modbus exception 4)", 4),
}


@dataclass
class CloudCalls:
    count: int = 0
    fail_with: TransportError | None = None

    async def call(self, cloud: Any) -> str:
        self.count += 1
        if self.fail_with is not None:
            raise self.fail_with
        return "from the cloud"


@dataclass
class Rig:
    router: Router
    clock: FakeClock
    cloud: CloudCalls = field(default_factory=CloudCalls)

    async def route(
        self, dongle: str | LocalTransportError, *, writing: bool = False, local_has_it: bool = True
    ) -> tuple[str, str]:
        async def local(way: RegisterTransport) -> str:
            if isinstance(dongle, LocalTransportError):
                raise dongle
            return dongle

        return await self.router._route(  # the router itself, as the poller and the queue reach it
            SERIAL, local, self.cloud.call, writing=writing, local_has_it=local_has_it
        )


def rig(mode: str, *, with_cloud: bool = True) -> Rig:
    document: dict[str, Any] = {
        "transport": mode,
        "inverters": {SERIAL: {"dongle": DONGLE} if mode != "cloud" else {}},
    }
    if with_cloud:
        document["cloud"] = {"username": "someone", "password": "secret"}
    settings = Settings.model_validate(document)
    clock = FakeClock()
    cloud = cast(CloudClient, object()) if with_cloud else None  # the cloud calls are the fakes above
    dongle = RegisterTransport(SERIAL, cast(RegisterConnection, object()), rest=60)
    local = {SERIAL: dongle} if mode != "cloud" else {}
    return Rig(Router(cloud, local, settings, clock), clock)


async def test_cloud_mode_always_asks_the_cloud() -> None:
    r = rig("cloud")
    assert await r.route("from the dongle") == ("from the cloud", "cloud")
    assert r.cloud.count == 1


@pytest.mark.parametrize("mode", ["local", "hybrid"])
async def test_a_dongle_that_answers_answers(mode: str) -> None:
    r = rig(mode)
    assert await r.route("from the dongle") == ("from the dongle", "dongle")
    assert r.cloud.count == 0


async def test_hybrid_asks_the_cloud_for_a_setting_with_no_register() -> None:
    r = rig("hybrid")
    assert await r.route("from the dongle", local_has_it=False) == ("from the cloud", "cloud")


# Every failure, for a read and for a write, in local and in hybrid: (expected error kind or "cloud").
TABLE = [
    # mode, failure, writing, what comes of it
    ("local", "unreachable", False, TransientError),
    ("local", "silent, not sent", False, TransientError),
    ("local", "silent, sent", False, TransientError),
    ("local", "dropped, sent", False, TransientError),
    ("local", "exception", False, RefusedError),
    ("local", "unreachable", True, TransientError),
    ("local", "silent, sent", True, OutcomeUnknownError),
    ("local", "dropped, sent", True, OutcomeUnknownError),
    ("local", "exception", True, RefusedError),
    ("hybrid", "unreachable", False, "cloud"),
    ("hybrid", "silent, not sent", False, "cloud"),
    ("hybrid", "silent, sent", False, "cloud"),  # a read may be asked again elsewhere
    ("hybrid", "dropped, sent", False, "cloud"),
    ("hybrid", "exception", False, RefusedError),  # the inverter said no: the cloud would hear the same
    ("hybrid", "unreachable", True, "cloud"),  # nothing was sent: safe to send elsewhere
    ("hybrid", "silent, not sent", True, "cloud"),
    ("hybrid", "silent, sent", True, OutcomeUnknownError),  # may have landed: never sent again
    ("hybrid", "dropped, sent", True, OutcomeUnknownError),
    ("hybrid", "exception", True, RefusedError),
]


@pytest.mark.parametrize(("mode", "failure", "writing", "expected"), TABLE)
async def test_each_failure_of_the_dongle(mode: str, failure: str, writing: bool, expected: object) -> None:
    r = rig(mode)
    if expected == "cloud":
        assert await r.route(FAILURES[failure], writing=writing) == ("from the cloud", "cloud")
        assert r.cloud.count == 1
        return
    assert isinstance(expected, type)
    with pytest.raises(expected) as raised:
        await r.route(FAILURES[failure], writing=writing)
    assert type(raised.value) is expected
    assert isinstance(raised.value, TransportError)
    assert raised.value.via == "dongle"
    assert r.cloud.count == 0, "nothing went to the cloud"


async def test_hybrid_rests_the_dongle_after_a_failure_then_tries_it_again() -> None:
    r = rig("hybrid")
    assert await r.route(FAILURES["unreachable"]) == ("from the cloud", "cloud")
    assert await r.route("from the dongle") == ("from the cloud", "cloud"), "resting: straight to the cloud"
    await r.clock.advance(59)
    assert await r.route("from the dongle") == ("from the cloud", "cloud")
    await r.clock.advance(2)
    assert await r.route("from the dongle") == ("from the dongle", "dongle")
    assert r.cloud.count == 3


async def test_local_with_no_cloud_account_says_the_dongle_failed() -> None:
    r = rig("local", with_cloud=False)
    with pytest.raises(TransientError) as raised:
        await r.route(FAILURES["unreachable"])
    assert (raised.value.message, raised.value.via) == ("cannot connect", "dongle")


async def test_a_cloud_failure_after_a_fallback_says_it_came_from_the_cloud() -> None:
    r = rig("hybrid")
    r.cloud.fail_with = TransientError("DATAFRAME_TIMEOUT")
    with pytest.raises(TransientError) as raised:
        await r.route(FAILURES["unreachable"])
    assert raised.value.via == "cloud"


async def test_no_transport_at_all_is_said_so() -> None:
    settings = Settings.model_validate({"transport": "local", "inverters": {SERIAL: {"dongle": DONGLE}}})
    r = Rig(Router(None, {}, settings, FakeClock()), FakeClock())  # no cloud, and no register transport
    with pytest.raises(NoTransportError, match="no transport reaches 4512345600: no cloud account, and no"):
        await r.route("from the dongle")
