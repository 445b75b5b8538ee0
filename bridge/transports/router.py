"""The router: for each inverter and request, the transport that carries it. The routing mode is configured
per inverter: the cloud (`cloud`), its dongle or RS485 adapter alone (`local`), or the dongle or adapter first
and the cloud when it does not answer (`hybrid`). The poller reads and the write queue writes through the
`Router` alone, and never learns which transport a request went through, except from a result's `via`.

A dongle and an adapter speak registers (`bridge.transports.local`); here they become the same readings the
cloud's answers become, through the same parsers, so that everything above sees one shape whatever the
transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Final, Protocol, TypeVar

import structlog

from bridge.core.catalogue import ENERGY_SENSORS, GRIDBOSS_SENSORS, QUICK_CHARGE_RUNNING, SENSORS
from bridge.core.clock import Clock
from bridge.core.config import DongleSettings, ModbusSettings, Settings
from bridge.core.encodings import WORD
from bridge.core.errors import (
    MalformedResponseError,
    NoTransportError,
    OutcomeUnknownError,
    RefusedError,
    TransientError,
    TransportError,
)
from bridge.core.families import family_of_code
from bridge.core.kinds import SelectSetting, Setting, SwitchSetting, WindowSetting
from bridge.core.readings import (
    DEVICE_TYPE_CODE,
    GRIDBOSS_DEVICE_TYPE,
    POWER_RATING,
    UNIDENTIFIED_MODEL,
    BatteryBank,
    Energy,
    Event,
    GridBossRuntime,
    InverterInfo,
    ParameterRead,
    ParameterValue,
    Runtime,
    parse_energy,
    parse_runtime,
)
from bridge.core.writes import Delivery
from bridge.transports.cloud import CloudClient
from bridge.transports.local import batteries, gridboss, registers
from bridge.transports.local.dongle import (
    DongleConnection,
    LocalSilentError,
    LocalStats,
    LocalTransportError,
    LocalUnreachableError,
    ModbusExceptionError,
    tcp_connector,
)
from bridge.transports.local.frames import ModbusFunction
from bridge.transports.local.modbus import ModbusConnection, ModbusLine

log = structlog.get_logger(__name__)

INVERTER_DEVICE_TYPE: Final = 6
#: The model a GridBOSS known from the config alone is shown as.
GRIDBOSS_MODEL: Final = "GridBOSS"
#: The Modbus exception code of a register the firmware does not serve (or refuses).
ILLEGAL_DATA_ADDRESS: Final = 2
#: The most registers the cloud reads in one request (`pointNumber`).
WINDOW_REGISTERS: Final = 127

_Answer = TypeVar("_Answer")


class CloudTransport:
    """Settings through the cloud: each kind of setting by its own endpoint."""

    def __init__(self, cloud: CloudClient) -> None:
        self._cloud = cloud

    async def write(self, serial: str, setting: Setting, value: str) -> int:
        if isinstance(setting, SwitchSetting) and setting.endpoints is not None:
            return await self._cloud.action(serial, setting.endpoints, value == "ON")
        if isinstance(setting, SwitchSetting):
            return await self._cloud.function_control(serial, setting.func_param, value == "ON")
        if isinstance(setting, WindowSetting):
            return await self._write_window(serial, setting, value)
        if isinstance(setting, SelectSetting):
            return await self._write_select(serial, setting, value)
        return await self._cloud.write_parameter(serial, setting.hold_param, value)

    async def _write_select(self, serial: str, setting: SelectSetting, value: str) -> int:
        """The option, then the flag the option needs on (a smart port's mode, then its enable flag: the
        flag is kept only while the port is in its mode, so never before)."""
        writes: list[Callable[[], Awaitable[int]]] = [
            partial(self._cloud.bit_param_control, serial, setting.bit_param, setting.value_of(value))
        ]
        flag = setting.enable_flag(value)
        if flag is not None:
            writes.append(partial(self._cloud.function_control, serial, flag, True))
        return await _in_order(
            writes, lambda _written: f"after {setting.bit_param} was written; {flag} was not"
        )

    async def _write_window(self, serial: str, setting: WindowSetting, value: str) -> int:
        """Start hour, start minute, end hour, end minute, in that order (or the start, then the end, with
        `writeTime`); the first refusal ends it, and says how much of the window was written before it."""
        start_hour, start_minute, end_hour, end_minute = setting.parts(value)
        writes: list[Callable[[], Awaitable[int]]]
        if setting.write_time:
            starts, ends = setting.time_params()
            writes = [
                partial(self._cloud.write_time, serial, starts, start_hour, start_minute),
                partial(self._cloud.write_time, serial, ends, end_hour, end_minute),
            ]
        else:
            writes = [
                partial(self._cloud.write_parameter, serial, name, f"{number:02d}")
                for name, number in zip(setting.field_names, setting.parts(value), strict=True)
            ]
        return await _in_order(
            writes, lambda written: f"after {written} of the window's {len(writes)} values were written"
        )

    async def read(self, serial: str, setting: Setting) -> str:
        if isinstance(setting, SwitchSetting) and setting.endpoints is not None:
            running = await self._cloud.action_running(serial, setting.endpoints, urgent=True)
            return setting.from_fields({setting.func_param: running})
        # Only the setting's own registers: the cloud reads any window, and a few registers are cheap. A
        # setting whose registers lie far apart (a smart port's mode and its flag) is read a window each.
        values: dict[str, ParameterValue] = {}
        for start, count in registers.blocks(setting.registers, WINDOW_REGISTERS):
            values |= await self._cloud.read_window(serial, start, count, urgent=True)
        return setting.from_fields(values)


async def _in_order(writes: list[Callable[[], Awaitable[int]]], landed: Callable[[int], str]) -> int:
    """Send `writes` one after another; returns the requests sent. The first failure ends it, counting
    every request sent; a refusal after some landed is partial, and says what landed (`landed(count)`)."""
    sent = 0
    for written, write in enumerate(writes):
        try:
            sent += await write()
        except TransportError as exc:
            exc.attempts += sent
            if written and isinstance(exc, RefusedError):
                exc.partial = True
                exc.server_text = f"{exc.server_text} ({landed(written)})"
            raise
    return sent


class RegisterConnection(Protocol):
    """What a register transport reads and writes through: the dongle's connection or a Modbus adapter's."""

    stats: LocalStats

    async def read(
        self, inverter: str, function: ModbusFunction, start: int, count: int
    ) -> tuple[int, ...]: ...

    async def write_single(self, inverter: str, register: int, value: int) -> None: ...

    async def write_multiple(self, inverter: str, start: int, values: list[int]) -> None: ...

    async def close(self) -> None: ...


class RegisterTransport:
    """One inverter without the cloud, through its dongle or an RS485 adapter: registers read in blocks and
    turned into readings in the vendor's field names."""

    def __init__(
        self,
        serial: str,
        connection: RegisterConnection,
        max_block: int = registers.BLOCK,
        rest: float = 60.0,
        name: str = "dongle",
    ) -> None:
        self.serial = serial
        self.connection = connection
        self.max_block = max_block
        #: `hybrid`: how long requests skip this transport after it failed.
        self.rest = rest
        #: The transport's name, as results say it (`via`) and metrics label it: `dongle`, `modbus_tcp`,
        #: `modbus_rtu`.
        self.name = name
        #: Whether the battery slots are read one at a time though `max_block` would take them all: the
        #: whole block was refused once.
        self.battery_slot_reads = False
        self._modules = batteries.Remembered()
        #: Holding registers the firmware refused to be read: left out of every settings read.
        self.refused_registers: set[int] = set()
        #: The device type code register 19 said (read once, and again when a settings read finds another
        #: family there): whether it is a GridBOSS, and which family's settings' registers are read.
        self.device_type_code: int | None = None

    async def _words(
        self, function: ModbusFunction, wanted: tuple[int, ...], *, around: frozenset[int] = frozenset()
    ) -> dict[int, int]:
        """`wanted`'s registers, in blocks of at most `max_block` that never span one of `around` (the
        registers the firmware refuses to be read)."""
        words: dict[int, int] = {}
        for start, count in registers.blocks(wanted, self.max_block, avoiding=around):
            try:
                values = await self.connection.read(self.serial, function, start, count)
            except (ModbusExceptionError, LocalSilentError) as exc:
                refused = isinstance(exc, ModbusExceptionError) and exc.code == ILLEGAL_DATA_ADDRESS
                if count <= registers.BLOCK or (refused and function is ModbusFunction.READ_HOLDING):
                    # A holding read refused for a register in it (not for its size): the settings read
                    # finds that register (`_holding_around_refused`); the block size stays.
                    raise
                # Older firmware takes 40 registers at a time: ask so from now on.
                log.warning("local_large_read_refused", serial=self.serial, count=count, error=exc.message)
                self.max_block = registers.BLOCK
                return await self._words(function, wanted)
            words.update(zip(range(start, start + count), values, strict=True))
        return words

    async def runtime(self) -> Runtime:
        fields = registers.RUNTIME_FIELDS
        words = await self._words(ModbusFunction.READ_INPUT, registers.input_registers(fields))
        return parse_runtime(registers.decode_inputs(fields, words), self.serial)

    async def energy(self) -> Energy:
        fields = registers.ENERGY_FIELDS
        words = await self._words(ModbusFunction.READ_INPUT, registers.input_registers(fields))
        return parse_energy(registers.decode_inputs(fields, words), self.serial)

    async def gridboss(self) -> GridBossRuntime:
        """A GridBOSS's runtime from its input registers (`gridboss.INPUTS`: what the public sources agree
        on), in reads of 40 at most. Its device type code (register 19) is checked once: another device's
        registers hold other things, and a wrong number is worse than none."""
        if self.device_type_code != gridboss.DEVICE_TYPE_CODE:
            code = (await self._exact(ModbusFunction.READ_HOLDING, registers.DEVICE_TYPE_CODE_REGISTER, 1))[0]
            if code != gridboss.DEVICE_TYPE_CODE:
                raise MalformedResponseError(
                    f"{self.serial} is not a GridBOSS: its device type code (register 19) is {code}, "
                    f"not {gridboss.DEVICE_TYPE_CODE}",
                    serial=self.serial,
                )
            self.device_type_code = code
        words: dict[int, int] = {}
        block = min(self.max_block, gridboss.BLOCK)
        for start, count in registers.blocks(gridboss.input_registers(), block):
            values = await self._exact(ModbusFunction.READ_INPUT, start, count)
            words.update(zip(range(start, start + count), values, strict=True))
        return gridboss.decode(words, self.serial)

    async def _exact(self, function: ModbusFunction, start: int, count: int) -> tuple[int, ...]:
        """`count` registers from `start`; an answer of another length is refused, never read as values."""
        values = await self.connection.read(self.serial, function, start, count)
        if len(values) != count or any(not 0 <= value <= WORD for value in values):
            raise MalformedResponseError(
                f"the {self.name} answered {len(values)} registers from {start} for {self.serial}, "
                f"asked {count}, or a value that is no register's",
                serial=self.serial,
            )
        return values

    async def batteries(self) -> BatteryBank:
        """The battery modules in the four slots from register 5002: read in one request where the
        transport takes 120 registers, so that no module moves between slots in between (pylxpweb's
        reason); otherwise one slot a request, so that a slot, and its serial, always comes whole. A module
        missing from one read is kept, unavailable, for a few (`batteries.Remembered`)."""
        words: dict[int, int] = {}
        for start, count in self._battery_reads():
            values = await self._battery_read(start, count)
            if values is None:
                return await self.batteries()  # the whole block was refused: slot by slot, from now on
            words.update(zip(range(start, start + count), values, strict=True))
        return self._modules.bank(batteries.decode_bank(words, self.serial))

    def _battery_reads(self) -> tuple[tuple[int, int], ...]:
        if self.battery_slot_reads or self.max_block < batteries.ALL:
            return tuple((start, batteries.SLOT_SIZE) for start in batteries.slot_starts())
        return ((batteries.FIRST, batteries.ALL),)

    async def _battery_read(self, start: int, count: int) -> tuple[int, ...] | None:
        """The registers; `None` when a read of the whole block was refused or left unanswered."""
        try:
            return await self.connection.read(self.serial, ModbusFunction.READ_INPUT, start, count)
        except (ModbusExceptionError, LocalSilentError) as exc:
            if count <= batteries.SLOT_SIZE:
                raise
            log.warning("local_battery_block_refused", serial=self.serial, count=count, error=exc.message)
            self.battery_slot_reads = True
            return None

    async def parameters(self) -> ParameterRead:
        """Every parameter with a register encoding (the settings offered locally are those), and what the
        identity registers say: the device type code and power rating, in the vendor's field names."""
        if self.device_type_code is None:
            # Which family it is decides which registers are read: asked alone, once.
            identity = await self._words(ModbusFunction.READ_HOLDING, registers.IDENTITY_REGISTERS)
            self.device_type_code = registers.identity(identity)[0]
        family = family_of_code(self.device_type_code)
        names = registers.holding_of(family)
        wanted = registers.holding_registers(names) + registers.IDENTITY_REGISTERS
        refused: set[int] = set()
        words = await self._holding_around_refused(wanted, refused)
        code, rating = registers.identity(words)
        if family_of_code(code) is not family:
            self.device_type_code = None  # another device answers now: asked again next time
        if code == gridboss.DEVICE_TYPE_CODE:
            # Its registers hold none of an inverter's settings: never offer them (nor write them).
            raise MalformedResponseError(
                f"{self.serial} is a GridBOSS (device type code {code} in register 19), named as an "
                "inverter: give it gridboss: true under inverters",
                serial=self.serial,
            )
        # Only a read that stood remembers what it found refused: a device that refused everything, then
        # its identity, proves nothing about any one register.
        for register in sorted(refused - self.refused_registers):
            log.warning("local_register_refused", serial=self.serial, register=register, via=self.name)
        self.refused_registers |= refused
        names = tuple(name for name in names if registers.HOLDING[name].register in words)
        values: dict[str, ParameterValue] = dict(registers.decode_holding(names, words))
        values |= {DEVICE_TYPE_CODE: str(code), POWER_RATING: rating}
        return ParameterRead(serial=self.serial, values=values, complete=True)

    async def _holding_around_refused(self, wanted: tuple[int, ...], refused: set[int]) -> dict[int, int]:
        """The holding registers of a settings read, less any the firmware refuses to be read (ILLEGAL
        DATA ADDRESS: eg4_web_monitor reports the off-grid models refuse register 233). Such a register
        is found by reading halves and added to `refused`; the settings it holds are not offered, and the
        rest of the read stands. The identity registers are never left out."""
        known = frozenset(self.refused_registers | refused)
        wanted = tuple(register for register in wanted if register not in known)
        try:
            return await self._words(ModbusFunction.READ_HOLDING, wanted, around=known)
        except ModbusExceptionError as exc:
            if exc.code != ILLEGAL_DATA_ADDRESS or len(wanted) == 0:
                raise
            if len(wanted) == 1 and wanted[0] not in registers.IDENTITY_REGISTERS:
                refused.add(wanted[0])
                return {}
            if len(wanted) == 1:
                raise
        half = len(wanted) // 2
        first = await self._holding_around_refused(wanted[:half], refused)
        return first | await self._holding_around_refused(wanted[half:], refused)

    async def read(self, setting: Setting) -> str:
        names = self._names(setting)
        words = await self._words(ModbusFunction.READ_HOLDING, registers.holding_registers(names))
        return setting.from_fields(registers.decode_holding(names, words))

    async def write(self, setting: Setting, value: str) -> int:
        """Read afresh the registers the setting shares with others (a flag's neighbours, a schedule
        boundary's other byte), then write the changed ones, one request each. Returns the requests sent."""
        names = self._names(setting)
        try:
            words = await self._words(ModbusFunction.READ_HOLDING, registers.shared_registers(names))
        except ModbusExceptionError:
            raise
        except LocalTransportError as exc:
            # Nothing was written yet: the write may safely go through another transport.
            raise LocalUnreachableError(f"{exc.message}; nothing was written", sent=False) from exc
        try:
            changed = registers.encode_holding(setting.to_fields(value), words)
        except registers.EncodingError as exc:
            raise RefusedError(f"{value} cannot be written to the register: {exc}") from exc
        # One register at a time (function 6), in order: a window's start before its end. lxp-bridge and
        # eg4_web_monitor write schedule registers so; eg4_web_monitor reports that they refuse function 16.
        for register in sorted(changed):
            await self.connection.write_single(self.serial, register, changed[register])
        return len(changed)

    def _names(self, setting: Setting) -> tuple[str, ...]:
        names = setting.field_names
        if not registers.has_local_encoding(names):
            raise RefusedError(
                f"{setting.name} cannot be written through the {self.name}, only through the cloud"
            )
        return names


