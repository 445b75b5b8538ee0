"""The dongle connection against a fake transport (our own `Stream` seam): which frames are the answer, what
is skipped, when a request is asked again and when never; and the register table's encodings."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import pytest
from structlog.testing import capture_logs

from bridge.transports.local import frames, registers
from bridge.transports.local.dongle import (
    DongleConnection,
    LocalDroppedError,
    LocalSilentError,
    LocalUnreachableError,
    ModbusExceptionError,
    Stream,
    TcpStream,
)
from bridge.transports.local.frames import ModbusFunction, TcpFunction

pytestmark = pytest.mark.unit

DONGLE = "BA12345600"
INVERTER = "4512345600"
OTHER = "4512345699"

_Answer = TypeVar("_Answer")

#: What the fake dongle does with one request: the bytes it sends back, in as many reads, or an error a read
#: raises (None: it hangs up instead).
Script = Callable[[frames.Frame], Sequence[bytes | OSError] | None]


@dataclass
class FakeStream:
    script: Script
    sent: list[frames.Frame] = field(default_factory=list)
    incoming: asyncio.Queue[bytes | OSError] = field(default_factory=asyncio.Queue)
    closed: bool = False

    async def read(self) -> bytes:
        data = await self.incoming.get()
        if isinstance(data, OSError):
            raise data
        return data

    def write(self, data: bytes) -> None:
        frame = frames.decode(data)
        self.sent.append(frame)
        if frame.tcp_function != TcpFunction.TRANSLATED:
            return  # an echoed heartbeat
        replies = self.script(frame)
        if replies is None:
            self.incoming.put_nowait(b"")  # the dongle hangs up
        else:
            for reply in replies:
                self.incoming.put_nowait(reply)

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeDongle:
    """Hands out one `FakeStream` per connection, each following `scripts` in turn (the last one repeats)."""

    scripts: list[Script]
    streams: list[FakeStream] = field(default_factory=list)
    #: A connection that cannot be made: the error the connector raises, or "hangs" (it never returns).
    unreachable: OSError | Literal["hangs"] | None = None

    async def connect(self) -> Stream:
        if self.unreachable == "hangs":
            await asyncio.Event().wait()
        if isinstance(self.unreachable, OSError):
            raise self.unreachable
        script = self.scripts[min(len(self.streams), len(self.scripts) - 1)]
        stream = FakeStream(script)
        self.streams.append(stream)
        return stream

    @property
    def requests(self) -> list[frames.Frame]:
        return [frame for stream in self.streams for frame in stream.sent]


def answer(values: list[int]) -> Callable[[frames.Frame], list[bytes]]:
    def reply(request: frames.Frame) -> list[bytes]:
        if request.modbus_function in (ModbusFunction.WRITE_SINGLE, ModbusFunction.WRITE_MULTIPLE):
            # The request's own head echoed: function, inverter, register and value (or count).
            data = b"\x01" + request.data[1:16]
            return [frames.frame(TcpFunction.TRANSLATED, DONGLE, data)]
        function = ModbusFunction(request.modbus_function or 3)
        return [frames.read_reply(DONGLE, INVERTER, function, request.start or 0, values)]

    return reply


def heartbeat(dongle: str = DONGLE) -> bytes:
    return frames.heartbeat(dongle)


def exception_reply(inverter: str, function: ModbusFunction, start: int, code: int = 4) -> bytes:
    """The inverter's refusal of a request: its function with the exception bit, and the code."""
    data = (
        bytes([1, function | frames.EXCEPTION_BIT])
        + inverter.encode().ljust(frames.SERIAL_SIZE, b"\x00")
        + start.to_bytes(2, "little")
        + bytes([code])
    )
    return frames.frame(TcpFunction.TRANSLATED, DONGLE, data)


def silent(request: frames.Frame) -> list[bytes]:
    return []


async def bounded(request: Awaitable[_Answer]) -> _Answer:
    """A request expected to time out, given up by the test itself if the connection's own timeout never
    comes (`TimeoutError`, not the connection's error), so that a lost timeout fails fast instead of hanging."""
    return await asyncio.wait_for(request, 1.0)


