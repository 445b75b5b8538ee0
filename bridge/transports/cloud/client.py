"""The EG4 / Luxpower cloud ("WManage") client: login, discovery, runtime, parameter read and write.

Every HTTP call goes through `_request()`, which applies the timeout and the per-account concurrency limit,
recognises an expired session, maps the cloud's ways of saying no to typed errors, and retries what may pass.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, NamedTuple, Self
from urllib.parse import urlencode

import aiohttp
import structlog

from bridge.core.catalogue import GRIDBOSS_SETTINGS, SETTINGS
from bridge.core.clock import Clock, MonotonicClock
from bridge.core.errors import (
    AuthenticationError,
    LoginRefusedError,
    MalformedResponseError,
    NotAllowedError,
    OutcomeUnknownError,
    RefusedError,
    TransientError,
    TransportError,
)
from bridge.core.kinds import PARAMETER_WINDOWS, SwitchSetting
from bridge.core.readings import (
    DEVICE_TYPE_CODE,
    POWER_RATING,
    BatteryBank,
    Energy,
    Event,
    GridBossRuntime,
    InverterInfo,
    ParameterRead,
    ParameterValue,
    Runtime,
    parse_battery_bank,
    parse_energy,
    parse_gridboss,
    parse_last_event,
    parse_runtime,
)
from bridge.transports.cloud.answers import (
    Account,
    SessionExpiredError,
    interpret,
    parameters_of,
    parse_account,
)
from bridge.transports.cloud.slots import Slots

log = structlog.get_logger(__name__)

LOGIN_PATH: Final = "/WManage/api/login"
RUNTIME_PATH: Final = "/WManage/api/inverter/getInverterRuntime"
READ_PATH: Final = "/WManage/web/maintain/remoteRead/read"
WRITE_PATH: Final = "/WManage/web/maintain/remoteSet/write"
FUNCTION_PATH: Final = "/WManage/web/maintain/remoteSet/functionControl"
BIT_PATH: Final = "/WManage/web/maintain/remoteSet/bitParamControl"
#: The requests a command makes; they go before waiting polls.
TIME_PATH: Final = "/WManage/web/maintain/remoteSet/writeTime"
#: A one-off action's own endpoints (`quickCharge`): `<name>/start`, `<name>/stop`, `<name>/getStatusInfo`.
ACTIONS_PATH: Final = "/WManage/web/config/"
#: The switches the cloud starts and stops through endpoints of their own, by those endpoints' name.
ACTION_SWITCHES: Final = {
    setting.endpoints: setting
    for setting in SETTINGS
    if isinstance(setting, SwitchSetting) and setting.endpoints is not None
}
ACTION_PATHS: Final = frozenset(
    f"{ACTIONS_PATH}{name}/{verb}" for name in ACTION_SWITCHES for verb in ("start", "stop")
)
COMMAND_PATHS: Final = frozenset({WRITE_PATH, FUNCTION_PATH, BIT_PATH, TIME_PATH}) | ACTION_PATHS
ENERGY_PATH: Final = "/WManage/api/inverter/getInverterEnergyInfo"
#: The parameters a settings read keeps: every setting's, and what names the model.
READ_NAMES: Final = frozenset(
    {name for setting in (*SETTINGS, *GRIDBOSS_SETTINGS) for name in setting.field_names}
    | {DEVICE_TYPE_CODE, POWER_RATING}
)
BATTERY_PATH: Final = "/WManage/api/battery/getBatteryInfo"
GRIDBOSS_PATH: Final = "/WManage/api/midbox/getMidboxRuntime"
#: The event log (pylxpweb `analytics.get_event_list`; eg4_web_monitor's Last Event sensor).
EVENTS_PATH: Final = "/WManage/api/analyze/event/list"

MAX_BODY_BYTES: Final = 2 * 1024 * 1024
#: How long what a runtime answer said of a quick charge stands in for its status answer (the runtime is
#: read every `polling.runtime_seconds`, 60 s by default): older, the status is asked again.
RUNTIME_SAYS_FOR: Final = 300.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient faults are retried: capped, jittered exponential backoff, a bounded number of times."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retry_number: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return random.uniform(ceiling / 2, ceiling)  # jitter keeps many bridges from retrying in step


#: A window's last good read: the parameter names (shared between inverters) and their values.
_Window = tuple[tuple[str, ...], tuple[ParameterValue, ...]]


class _Answer(NamedTuple):
    payload: dict[str, Any]
    attempts: int


@dataclass(slots=True)
class _Sends:
    """How many times one call's request went out, replays after a new login included."""

    count: int = 0