def as_transport_error(exc: LocalTransportError, serial: str, *, writing: bool, via: str) -> TransportError:
    """The bridge's error for a register transport's failure: the same kinds, with the same meanings, as the
    cloud's."""
    error: TransportError
    if isinstance(exc, ModbusExceptionError):
        error = RefusedError(exc.message, serial=serial)
    elif writing and exc.sent:
        error = OutcomeUnknownError(exc.message, serial=serial)
    else:
        error = TransientError(exc.message, serial=serial, maybe_delivered=exc.sent)
    error.via = via
    return error


class Router:
    """Picks the transport for each inverter and request: the poller's `InverterReader` and the write
    queue's `SettingsTransport`. Its transports are handed in: the cloud's client (or none) and each
    inverter's register transport (`register_transports` makes them from the config)."""

    def __init__(
        self,
        cloud: CloudClient | None,
        local: Mapping[str, RegisterTransport],
        settings: Settings,
        clock: Clock,
    ) -> None:
        self._cloud = cloud
        self._settings = settings
        self._clock = clock
        self._local = dict(local)
        self._resting_until: dict[str, float] = {}
        #: The GridBOSSes among the devices, as the config or the cloud's list names them: their registers
        #: hold none of an inverter's settings.
        self._gridbosses = {serial for serial, own in settings.inverters.items() if own.gridboss}
        #: The hybrid fills from the cloud that failed last time, by serial and the event that said so.
        self._cloud_fill_failing: set[tuple[str, str]] = set()

    def mode_of(self, serial: str) -> str:
        """The routing mode: `cloud`, `local` or `hybrid`, as configured."""
        return self._settings.mode_of(serial)

    def sensors_of(self, serial: str) -> frozenset[str] | None:
        """Reached without the cloud (`local`), an inverter has only the sensors its registers give; through
        the cloud alone, only those the cloud's answers give; `None` (`hybrid`): all of them."""
        mode = self.mode_of(serial)
        if serial in self._gridbosses:
            return GRIDBOSS_LOCAL_SENSORS if mode == "local" else None
        if mode == "local":
            return LOCAL_SENSORS
        return CLOUD_SENSORS if mode == "cloud" or serial not in self._local else None

    @property
    def local_stats(self) -> dict[str, tuple[str, LocalStats]]:
        """Each register transport's name and counts, by the serial of the inverter behind it."""
        return {serial: (way.name, way.connection.stats) for serial, way in self._local.items()}

    async def close(self) -> None:
        for way in self._local.values():
            await way.connection.close()

    # -- the poller's InverterReader ------------------------------------------------------------------

    async def inverters(self) -> tuple[InverterInfo, ...]:
        if self._cloud is None:
            # No cloud account: the inverters are the ones the config names, each with its dongle.
            return tuple(_configured(serial, gridboss=serial in self._gridbosses) for serial in self._local)
        found = await self._cloud.inverters()
        self._gridbosses |= {info.serial for info in found if info.device_type == GRIDBOSS_DEVICE_TYPE}
        return found

    async def get_runtime(self, serial: str) -> Runtime:
        return (
            await self._route(serial, RegisterTransport.runtime, lambda cloud: cloud.get_runtime(serial))
        )[0]

    async def get_energy(self, serial: str) -> Energy:
        return (await self._route(serial, RegisterTransport.energy, lambda cloud: cloud.get_energy(serial)))[
            0
        ]

    async def get_gridboss(self, serial: str) -> GridBossRuntime:
        """A GridBOSS's runtime: through its dongle or adapter (the input registers the public sources
        agree on, `transports.local.gridboss`), the cloud's answer otherwise. `hybrid`: the cloud's answer
        fills what the registers do not give (the smart ports' modes, today's import and export)."""
        return await self._filled_by_cloud(
            serial,
            RegisterTransport.gridboss,
            lambda cloud: cloud.get_gridboss(serial),
            fill=_gridboss_filled,
            unfilled=lambda local: local,
            events=("gridboss_cloud_fields_unread", "gridboss_cloud_fields_read_again"),
        )

    async def _filled_by_cloud(
        self,
        serial: str,
        local: Callable[[RegisterTransport], Awaitable[_Answer]],
        cloud: Callable[[CloudClient], Awaitable[_Answer]],
        *,
        fill: Callable[[_Answer, _Answer], _Answer],
        unfilled: Callable[[_Answer], _Answer],
        events: tuple[str, str],
        fill_from: Callable[[CloudClient, _Answer], Awaitable[_Answer]] | None = None,
    ) -> _Answer:
        """`local`'s answer (or the cloud's, routed as every read is); `hybrid`, when the register transport
        answered: with what only the cloud gives (`fill_from` given the local answer, or `cloud`'s answer)
        filled in (`fill`), or `unfilled` when the cloud fails. `events`: what the log says when the cloud
        fails to fill, and when it answers again."""
        answer, via = await self._route(serial, local, cloud)
        client = self._cloud
        if via == "cloud" or self.mode_of(serial) != "hybrid" or client is None:
            if via == "cloud":
                self._cloud_answered(serial, events)
            return answer
        try:
            remote = await (cloud(client) if fill_from is None else fill_from(client, answer))
        except TransportError as exc:
            self._cloud_fill_failed(serial, events[0], exc)
            return unfilled(answer)
        self._cloud_answered(serial, events)
        return fill(answer, remote)

    def _cloud_fill_failed(self, serial: str, event: str, exc: TransportError) -> None:
        """Warned once an outage (these reads repeat every cycle), then at debug until it answers again."""
        level = log.debug if (serial, event) in self._cloud_fill_failing else log.warning
        self._cloud_fill_failing.add((serial, event))
        level(event, serial=serial, error=exc.message)

    def _cloud_answered(self, serial: str, events: tuple[str, str]) -> None:
        failed, answered_again = events
        if (serial, failed) in self._cloud_fill_failing:
            self._cloud_fill_failing.discard((serial, failed))
            log.info(answered_again, serial=serial)

    async def get_batteries(self, serial: str) -> BatteryBank:
        """The battery modules: through the dongle or adapter (input registers 5002 on), the cloud's
        answer otherwise, as the runtime is."""
        return (
            await self._route(serial, RegisterTransport.batteries, lambda cloud: cloud.get_batteries(serial))
        )[0]

    async def get_last_event(self, serial: str) -> Event | None:
        """The newest event of the inverter's log: the cloud keeps it (no register holds a log), so
        through the cloud alone; `local` never asks the cloud, so there it is `NoTransportError`."""
        if self.mode_of(serial) == "local":
            raise NoTransportError("the event log is read through the cloud only", serial=serial)
        return await self._through_cloud(serial, lambda cloud: cloud.get_last_event(serial))

    async def read_parameters(self, serial: str) -> ParameterRead:
        if serial in self._gridbosses:
            # Its smart ports' modes: no register encoding the sources agree on, so the cloud's alone.
            if self.mode_of(serial) == "local":
                raise NoTransportError("a GridBOSS's settings are read through the cloud only", serial=serial)
            return await self._through_cloud(serial, lambda cloud: cloud.read_parameters(serial))
        # `hybrid`: the settings with no register encoding come from the cloud's read, the rest from the
        # dongle's; a cloud that fails leaves them out of this read (they keep their last values).
        return await self._filled_by_cloud(
            serial,
            RegisterTransport.parameters,
            lambda cloud: cloud.read_parameters(serial),
            fill=_with_cloud_only_settings,
            unfilled=lambda local: local.model_copy(update={"complete": False}),
            events=("cloud_only_settings_unread", "cloud_only_settings_read_again"),
            # Quick charge's state, where the dongle read it (register 233), is not asked of the cloud.
            fill_from=lambda cloud, local: cloud.read_parameters(
                serial, actions=QUICK_CHARGE_RUNNING not in local.values
            ),
        )

    # -- the write queue's SettingsTransport --------------------------------------------------------

    async def write(self, serial: str, setting: Setting, value: str) -> Delivery:
        attempts, via = await self._route(
            serial,
            lambda way: way.write(setting, value),
            lambda cloud: CloudTransport(cloud).write(serial, setting, value),
            writing=True,
            local_has_it=registers.has_local_encoding(setting.field_names),
        )
        return Delivery(attempts, via)

    async def read(self, serial: str, setting: Setting) -> str:
        return (
            await self._route(
                serial,
                lambda way: way.read(setting),
                lambda cloud: CloudTransport(cloud).read(serial, setting),
                local_has_it=registers.has_local_encoding(setting.field_names),
            )
        )[0]

    async def _route(
        self,
        serial: str,
        local: Callable[[RegisterTransport], Awaitable[_Answer]],
        cloud: Callable[[CloudClient], Awaitable[_Answer]],
        *,
        writing: bool = False,
        local_has_it: bool = True,
    ) -> tuple[_Answer, str]:
        """The answer and the name of the transport it came through. `hybrid`: the register transport first;
        when it cannot be reached or does not answer (and, for a write, nothing was written), the cloud, and
        the register transport rests a while."""
        way, mode = self._local.get(serial), self.mode_of(serial)
        if way is None or mode == "cloud" or (mode == "hybrid" and not local_has_it):
            return await self._through_cloud(serial, cloud), "cloud"
        if mode == "hybrid" and self._resting_until.get(serial, 0.0) > self._clock.now():
            return await self._through_cloud(serial, cloud), "cloud"
        try:
            return await local(way), way.name
        except LocalTransportError as exc:
            safe_elsewhere = not (writing and exc.sent) and not isinstance(exc, ModbusExceptionError)
            if mode != "hybrid" or self._cloud is None or not safe_elsewhere:
                raise as_transport_error(exc, serial, writing=writing, via=way.name) from exc
            log.warning(
                "local_transport_failed_cloud_asked_instead", serial=serial, via=way.name, error=exc.message
            )
            self._resting_until[serial] = self._clock.now() + way.rest
            return await self._through_cloud(serial, cloud), "cloud"
        except RefusedError as exc:
            exc.via = way.name
            raise

    async def _through_cloud(self, serial: str, call: Callable[[CloudClient], Awaitable[_Answer]]) -> _Answer:
        if self._cloud is None:
            raise NoTransportError(
                f"no transport reaches {serial}: no cloud account, and no dongle or adapter"
            )
        try:
            return await call(self._cloud)
        except TransportError as exc:
            exc.via = "cloud"
            raise