async def let_the_reader_run() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def connection(dongle: FakeDongle, *, timeout: float = 0.2, heartbeats: bool = False) -> DongleConnection:
    return DongleConnection(DONGLE, dongle.connect, timeout=timeout, answer_heartbeats=heartbeats)


async def test_a_read_returns_the_registers_of_the_matching_reply() -> None:
    dongle = FakeDongle([answer([60, 100])])
    values = await connection(dongle).read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2)
    assert values == (60, 100)
    request = dongle.requests[0]
    assert (request.inverter_serial, request.modbus_function, request.start, request.values) == (
        INVERTER,
        ModbusFunction.READ_HOLDING,
        101,
        (2,),
    )


@pytest.mark.parametrize(
    "noise",
    [
        pytest.param(heartbeat, id="a heartbeat"),
        pytest.param(
            lambda: frames.read_reply(DONGLE, OTHER, ModbusFunction.READ_HOLDING, 101, [7, 7]),
            id="another inverter's reply",
        ),
        pytest.param(
            lambda: frames.read_reply(DONGLE, INVERTER, ModbusFunction.READ_INPUT, 101, [7, 7]),
            id="a reply of another function",
        ),
        pytest.param(
            lambda: frames.read_reply(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 100, [7, 7]),
            id="a reply for another start register",
        ),
        pytest.param(
            lambda: frames.read_reply(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 101, [7]),
            id="a reply with another register count",
        ),
        pytest.param(
            lambda: frames.read_request(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 101, 2),
            id="the cloud's request for the same registers",
        ),
        pytest.param(lambda: b"\x00\xffgarbage" + heartbeat()[:9], id="bytes that are no frame"),
    ],
)
async def test_frames_that_are_not_the_answer_are_skipped(noise: Callable[[], bytes]) -> None:
    def noisy(request: frames.Frame) -> list[bytes]:
        return [noise(), *answer([60, 100])(request)]

    dongle = FakeDongle([noisy])
    link = connection(dongle)
    assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (60, 100)
    assert link.stats.skipped_frames == 1


async def test_heartbeats_are_echoed_only_when_asked_to() -> None:
    def beat_twice_first(request: frames.Frame) -> list[bytes]:
        return [heartbeat(), heartbeat(), *answer([60])(request)]

    quiet, echoing = FakeDongle([beat_twice_first]), FakeDongle([beat_twice_first])
    by_default = DongleConnection(DONGLE, quiet.connect, timeout=0.2)
    await by_default.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1)
    echo = connection(echoing, heartbeats=True)
    await echo.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1)
    assert [frame.tcp_function for frame in quiet.streams[0].sent] == [TcpFunction.TRANSLATED]
    assert [frame.tcp_function for frame in echoing.streams[0].sent] == [
        TcpFunction.TRANSLATED,
        TcpFunction.HEARTBEAT,
        TcpFunction.HEARTBEAT,
    ]
    assert (by_default.stats.heartbeats_answered, echo.stats.heartbeats_answered) == (0, 2)
    assert (by_default.stats.skipped_frames, echo.stats.skipped_frames) == (2, 2)


#: A write and which registers it asks for; the other write function (a reply of it is not this write's).
WRITES: dict[ModbusFunction, tuple[Callable[[DongleConnection], Awaitable[None]], ModbusFunction]] = {
    ModbusFunction.WRITE_SINGLE: (
        lambda link: link.write_single(INVERTER, 101, 60),
        ModbusFunction.WRITE_MULTIPLE,
    ),
    ModbusFunction.WRITE_MULTIPLE: (
        lambda link: link.write_multiple(INVERTER, 101, [60, 100]),
        ModbusFunction.WRITE_SINGLE,
    ),
}


@pytest.mark.parametrize("function", list(WRITES), ids=["write one register", "write several"])
@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param(lambda function, other: exception_reply(OTHER, function, 101), id="of another inverter"),
        pytest.param(
            lambda function, other: exception_reply(INVERTER, function, 102), id="of another register"
        ),
        pytest.param(lambda function, other: exception_reply(INVERTER, other, 101), id="of another function"),
    ],
)
async def test_a_refusal_of_another_write_is_not_taken_for_this_ones(
    function: ModbusFunction, refusal: Callable[[ModbusFunction, ModbusFunction], bytes]
) -> None:
    """Each differs from the request in one thing alone; taken for the answer, it would fail this write."""
    write, other = WRITES[function]

    def refused_elsewhere_then_done(request: frames.Frame) -> list[bytes]:
        return [refusal(function, other), *answer([])(request)]

    dongle = FakeDongle([refused_elsewhere_then_done])
    link = connection(dongle)
    await write(link)
    assert link.stats.skipped_frames == 1
    sent = dongle.requests[0]
    assert (sent.inverter_serial, sent.modbus_function, sent.start) == (INVERTER, function, 101)