_Sender = Callable[[str, Mapping[str, str], _Sends], Awaitable[dict[str, Any]]]


#: Told of every HTTP request: the endpoint's short name, its outcome, and how long it took in seconds.
RequestObserver = Callable[[str, str, float], None]


#: Set while a command's read-back is being sent (see `Slots`).
_URGENT: ContextVar[bool] = ContextVar("urgent", default=False)


class CloudClient:
    """One account on the cloud, with its own cookie session. Use as an async context manager."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        concurrency: int = 3,
        request_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        verify_tls: bool = True,
        observe_request: RequestObserver | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or MonotonicClock()
        self._base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._retry = retry or RetryPolicy()
        self._limit = Slots(concurrency)
        self._session = session
        self._owns_session = session is None
        self._verify_tls = verify_tls
        self._observe_request = observe_request
        self._login_lock = asyncio.Lock()
        self._login_generation = 0
        self._account: Account | None = None
        self._windows: dict[str, dict[int, _Window]] = {}
        #: Each inverter's last good answer of each action's status (`quickCharge`), by the action's name.
        self._statuses: dict[str, dict[str, bool]] = {}
        #: The same, as the newest runtime answer said it (none after a start or stop until the next).
        self._said_in_runtime: dict[str, dict[str, tuple[bool, float]]] = {}
        #: Starts and stops sent, by inverter: a runtime answer asked for before one is not taken.
        self._actions_sent: dict[str, int] = {}
        self._layouts: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __repr__(self) -> str:
        return f"CloudClient(base_url={self._base_url!r}, username={self._username!r})"

    async def __aenter__(self) -> Self:
        if self._session is None:
            # unsafe=True keeps cookies set by a server addressed by IP, such as a local simulator.
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                connector=aiohttp.TCPConnector(ssl=self._verify_tls),
            )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- login and discovery -------------------------------------------------------------------------

    async def login(self) -> Account:
        """Log in and return the account with every plant and device it can see."""
        async with self._login_lock:
            return await self._login_locked()

    async def _login_locked(self) -> Account:
        form = {"account": self._username, "password": self._password, "language": "ENGLISH"}
        try:
            payload = (await self._with_retries(LOGIN_PATH, form, self._post)).payload
        except SessionExpiredError as exc:
            raise MalformedResponseError("the login request was answered with the login page") from exc
        except RefusedError as exc:
            raise LoginRefusedError(exc.server_text) from exc
        self._account = parse_account(payload)
        self._login_generation += 1
        log.info("cloud_logged_in", inverters=len(self._account.inverters))
        return self._account

    async def inverters(self) -> tuple[InverterInfo, ...]:
        """Every device of every plant, logging in first if needed."""
        account = self._account or await self.login()
        return account.inverters

    # -- reads ---------------------------------------------------------------------------------------

    async def get_runtime(self, serial: str) -> Runtime:
        """Runtime values of one inverter; an offline inverter gives `Runtime(lost=True)`, not an error."""
        actions_sent = self._actions_sent.get(serial, 0)
        payload = await self._request(RUNTIME_PATH, {"serialNum": serial}, serial=serial)
        runtime = parse_runtime(payload, serial)
        if self._actions_sent.get(serial, 0) == actions_sent:  # else it may predate a start or stop
            self._note_actions_running(serial, payload)
        return runtime

    def _note_actions_running(self, serial: str, payload: Mapping[str, Any]) -> None:
        # The runtime answer carries the same flag as the action's status answer (pylxpweb's runtime
        # model has it): settings reads take it from here rather than asking the status again.
        for name, setting in ACTION_SWITCHES.items():
            running = payload.get(setting.func_param)
            if isinstance(running, bool):
                self._said_in_runtime.setdefault(serial, {})[name] = (running, self._clock.now())

    async def get_energy(self, serial: str) -> Energy:
        """Today's and lifetime energy counters of one inverter, in kWh."""
        payload = await self._request(ENERGY_PATH, {"serialNum": serial}, serial=serial)
        return parse_energy(payload, serial)

    async def get_gridboss(self, serial: str) -> GridBossRuntime:
        """A GridBOSS's runtime: grid, load, backup side, generator and smart ports."""
        payload = await self._request(GRIDBOSS_PATH, {"serialNum": serial}, serial=serial)
        return parse_gridboss(payload, serial)

    async def get_batteries(self, serial: str) -> BatteryBank:
        """Every battery module behind one inverter, as its BMS reports them."""
        payload = await self._request(BATTERY_PATH, {"serialNum": serial}, serial=serial)
        return parse_battery_bank(payload, serial)

    async def get_last_event(self, serial: str) -> Event | None:
        """The newest event of one inverter's event log, or `None` when it has none. An account the cloud
        refuses the log (`success: false` with a reason that will not pass) raises `NotAllowedError`."""
        # As pylxpweb sends it: every plant (-1), every kind of event (`_all`; the sources disagree on
        # what else the filter takes). One row, as eg4_web_monitor asks: the newest.
        form = {"page": "1", "rows": "1", "plantId": "-1", "serialNum": serial, "eventText": "_all"}
        try:
            payload = await self._request(EVENTS_PATH, form, serial=serial)
        except RefusedError as exc:
            raise NotAllowedError(exc.server_text, serial=serial) from exc
        return parse_last_event(payload, serial)

    async def read_window(
        self, serial: str, start: int, count: int, *, urgent: bool = False
    ) -> dict[str, ParameterValue]:
        """The parameters whose registers lie in one window, as the cloud gives them. `urgent`: a command's
        read-back, which goes before waiting polls."""
        form = {
            "inverterSn": serial,
            "startRegister": str(start),
            "pointNumber": str(count),
            "autoRetry": "true",
        }
        token = _URGENT.set(urgent)
        try:
            payload = await self._request(READ_PATH, form, serial=serial)
        finally:
            _URGENT.reset(token)
        answered_for = payload.get("inverterSn", serial)
        if answered_for != serial:
            raise MalformedResponseError(
                f"parameter answer is for {answered_for!r}, but {serial} was asked for", serial=serial
            )
        return parameters_of(payload, serial, READ_NAMES)

    async def read_parameters(self, serial: str, *, actions: bool = True) -> ParameterRead:
        """All three windows, read together and merged, and (`actions`) each action's state.

        A window that fails keeps the values of its last good read and marks the result incomplete.
        When every window fails there is nothing to report, and the first failure is raised.
        """
        results = await asyncio.gather(
            *(self.read_window(serial, start, count) for start, count in PARAMETER_WINDOWS),
            return_exceptions=True,
        )
        cached = self._windows.setdefault(serial, {})
        failed: dict[int, TransportError] = {}
        for (start, _count), result in zip(PARAMETER_WINDOWS, results, strict=True):
            if isinstance(result, TransportError):
                failed[start] = result
            elif isinstance(result, BaseException):
                raise result
            else:
                cached[start] = self._compact(result)
        if len(failed) == len(PARAMETER_WINDOWS):
            raise next(iter(failed.values()))  # the caller says so, once: not a line per window
        for start, error in failed.items():
            log.warning("parameter_window_failed", serial=serial, start=start, error=error.message)
        merged: dict[str, ParameterValue] = {}
        for start, _count in PARAMETER_WINDOWS:
            names, values = cached.get(start, ((), ()))
            merged.update(zip(names, values, strict=True))
        statuses_complete = await self._read_action_statuses(serial, merged) if actions else True
        # Every value was checked by `parameters_of`; validating ~500 of them again per read costs CPU
        # that a fleet of a thousand inverters notices (bench/fleet.py).
        return ParameterRead.model_construct(
            serial=serial,
            values=merged,
            complete=not failed and statuses_complete,
            failed_windows=tuple(failed),
        )

    async def _read_action_statuses(self, serial: str, values: dict[str, ParameterValue]) -> bool:
        """Add each action's state (`quickCharge`: whether one runs) to `values`; whether every status
        answered. An inverter the cloud refuses a status gets no such state (its action is not offered);
        one whose status fails keeps its last good answer. A GridBOSS has none."""
        if not self._is_inverter(serial):
            return True
        cached = self._statuses.setdefault(serial, {})
        complete = True
        said_in_runtime = self._said_in_runtime.get(serial, {})
        for name in ACTION_SWITCHES:
            running, said_at = said_in_runtime.get(name, (None, float("-inf")))
            try:
                if name in cached and running is not None and self._clock.now() - said_at <= RUNTIME_SAYS_FOR:
                    # A recent runtime answer said it, and the status answered before (the action is
                    # offered): no request. An older one (runtime reads failing) is not taken for now.
                    cached[name] = running
                else:
                    cached[name] = await self.action_running(serial, name)
            except RefusedError as exc:
                cached.pop(name, None)
                log.info("action_status_refused", serial=serial, action=name, error=exc.message)
            except TransportError as exc:
                complete = False
                log.warning("action_status_failed", serial=serial, action=name, error=exc.message)
            if name in cached:
                values[ACTION_SWITCHES[name].func_param] = cached[name]
        return complete

    def _is_inverter(self, serial: str) -> bool:
        """Whether the account names `serial` an inverter (a GridBOSS holds no battery settings)."""
        account = self._account
        if account is None:
            return True
        return all(info.has_battery_parameters for info in account.inverters if info.serial == serial)

    def _compact(self, window: dict[str, ParameterValue]) -> _Window:
        """A window kept as its values beside a tuple of their names shared by every inverter of the
        same layout."""
        names = tuple(window)
        return self._layouts.setdefault(names, names), tuple(window.values())

    # -- writes --------------------------------------------------------------------------------------

    async def write_parameter(self, serial: str, hold_param: str, value_text: str) -> int:
        """Write one holding parameter; returns how many times it was sent. `success: false` raises with
        the cloud's text verbatim.

        A write is sent again only when the earlier send certainly did not apply it: the connection was
        refused, or the cloud answered one of its transient codes. After a timeout or a connection lost
        mid-request its fate is unknown, and `OutcomeUnknownError` says so: sent again later, it could land
        after a newer command and undo it.
        """
        form = {
            "inverterSn": serial,
            "holdParam": hold_param,
            "valueText": value_text,
            "clientType": "WEB",
            "remoteSetType": "NORMAL",
        }
        answer = await self._request_counted(WRITE_PATH, form, serial=serial, replayable=False)
        log.info(
            "parameter_written", serial=serial, param=hold_param, value=value_text, attempts=answer.attempts
        )
        return answer.attempts

    async def function_control(self, serial: str, func_param: str, enable: bool) -> int:
        """Turn one `FUNC_*` function on or off; returns how many times it was sent. Sent again only after
        a fault that certainly kept it from the cloud, as a write is."""
        form = {
            "inverterSn": serial,
            "functionParam": func_param,
            "enable": "true" if enable else "false",
            "clientType": "WEB",
            "remoteSetType": "NORMAL",
        }
        answer = await self._request_counted(FUNCTION_PATH, form, serial=serial, replayable=False)
        log.info("function_set", serial=serial, param=func_param, enable=enable, attempts=answer.attempts)
        return answer.attempts

    async def bit_param_control(self, serial: str, bit_param: str, value: int) -> int:
        """Set one multi-valued `BIT_*` field; returns how many times it was sent (as a write is)."""
        form = {
            "inverterSn": serial,
            "bitParam": bit_param,
            "value": str(value),
            "clientType": "WEB",
            "remoteSetType": "NORMAL",
        }
        answer = await self._request_counted(BIT_PATH, form, serial=serial, replayable=False)
        log.info("bit_param_set", serial=serial, param=bit_param, value=value, attempts=answer.attempts)
        return answer.attempts

    async def write_time(self, serial: str, time_param: str, hour: int, minute: int) -> int:
        """Set one schedule boundary (`HOLD_GEN_START_TIME_1`), its hour and minute in one request;
        returns how many times it was sent (as a write is)."""
        form = {
            "inverterSn": serial,
            "timeParam": time_param,
            "hour": str(hour),
            "minute": str(minute),
            "clientType": "WEB",
            "remoteSetType": "NORMAL",
        }
        answer = await self._request_counted(TIME_PATH, form, serial=serial, replayable=False)
        log.info("time_written", serial=serial, param=time_param, hour=hour, minute=minute)
        return answer.attempts

    async def action(self, serial: str, name: str, start: bool) -> int:
        """Start or stop a one-off action (`quickCharge`) through its own endpoint; returns how many times
        it was sent (as a write is: never again after a fault that may have let it through). No duration
        is sent: the cloud takes one on newer firmware only (`bridge.core.catalogue.QUICK_CHARGE_NOTE`)."""
        verb = "start" if start else "stop"
        form = {"inverterSn": serial, "clientType": "WEB"}
        # What a runtime answer said of it is out of date from here on, and so is any answer on its way.
        self._actions_sent[serial] = self._actions_sent.get(serial, 0) + 1
        self._said_in_runtime.get(serial, {}).pop(name, None)
        answer = await self._request_counted(
            f"{ACTIONS_PATH}{name}/{verb}", form, serial=serial, replayable=False
        )
        log.info("action_sent", serial=serial, action=name, verb=verb, attempts=answer.attempts)
        return answer.attempts

    async def action_running(self, serial: str, name: str, *, urgent: bool = False) -> bool:
        """Whether the action (`quickCharge`) is under way, as its status answer says (`getStatusInfo`,
        asked with the serial alone, as pylxpweb asks). `urgent`: a command's read-back."""
        field = ACTION_SWITCHES[name].func_param
        token = _URGENT.set(urgent)
        try:
            payload = await self._request(
                f"{ACTIONS_PATH}{name}/getStatusInfo", {"inverterSn": serial}, serial=serial
            )
        finally:
            _URGENT.reset(token)
        running = payload.get(field)
        if not isinstance(running, bool):
            raise MalformedResponseError(
                f"{name} status answer has no true or false {field}: {running!r}", serial=serial
            )
        return running

    # -- transport -----------------------------------------------------------------------------------

    async def _request(self, path: str, form: Mapping[str, str], *, serial: str | None) -> dict[str, Any]:
        return (await self._request_counted(path, form, serial=serial)).payload

    async def _request_counted(
        self, path: str, form: Mapping[str, str], *, serial: str | None, replayable: bool = True
    ) -> _Answer:
        """POST with retries of transient faults; logs in first and again once if the session expired."""
        try:
            return await self._with_retries(path, form, self._post_logged_in, replayable=replayable)
        except TransportError as exc:
            exc.serial = exc.serial or serial
            raise

    async def _with_retries(
        self, path: str, form: Mapping[str, str], send: _Sender, *, replayable: bool = True
    ) -> _Answer:
        """Send, retrying transient faults; the answer and every error carry how many times it was sent.

        A request that is not `replayable` (a write) is sent again only after a fault that certainly kept
        it from the cloud; any other fault ends it with `OutcomeUnknownError`.
        """
        sends = _Sends()
        serial = form.get("inverterSn") or form.get("serialNum")
        for retry_number in range(1, self._retry.attempts + 1):
            try:
                return _Answer(await send(path, form, sends), sends.count)
            except TransientError as exc:
                if not replayable and exc.maybe_delivered:
                    unknown = OutcomeUnknownError(exc.message, serial=serial)
                    unknown.attempts = sends.count
                    raise unknown from exc
                if retry_number >= self._retry.attempts:
                    final = TransientError(
                        f"{exc.message} (gave up after {sends.count} attempts)",
                        serial=serial,
                        maybe_delivered=exc.maybe_delivered,
                        unreachable=exc.unreachable,
                    )
                    final.attempts = sends.count
                    raise final from exc
                delay = self._retry.delay(retry_number)
                log.warning("cloud_retry", path=path, error=exc.message, delay=round(delay, 3))
                await asyncio.sleep(delay)
            except TransportError as exc:
                exc.attempts = sends.count
                raise
        raise AssertionError("unreachable: the retry loop returns or raises")

    async def _post_logged_in(self, path: str, form: Mapping[str, str], sends: _Sends) -> dict[str, Any]:
        if self._account is None:
            await self._relogin(seen_generation=self._login_generation)
        generation = self._login_generation
        try:
            return await self._post(path, form, sends)
        except SessionExpiredError:
            log.info("cloud_session_expired", path=path)
        await self._relogin(seen_generation=generation)
        try:
            return await self._post(path, form, sends)
        except SessionExpiredError as exc:
            raise AuthenticationError("the cloud refused a session it had just opened") from exc

    async def _relogin(self, *, seen_generation: int) -> None:
        """Log in again, unless another request already did so since `seen_generation`."""
        async with self._login_lock:
            if self._login_generation == seen_generation:
                await self._login_locked()

    async def _post(self, path: str, form: Mapping[str, str], sends: _Sends) -> dict[str, Any]:
        sends.count += 1
        started = time.perf_counter()
        outcome = "ok"
        try:
            return await self._post_unobserved(path, form)
        except SessionExpiredError:
            outcome = "session_expired"
            raise
        except TransportError as exc:
            outcome = _outcome_of(exc)
            raise
        finally:
            seconds = time.perf_counter() - started
            if self._observe_request is not None:
                self._observe_request(_endpoint_name(path), outcome, seconds)
            # The endpoint and the serial asked about, never the form's other values (a login's password).
            log.debug(
                "cloud_request",
                endpoint=_endpoint_name(path),
                serial=form.get("serialNum") or form.get("inverterSn"),
                outcome=outcome,
                seconds=round(seconds, 3),
            )

    async def _post_unobserved(self, path: str, form: Mapping[str, str]) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("CloudClient must be used as `async with CloudClient(...)`")
        # The form encoded here: aiohttp's own form handling costs a command more CPU than its request.
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        body = urlencode(form).encode()
        # A command waits for its write and read-back; a poll can wait a little longer.
        async with self._limit.taken(urgent=path in COMMAND_PATHS or _URGENT.get()):
            try:
                async with self._session.post(
                    self._base_url + path,
                    data=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as response:
                    body = await _read_limited(response)
                    status = response.status
                    content_type = response.content_type
                    location = response.headers.get("Location", "")
            except TimeoutError as exc:
                raise TransientError(f"no answer from the cloud within {self._timeout.total:g} s") from exc
            except aiohttp.ClientError as exc:
                raise _in_plain_words(exc, self._base_url) from exc
        return interpret(path, status, content_type, location, body)


def _in_plain_words(exc: aiohttp.ClientError, base_url: str) -> TransientError:
    """A connection failure as a sentence, and whether the request may have reached the cloud."""
    host = base_url.split("://", 1)[-1]
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return TransientError(
            f"cannot reach the cloud: the name {host} does not resolve", maybe_delivered=False
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        number = exc.os_error.errno
        reason = os.strerror(number) if number else exc.os_error.strerror or "the connection failed"
        return TransientError(f"cannot reach the cloud at {host}: {reason.lower()}", maybe_delivered=False)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return TransientError("the connection to the cloud was lost before its answer arrived")
    return TransientError(f"the request to the cloud failed ({type(exc).__name__})")


def _endpoint_name(path: str) -> str:
    """`/WManage/web/maintain/remoteSet/write` -> `remoteSet/write`: short, and the same for every host."""
    return "/".join(path.rstrip("/").split("/")[-2:])


def _outcome_of(error: TransportError) -> str:
    outcomes: dict[type[TransportError], str] = {
        AuthenticationError: "auth_refused",
        RefusedError: "refused",
        TransientError: "transient",
        MalformedResponseError: "malformed",
    }
    return outcomes.get(type(error), "error")


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MalformedResponseError(f"answer larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