def register_transports(settings: Settings) -> dict[str, RegisterTransport]:
    """Each inverter's register transport (`local`, `hybrid`), by serial, as the config names them."""
    lines: dict[str, ModbusLine] = {}  # by serial device: the inverters on one RS485 line share it
    return {
        serial: _register_transport(serial, way, lines) for serial, way in settings.local_transports.items()
    }


def _register_transport(
    serial: str, way: DongleSettings | ModbusSettings, lines: dict[str, ModbusLine]
) -> RegisterTransport:
    if isinstance(way, ModbusSettings):
        line = lines.setdefault(way.device, ModbusLine()) if way.device is not None else None
        # Blocks of 40: what every firmware takes through its RS485 port.
        return RegisterTransport(
            serial, ModbusConnection(way, line), registers.BLOCK, way.rest_seconds, name=way.kind
        )
    return RegisterTransport(serial, _connection(way), way.max_block, way.rest_seconds)


def _connection(dongle: DongleSettings) -> DongleConnection:
    return DongleConnection(
        dongle.serial,
        tcp_connector(dongle.host, dongle.port),
        timeout=dongle.timeout_seconds,
        answer_heartbeats=dongle.answer_heartbeats,
        where=f"{dongle.serial} at {dongle.host}:{dongle.port}",
    )