async def test_several_registers_are_written_in_one_request() -> None:
    dongle = FakeDongle([answer([])])
    await connection(dongle).write_multiple(INVERTER, 101, [60, 100])
    request = dongle.requests[0]
    assert (request.modbus_function, request.start, request.values) == (
        ModbusFunction.WRITE_MULTIPLE,
        101,
        (60, 100),
    )


async def test_an_exception_reply_to_a_read_is_a_refusal() -> None:
    def refuse(request: frames.Frame) -> list[bytes]:
        return [exception_reply(INVERTER, ModbusFunction.READ_HOLDING, 101, code=2)]

    with pytest.raises(ModbusExceptionError) as refused:
        await connection(FakeDongle([refuse])).read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2)
    assert refused.value.code == 2


async def test_heartbeats_between_requests_are_echoed_as_they_come_when_asked_to() -> None:
    dongle = FakeDongle([answer([60])])
    link = connection(dongle, heartbeats=True)
    await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1)
    dongle.streams[0].incoming.put_nowait(heartbeat())  # nothing is being asked now
    for _ in range(5):
        await asyncio.sleep(0)
    assert [frame.tcp_function for frame in dongle.streams[0].sent] == [
        TcpFunction.TRANSLATED,
        TcpFunction.HEARTBEAT,
    ]
    assert link.stats.heartbeats_answered == 1
    await link.close()
    assert dongle.streams[0].closed


async def test_a_stale_reply_left_from_an_earlier_request_is_not_taken_for_the_next() -> None:
    late = frames.read_reply(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 101, [99])

    def silent_then_late(request: frames.Frame) -> list[bytes]:
        return []

    dongle = FakeDongle([silent_then_late, answer([60])])
    link = connection(dongle, timeout=0.05)
    with pytest.raises(LocalSilentError) as silent:
        await bounded(link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1))
    assert silent.value.sent
    assert silent.value.message == "the dongle BA12345600 did not answer within 0.05 s"
    dongle.streams[0].incoming.put_nowait(late)  # it arrives after the bridge gave up
    assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1) == (60,)
    assert dongle.streams[0].closed
    assert len(dongle.streams) == 2
    assert (link.stats.reconnects, link.stats.requests) == (1, 2)


async def test_a_dongle_that_only_sends_its_heartbeats_did_not_answer() -> None:
    def beat_only(request: frames.Frame) -> list[bytes]:
        return [heartbeat()]

    link = DongleConnection(
        DONGLE, FakeDongle([beat_only]).connect, timeout=0.05, where=f"{DONGLE} at host:8000"
    )
    with pytest.raises(LocalSilentError) as silent:
        await bounded(link.write_single(INVERTER, 101, 60))
    assert silent.value.message == "the dongle BA12345600 at host:8000 did not answer within 0.05 s"
    assert link.heard_serial is None


async def test_a_dongle_that_names_itself_otherwise_than_the_config_is_said_so() -> None:
    """Its heartbeats carry its own serial; it never answers requests for another dongle's serial."""

    def another_dongle(request: frames.Frame) -> list[bytes]:
        return [heartbeat("BA99999999")]

    where = f"{DONGLE} at 192.0.2.1:8000"
    link = DongleConnection(DONGLE, FakeDongle([another_dongle]).connect, timeout=0.05, where=where)
    with pytest.raises(LocalSilentError) as silent:
        await bounded(link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1))
    assert link.heard_serial == "BA99999999"
    assert silent.value.message == (
        "the dongle at 192.0.2.1:8000 says its serial is BA99999999; the config says BA12345600 "
        "(dongle.serial is the dongle's own, on its label)"
    )