def _gridboss_filled(local: GridBossRuntime, remote: GridBossRuntime) -> GridBossRuntime:
    """The registers' values, and the cloud's where the registers give none. A cloud that says the
    GridBOSS is lost (its link to the cloud down while its dongle answers) gives nothing: the GridBOSS
    answered, and is never made lost by the cloud's word."""
    if remote.lost:
        return local
    unknown = {name for name, value in local if value is None}
    return local.model_copy(
        update={name: value for name, value in remote if name in unknown and value is not None}
    )


def _with_cloud_only_settings(local: ParameterRead, remote: ParameterRead) -> ParameterRead:
    """The dongle's values, and the cloud's for the settings with no register encoding."""
    values = dict(remote.values) | dict(local.values)
    return local.model_copy(update={"values": values, "complete": remote.complete})


def _configured(serial: str, *, gridboss: bool = False) -> InverterInfo:
    """A device known from the config alone: the dongle does not say which model it is; the config says
    whether it is a GridBOSS."""
    if gridboss:
        return InverterInfo.model_validate(
            {"serialNum": serial, "deviceTypeText": GRIDBOSS_MODEL, "deviceType": GRIDBOSS_DEVICE_TYPE}
        )
    return InverterInfo.model_validate(
        {"serialNum": serial, "deviceTypeText": UNIDENTIFIED_MODEL, "deviceType": INVERTER_DEVICE_TYPE}
    )