async def test_a_dongle_that_hung_up_between_requests_is_connected_again() -> None:
    dongle = FakeDongle([answer([60])])
    link = connection(dongle)
    await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1)
    with capture_logs() as logs:
        for _ in range(2):
            dongle.streams[-1].incoming.put_nowait(b"")  # the dongle closes the idle connection
            await let_the_reader_run()
            assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1) == (60,)
    assert len(dongle.streams) == 3
    assert link.stats.reconnects == 2
    assert logs.count({"event": "dongle_reconnected", "log_level": "info", "dongle": DONGLE}) == 2


def hang_up(request: frames.Frame) -> None:
    return None


def reset(request: frames.Frame) -> list[OSError]:
    return [ConnectionResetError(104, "Connection reset by peer")]


@pytest.mark.parametrize("cut_off", [hang_up, reset], ids=["the dongle hangs up", "the connection is reset"])
async def test_a_read_cut_off_by_a_dropped_connection_is_asked_again_once(cut_off: Script) -> None:
    dongle = FakeDongle([cut_off, answer([60])])
    link = connection(dongle)
    assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1) == (60,)
    assert len(dongle.requests) == 2


async def test_a_read_cut_off_twice_fails_as_dropped() -> None:
    dongle = FakeDongle([hang_up])
    with pytest.raises(LocalDroppedError) as dropped:
        await connection(dongle).read(INVERTER, ModbusFunction.READ_HOLDING, 101, 1)
    assert dropped.value.sent
    assert dropped.value.message == "the connection to the dongle BA12345600 closed before it answered"
    assert len(dongle.requests) == 2, "asked twice, no more"


@pytest.mark.parametrize("cut_off", [hang_up, reset], ids=["the dongle hangs up", "the connection is reset"])
async def test_a_write_cut_off_by_a_dropped_connection_is_never_sent_again(cut_off: Script) -> None:
    dongle = FakeDongle([cut_off, answer([60])])
    link = connection(dongle)
    with pytest.raises(LocalDroppedError) as dropped:
        await link.write_single(INVERTER, 101, 60)
    assert dropped.value.sent
    assert len(dongle.requests) == 1


async def test_an_exception_reply_is_a_refusal_with_its_code() -> None:
    def refuse(request: frames.Frame) -> list[bytes]:
        data = bytes([1, (request.modbus_function or 0) | 0x80]) + request.data[2:14] + bytes([3])
        return [frames.frame(TcpFunction.TRANSLATED, DONGLE, data)]

    with pytest.raises(ModbusExceptionError) as refused:
        await connection(FakeDongle([refuse])).write_single(INVERTER, 101, 300)
    assert refused.value.code == 3
    assert refused.value.sent is True, "the inverter had the request, and said no"
    assert (
        str(refused.value) == refused.value.message == "the inverter refused the request (Modbus exception 3)"
    )


@pytest.mark.parametrize(
    ("unreachable", "reason"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "Connection refused"),
        (ConnectionRefusedError(), "ConnectionRefusedError"),  # no words from the system: its kind
        ("hangs", "timed out"),
    ],
    ids=["refused", "refused without a reason", "no answer in time"],
)
async def test_an_unreachable_dongle_says_why_and_that_nothing_was_sent(
    unreachable: OSError | Literal["hangs"], reason: str
) -> None:
    dongle = FakeDongle([answer([60])], unreachable=unreachable)
    with pytest.raises(LocalUnreachableError) as failed:
        await bounded(connection(dongle, timeout=0.05).write_single(INVERTER, 101, 60))
    assert failed.value.sent is False
    assert str(failed.value) == failed.value.message == f"cannot connect to the dongle BA12345600: {reason}"


async def test_a_reply_split_over_several_reads_is_put_together() -> None:
    def in_pieces(request: frames.Frame) -> list[bytes]:
        whole = answer([60, 100])(request)[0]
        return [whole[:5], whole[5:23], whole[23:]]

    assert await connection(FakeDongle([in_pieces])).read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (
        60,
        100,
    )


@pytest.mark.parametrize(
    ("before", "cut"),
    [(b"", 1), (b"noise", 1), (b"noise", 2), (b"", 12)],
    ids=["inside the prefix", "inside the prefix, after noise", "after the prefix", "inside the header"],
)
async def test_a_reply_cut_anywhere_in_its_head_is_put_together(before: bytes, cut: int) -> None:
    def in_two(request: frames.Frame) -> list[bytes]:
        whole = answer([60, 100])(request)[0]
        return [before + whole[:cut], whole[cut:]]

    link = connection(FakeDongle([in_two]))
    assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (60, 100)
    assert link.stats.bad_frames == 0


async def test_a_frame_that_fails_its_check_is_skipped_and_logged_at_debug() -> None:
    def broken_twice_then_done(request: frames.Frame) -> list[bytes]:
        whole = answer([60, 100])(request)[0]
        broken = whole[:-1] + bytes([whole[-1] ^ 0xFF])  # its CRC no longer matches
        return [broken, broken, whole]

    link = connection(FakeDongle([broken_twice_then_done]))
    with capture_logs() as logs:
        assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (60, 100)
    skipped = [entry for entry in logs if entry["event"] == "dongle_frame_skipped"]
    assert [(entry["log_level"], entry["dongle"]) for entry in skipped] == [("debug", DONGLE)] * 2
    assert skipped[0]["reason"].startswith("CRC ")
    assert (link.stats.skipped_frames, link.stats.bad_frames) == (2, 2)


class RecordingTransport(asyncio.WriteTransport):
    """What a TCP connection's transport is told: the bytes written, and whether it was closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_a_tcp_stream_reads_what_arrives_writes_and_closes_its_connection() -> None:
    """The real stream over asyncio's reader and writer, with a recording transport instead of a socket."""
    reader, transport = asyncio.StreamReader(), RecordingTransport()
    protocol = asyncio.StreamReaderProtocol(reader)
    stream = TcpStream(reader, asyncio.StreamWriter(transport, protocol, reader, asyncio.get_running_loop()))
    reader.feed_data(b"\xa1\x1a a frame")
    assert await stream.read() == b"\xa1\x1a a frame"
    reader.feed_eof()
    assert await stream.read() == b"", "the dongle closed the connection"
    stream.write(b"a request")
    stream.close()
    assert (bytes(transport.written), transport.closed) == (b"a request", True)


# -- the register table -------------------------------------------------------------------------------


def test_a_flag_is_written_with_its_neighbours_kept() -> None:
    words = {21: 0b1000_0000_1000_0001}  # EPS (bit 0), AC charge (bit 7), feed-in (bit 15)
    cleared = registers.encode_holding({"FUNC_AC_CHARGE": False}, words)
    assert cleared == {21: 0b1000_0000_0000_0001}
    assert registers.encode_holding({"FUNC_FORCED_CHG_EN": True}, words) == {21: 0b1000_1000_1000_0001}
    assert registers.decode_holding(("FUNC_AC_CHARGE", "FUNC_FORCED_CHG_EN"), words) == {
        "FUNC_AC_CHARGE": True,
        "FUNC_FORCED_CHG_EN": False,
    }


def test_a_window_packs_hour_low_and_minute_high_in_two_registers() -> None:
    values = {
        "HOLD_AC_CHARGE_START_HOUR_1": "01",
        "HOLD_AC_CHARGE_START_MINUTE_1": "30",
        "HOLD_AC_CHARGE_END_HOUR_1": "05",
        "HOLD_AC_CHARGE_END_MINUTE_1": "45",
    }
    written = registers.encode_holding(values, {70: 0, 71: 0})
    assert written == {70: 30 << 8 | 1, 71: 45 << 8 | 5}
    assert registers.decode_holding(tuple(values), written) == values


def test_scaled_numbers_round_trip_and_refuse_what_the_register_cannot_hold() -> None:
    assert registers.encode_holding({"HOLD_AC_CHARGE_POWER_CMD": "7.5"}, {66: 0}) == {66: 75}
    assert registers.decode_holding(("HOLD_SYSTEM_CHARGE_VOLT_LIMIT",), {228: 595}) == {
        "HOLD_SYSTEM_CHARGE_VOLT_LIMIT": "59.5"
    }
    assert registers.decode_holding(("HOLD_LEAD_ACID_CHARGE_RATE",), {101: 250}) == {
        "HOLD_LEAD_ACID_CHARGE_RATE": "250"
    }
    for impossible in ("7.55", "-1", "7000"):
        with pytest.raises(registers.EncodingError):
            registers.encode_holding({"HOLD_AC_CHARGE_POWER_CMD": impossible}, {66: 0})