def sensors_given_locally() -> frozenset[str]:
    """The keys of the runtime and energy sensors the input registers give (the load, which the cloud
    computes, they do not): what an inverter reached without the cloud is announced with."""
    zeros = dict.fromkeys(range(256), 0)
    runtime = parse_runtime(registers.decode_inputs(registers.RUNTIME_FIELDS, zeros), "0000000000")
    energy = parse_energy(registers.decode_inputs(registers.ENERGY_FIELDS, zeros), "0000000000")
    return frozenset(
        sensor.key
        for sensor in (*SENSORS, *ENERGY_SENSORS)
        if getattr(runtime, sensor.field, None) is not None or getattr(energy, sensor.field, None) is not None
    )


LOCAL_SENSORS: Final = sensors_given_locally()


def gridboss_sensors_given_locally() -> frozenset[str]:
    """The keys of the GridBOSS sensors its input registers give: what a GridBOSS reached without the cloud
    is announced with."""
    runtime = gridboss.decode(dict.fromkeys(gridboss.input_registers(), 0), "0000000000")
    return frozenset(sensor.key for sensor in GRIDBOSS_SENSORS if getattr(runtime, sensor.field) is not None)


GRIDBOSS_LOCAL_SENSORS: Final = gridboss_sensors_given_locally()
#: The cloud's answers carry no fault or warning codes: those sensors are not announced there.
CLOUD_SENSORS: Final = frozenset(
    sensor.key for sensor in (*SENSORS, *ENERGY_SENSORS) if not sensor.registers_only
)