def test_inputs_decode_bytes_signs_sums_and_32_bit_counters() -> None:
    words = {5: 0x6450, 64: 0xFFFB, 7: 100, 8: 200, 9: 0, 40: 5, 41: 1, 42: 1, 43: 0, 44: 0, 45: 0}
    decoded = registers.decode_inputs(("soc", "tinner", "ppv", "totalYielding"), words)
    assert decoded == {"soc": 0x50, "tinner": -5, "ppv": 300, "totalYielding": (1 << 16 | 5) + 1}
    encoded = registers.encode_inputs(decoded)
    assert registers.decode_inputs(("soc", "tinner", "totalYielding"), encoded) == {
        "soc": 0x50,
        "tinner": -5,
        "totalYielding": (1 << 16 | 5) + 1,
    }


def test_reads_are_grouped_into_the_fewest_blocks() -> None:
    assert registers.blocks((101, 21, 102, 66, 67), 40) == ((21, 1), (66, 37))
    assert registers.blocks((0, 39, 40), 40) == ((0, 40), (40, 1))
    assert registers.blocks((), 40) == ()


def test_every_window_register_packs_its_own_boundary() -> None:
    """The schedule table is built at import (where mutation testing cannot reach): pinned here."""
    windows = {
        name: part for name, part in registers.HOLDING.items() if isinstance(part, registers.ClockPart)
    }
    assert len(windows) == 12 + 8 + 12 + 8 + 12  # AC charge, generator, AC first, peak shaving, off-grid
    schedules = [
        ("HOLD_AC_CHARGE", 68, ("", "_1", "_2")),
        ("HOLD_GEN", 256, ("_1", "_2")),
        ("HOLD_AC_FIRST", 152, ("", "_1", "_2")),
        ("HOLD_OFF_GRID", 269, ("_1", "_2", "_3")),
    ]
    # The peak-shaving schedule is read under numbered names, four a window, in the same packing.
    for number in range(37, 45):
        part = windows[f"LSP_HOLD_DIS_CHG_POWER_TIME_{number}"]
        high = number % 2 == 0
        assert (part.register, part.high_byte, part.highest) == (
            209 + (number - 37) // 2,
            high,
            59 if high else 23,
        )
    for prefix, first, suffixes in schedules:
        for number, suffix in enumerate(suffixes):
            for offset, edge in enumerate(("START", "END")):
                register = first + 2 * number + offset
                hour = windows[f"{prefix}_{edge}_HOUR{suffix}"]
                minute = windows[f"{prefix}_{edge}_MINUTE{suffix}"]
                assert (hour.register, hour.high_byte, hour.highest) == (register, False, 23)
                assert (minute.register, minute.high_byte, minute.highest) == (register, True, 59)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("HOLD_AC_CHARGE_POWER_CMD", "lots", "'lots' is not a number"),
        ("HOLD_AC_CHARGE_POWER_CMD", "6553.6", "6553.6 has no encoding in register 66 (x10)"),
        ("HOLD_AC_CHARGE_START_HOUR", "24", "'24' is not an hour or minute"),
        ("HOLD_AC_CHARGE_START_MINUTE", "60", "'60' is not an hour or minute"),
        ("HOLD_AC_CHARGE_START_MINUTE", "5x", "'5x' is not an hour or minute"),
        ("HOLD_AC_CHARGE_START_MINUTE", True, "True is not an hour or minute"),
    ],
)
def test_values_with_no_register_encoding_are_refused_by_name(name: str, value: object, problem: str) -> None:
    with pytest.raises(registers.EncodingError) as refused:
        registers.encode_holding({name: value}, {66: 0, 68: 0})  # type: ignore[dict-item]
    assert str(refused.value) == problem


def test_the_ends_of_each_encoding_are_held() -> None:
    assert registers.encode_holding({"HOLD_LEAD_ACID_CHARGE_RATE": "0"}, {101: 9}) == {101: 0}
    assert registers.encode_holding({"HOLD_AC_CHARGE_POWER_CMD": "6553.5"}, {66: 0}) == {66: 0xFFFF}
    assert registers.decode_holding(("HOLD_AC_CHARGE_POWER_CMD",), {66: 75}) == {
        "HOLD_AC_CHARGE_POWER_CMD": "7.5"
    }
    # An hour goes in the low byte and keeps the minute; 23 and 59 are the last ones allowed.
    assert registers.encode_holding({"HOLD_AC_CHARGE_START_HOUR": "23"}, {68: 0x3B05}) == {68: 0x3B17}
    assert registers.encode_holding({"HOLD_AC_CHARGE_START_HOUR": "02"}, {68: 0x3B05}) == {68: 0x3B02}
    assert registers.encode_holding({"HOLD_AC_CHARGE_START_MINUTE": "59"}, {68: 0x0105}) == {68: 0x3B05}


def test_signs_bytes_and_sums_of_inputs_at_their_edges() -> None:
    words = {64: 0x7FFF, 65: 0x8000, 67: 0x8000, 5: 0xFF64}
    assert registers.decode_inputs(("tinner", "tradiator1", "tBat", "soc"), words) == {
        "tinner": 0x7FFF,  # the highest positive reading stays positive
        "tradiator1": 0x8000,  # an unsigned register is never read as negative
        "tBat": -0x8000,
        "soc": 0x64,
    }
    encoded = registers.encode_inputs({"ppv1": 100, "ppv2": 200, "ppv3": 0, "ppv": 300, "todayYielding": 7})
    assert (encoded[7], encoded[8], encoded[9]) == (100, 200, 0)  # the strings' own fields win over the sum
    assert (encoded[28], encoded[29], encoded[30]) == (7, 0, 0)
    assert registers.encode_inputs({"soc": True, "vBat": 526}) == {4: 526}  # a boolean is no reading


def test_to_cloud_is_the_inverse_of_from_cloud_for_every_kind_of_setting() -> None:
    from bridge.core.catalogue import SETTINGS
    from bridge.core.kinds import NumberSetting, SelectSetting, SwitchSetting, WindowSetting

    samples = {SwitchSetting: "OFF", WindowSetting: "01:30-05:45", SelectSetting: "soc_volt"}
    for setting in SETTINGS:
        if isinstance(setting, NumberSetting):
            canonical = setting.canonical(setting.minimum + setting.step)
        else:
            canonical = samples[type(setting)]
        values = setting.to_fields(canonical)
        assert set(values) == set(setting.field_names), setting.key
        assert setting.from_fields(values) == canonical, setting.key
    switch = next(setting for setting in SETTINGS if isinstance(setting, SwitchSetting))
    assert switch.to_fields("ON") == {switch.func_param: True}
    window = next(setting for setting in SETTINGS if isinstance(setting, WindowSetting))
    assert list(window.to_fields("01:30-05:45").values()) == ["01", "30", "05", "45"]
    select = next(setting for setting in SETTINGS if isinstance(setting, SelectSetting))
    assert select.to_fields("time_and_soc_volt") == {select.bit_param: 2}


def test_which_settings_have_a_register_encoding_and_where() -> None:
    assert registers.has_local_encoding(("HOLD_LEAD_ACID_CHARGE_RATE", "FUNC_AC_CHARGE"))
    assert not registers.has_local_encoding(("HOLD_LEAD_ACID_CHARGE_RATE", "BIT_AC_CHARGE_TYPE"))
    assert registers.holding_registers(("FUNC_AC_CHARGE", "HOLD_LEAD_ACID_CHARGE_RATE", "FUNC_EPS_EN")) == (
        21,
        101,
    )
    assert registers.input_registers(("totalCharging", "soc", "ppv")) == (5, 7, 8, 9, 50, 51)


def flood(count: int) -> bytes:
    """A frame start every 20 bytes, each claiming a frame of nearly 600 bytes: what a peer at the dongle's
    address can send to make a reader check a CRC over 580 bytes for every 20 it receives."""
    fake_start = frames.PREFIX + (1).to_bytes(2, "little") + (580).to_bytes(2, "little")
    return (fake_start + bytes(14)) * count


async def test_a_flood_of_false_frame_starts_drops_the_connection_and_the_read_is_asked_again() -> None:
    def flooding(request: frames.Frame) -> list[bytes]:
        return [flood(1000)]

    dongle = FakeDongle([flooding, answer([60, 100])])
    link = connection(dongle)
    with capture_logs() as logs:
        assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (60, 100)
    assert link.stats.garbage_drops == 1, "the flooding connection was dropped"
    assert link.stats.bad_frames == 32, "after 32 false frames in a row, not 1000"
    assert len(dongle.streams) == 2
    assert dongle.streams[0].closed
    assert {
        "event": "dongle_garbage_connection_dropped",
        "log_level": "warning",
        "dongle": DONGLE,
        "reason": "the peer at BA12345600 sent 32 malformed frames in a row",
    } in logs


async def test_each_flooding_connection_is_dropped_and_the_next_one_counts_afresh() -> None:
    def flooding(request: frames.Frame) -> list[bytes]:
        return [flood(1000)]

    def nearly_flooding(request: frames.Frame) -> list[bytes]:
        return [flood(31), *answer([60, 100])(request)]

    dongle = FakeDongle([flooding, nearly_flooding, flooding, nearly_flooding])
    link = connection(dongle)
    assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (60, 100)
    dongle.streams[1].incoming.put_nowait(b"")  # the dongle closes the idle connection
    await let_the_reader_run()
    assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (60, 100)
    assert (link.stats.garbage_drops, link.stats.bad_frames) == (2, 2 * (32 + 31))
    assert len(dongle.streams) == 4


async def test_a_few_false_frames_before_the_answer_are_passed_over_and_the_count_starts_again() -> None:
    def noisy(request: frames.Frame) -> list[bytes]:
        return [flood(31), *answer([60, 100])(request)]

    dongle = FakeDongle([noisy])
    link = connection(dongle)
    for _ in range(3):  # 93 false frames over three answers: never 32 in a row
        assert await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2) == (60, 100)
    assert (link.stats.bad_frames, link.stats.garbage_drops) == (93, 0)
    assert len(dongle.streams) == 1


def test_a_header_no_frame_has_is_refused_before_any_crc() -> None:
    good = frames.read_request(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 101, 2)
    assert frames.plausible_header(good[: frames.HEADER_SIZE])
    assert frames.plausible_header(frames.heartbeat(DONGLE))
    assert not frames.plausible_header(flood(1)[: frames.HEADER_SIZE]), "address 0"
    wrong_version = good[:2] + (7).to_bytes(2, "little") + good[4:]
    assert not frames.plausible_header(wrong_version[: frames.HEADER_SIZE])
    wrong_length = good[:4] + (999).to_bytes(2, "little") + good[6:]
    assert not frames.plausible_header(wrong_length[: frames.HEADER_SIZE])
    unknown_function = good[:7] + b"\x99" + good[8:]
    assert not frames.plausible_header(unknown_function[: frames.HEADER_SIZE])


async def test_every_exchange_with_the_dongle_is_logged_at_debug() -> None:
    def silent_for_register_22(request: frames.Frame) -> list[bytes]:
        return [] if request.start == 22 else answer([60, 100])(request)

    dongle = FakeDongle([silent_for_register_22])
    link = DongleConnection(DONGLE, dongle.connect, timeout=0.05, where=f"{DONGLE} at host:8000")
    with capture_logs() as logs:
        await link.read(INVERTER, ModbusFunction.READ_HOLDING, 101, 2)
        await link.write_single(INVERTER, 21, 1)
        with pytest.raises(LocalSilentError):
            await bounded(link.write_single(INVERTER, 22, 1))
    exchanges = [entry for entry in logs if entry["event"] == "dongle_exchange"]
    assert [
        (entry["log_level"], entry["dongle"], entry["function"], entry["start"], entry["outcome"])
        for entry in exchanges
    ] == [
        ("debug", f"{DONGLE} at host:8000", 3, 101, "ok"),
        ("debug", f"{DONGLE} at host:8000", 6, 21, "ok"),
        ("debug", f"{DONGLE} at host:8000", 6, 22, "LocalSilentError"),
    ]
    assert all(isinstance(entry["seconds"], float) and 0 <= entry["seconds"] < 1 for entry in exchanges)
