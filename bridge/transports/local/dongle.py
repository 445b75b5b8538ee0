"""One connection per dongle: requests one at a time, each reply matched to its request, the connection made
again when it was lost. No cloud and no MQTT here: registers in, registers out.

The dongle also carries the inverter's traffic to the cloud, so a local connection sees frames that are not
answers to us: heartbeats, replies to the cloud's requests, a late reply to a request we gave up on. A reply
is ours only when its inverter serial, Modbus function, start register and (for reads) register count are
those of the request; everything else is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol

import structlog

from bridge.transports.local import frames
from bridge.transports.local.frames import Frame, FrameError, ModbusFunction, TcpFunction

log = structlog.get_logger(__name__)

#: A frame longer than this is not one: the reader drops a byte and looks for the next prefix.
MAX_FRAME: Final = 600
#: Malformed frames in a row after which a connection is dropped (a real dongle sends none, or a few).
MAX_BAD_FRAMES_IN_A_ROW: Final = 32


class _GarbageError(Exception):
    """The peer sends bytes that are not frames, again and again."""


READ_CHUNK: Final = 4096


class LocalTransportError(Exception):
    """A dongle or RS485 adapter did not do what was asked. `sent` says whether the request may have
    reached it."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent


class LocalUnreachableError(LocalTransportError):
    """No connection could be made: nothing was sent."""


class LocalSilentError(LocalTransportError):
    """The request went out and no reply came in time, or the connection was lost before it."""


class LocalDroppedError(LocalSilentError):
    """The connection was lost after the request went out, before the reply."""


class ModbusExceptionError(LocalTransportError):
    """The inverter answered with a Modbus exception: it did not do it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, sent=True)
        self.code = code


class Stream(Protocol):
    """A byte stream to the dongle: the seam unit tests replace with a fake transport."""

    async def read(self) -> bytes:
        """Some bytes, or `b""` when the dongle closed the connection."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


Connector = Callable[[], Awaitable[Stream]]


class TcpStream:
    """A real TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        return await self._reader.read(READ_CHUNK)

    def write(self, data: bytes) -> None:
        self._writer.write(data)

    def close(self) -> None:
        self._writer.close()


def tcp_connector(host: str, port: int) -> Connector:
    """A `Connector` that opens a TCP connection to the dongle at `host`:`port`."""

    async def connect() -> Stream:
        reader, writer = await asyncio.open_connection(host, port)
        return TcpStream(reader, writer)

    return connect


@dataclass
class LocalStats:
    """Counts of one local connection's traffic and trouble, for the metrics."""

    requests: int = 0
    reconnects: int = 0
    #: Frames that were not the answer awaited: heartbeats, the cloud's traffic, stale or misrouted replies.
    skipped_frames: int = 0
    heartbeats_answered: int = 0
    #: Claimed frames that were not (a prefix with a header no frame has, a CRC that does not match).
    bad_frames: int = 0
    #: Connections dropped for sending `MAX_BAD_FRAMES_IN_A_ROW` malformed frames in a row.
    garbage_drops: int = 0


@dataclass
class _Waiting:
    """The one request in flight: how to know its reply, and where to put it."""

    is_reply: Callable[[Frame], bool]
    answer: asyncio.Future[Frame]


class DongleConnection:
    """Requests to the inverters behind one dongle, one at a time, over one connection kept open.

    A reader task takes every frame the dongle sends as it arrives: the reply awaited, if any, is handed
    over; heartbeats are echoed at once when asked to (also between requests, as the cloud would); the rest
    is counted and dropped.
    """

    def __init__(
        self,
        dongle_serial: str,
        connect: Connector,
        *,
        timeout: float,
        answer_heartbeats: bool = False,
        where: str = "",
    ) -> None:
        self.dongle_serial = dongle_serial
        self._connect = connect
        self._timeout = timeout
        self._answer_heartbeats = answer_heartbeats
        self._where = where or dongle_serial
        self._address = where.partition(" at ")[2] or self._where
        #: The serial the dongle's own frames carry, when it is not the configured one.
        self.heard_serial: str | None = None
        self._stream: Stream | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: _Waiting | None = None
        self._buffer = bytearray()
        self._bad_in_a_row = 0
        self._lock = asyncio.Lock()
        self._connections = 0
        self.stats = LocalStats()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    # -- requests -------------------------------------------------------------------------------------

    async def read(self, inverter: str, function: ModbusFunction, start: int, count: int) -> tuple[int, ...]:
        """`count` holding or input registers from `start`. A connection lost before the answer is made
        again and the read asked once more: a read changes nothing."""
        request = frames.read_request(self.dongle_serial, inverter, function, start, count)
        for attempt in (1, 2):
            try:
                reply = await self._exchange(request, _reply_to(inverter, function, start, count))
            except LocalDroppedError:
                if attempt == 2:
                    raise
                continue
            return reply.values
        raise AssertionError("unreachable")  # pragma: no cover

    async def write_single(self, inverter: str, register: int, value: int) -> None:
        """One register. Never sent twice: a lost answer is `LocalSilentError` with `sent` true."""
        request = frames.write_single_request(self.dongle_serial, inverter, register, value)
        await self._exchange(request, _reply_to(inverter, ModbusFunction.WRITE_SINGLE, register))

    async def write_multiple(self, inverter: str, start: int, values: list[int]) -> None:
        request = frames.write_multiple_request(self.dongle_serial, inverter, start, values)
        await self._exchange(request, _reply_to(inverter, ModbusFunction.WRITE_MULTIPLE, start))

    async def _exchange(self, request: bytes, is_reply: Callable[[Frame], bool]) -> Frame:
        started = time.perf_counter()
        outcome = "ok"
        try:
            reply = await self._exchange_unlogged(request, is_reply)
        except LocalTransportError as exc:
            outcome = type(exc).__name__
            raise
        finally:
            data = request[frames.HEADER_SIZE :]
            log.debug(
                "dongle_exchange",
                dongle=self._where,
                function=data[1] if len(data) > 1 else None,
                start=int.from_bytes(data[12:14], "little") if len(data) >= 14 else None,
                outcome=outcome,
                seconds=round(time.perf_counter() - started, 3),
            )
        return reply

    async def _exchange_unlogged(self, request: bytes, is_reply: Callable[[Frame], bool]) -> Frame:
        async with self._lock:
            stream = await self._connected()
            waiting = _Waiting(is_reply, asyncio.get_running_loop().create_future())
            self._waiting = waiting
            self.stats.requests += 1
            try:
                stream.write(request)
                async with asyncio.timeout(self._timeout):
                    reply = await asyncio.shield(waiting.answer)
            except TimeoutError as exc:
                await self._drop()  # a late reply must not be taken for the next request's
                raise LocalSilentError(self._silence(), sent=True) from exc
            except (ConnectionError, OSError) as exc:
                await self._drop()
                raise LocalDroppedError(
                    f"the connection to the dongle {self._where} closed before it answered", sent=True
                ) from exc
            finally:
                self._waiting = None
        if reply.exception is not None:
            raise ModbusExceptionError(
                f"the inverter refused the request (Modbus exception {reply.exception})", reply.exception
            )
        return reply

    def _silence(self) -> str:
        """Why no answer came: a dongle that names itself otherwise than the config, or plain silence."""
        if self.heard_serial is not None:
            return (
                f"the dongle at {self._address} says its serial is {self.heard_serial}; the config says "
                f"{self.dongle_serial} (dongle.serial is the dongle's own, on its label)"
            )
        return f"the dongle {self._where} did not answer within {self._timeout:g} s"

    async def _connected(self) -> Stream:
        if self._stream is not None and self._reader is not None and not self._reader.done():
            return self._stream
        await self._drop()
        try:
            async with asyncio.timeout(self._timeout):
                stream = await self._connect()
        except (TimeoutError, OSError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
            raise LocalUnreachableError(
                f"cannot connect to the dongle {self._where}: {reason}", sent=False
            ) from exc
        self._stream = stream
        self._reader = asyncio.create_task(self._read_frames(stream), name=f"dongle-{self.dongle_serial}")
        self._connections += 1
        if self._connections > 1:
            self.stats.reconnects += 1
            log.info("dongle_reconnected", dongle=self._where)
        return stream

    async def _drop(self) -> None:
        reader, stream = self._reader, self._stream
        self._reader = self._stream = None
        self._buffer.clear()
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if stream is not None:
            stream.close()

    # -- the reader -----------------------------------------------------------------------------------

    async def _read_frames(self, stream: Stream) -> None:
        """Every frame as it arrives, until the connection ends; its end fails the request waiting."""
        try:
            while data := await stream.read():
                self._buffer.extend(data)
                while (raw := self._next_frame()) is not None:
                    self._take(raw, stream)
            failure: Exception = ConnectionResetError("closed by the dongle")
        except _GarbageError as exc:
            log.warning("dongle_garbage_connection_dropped", dongle=self._where, reason=str(exc))
            self.stats.garbage_drops += 1
            self._buffer.clear()
            self._bad_in_a_row = 0
            stream.close()
            failure = ConnectionResetError(str(exc))
        except (ConnectionError, OSError) as exc:
            failure = exc
        waiting = self._waiting
        if waiting is not None and not waiting.answer.done():
            waiting.answer.set_exception(failure)

    def _take(self, raw: bytes, stream: Stream) -> None:
        try:
            frame = frames.decode(raw)
        except FrameError as exc:
            # A prefix inside other bytes, or a frame cut short: look again one byte further on, so that
            # a real reply swallowed by a false length is still found.
            log.debug("dongle_frame_skipped", dongle=self._where, reason=str(exc))
            self.stats.skipped_frames += 1
            self._buffer[:0] = raw[1:]
            self._bad_frame()
            return
        self._bad_in_a_row = 0
        if frame.dongle_serial and frame.dongle_serial != self.dongle_serial:
            # What the dongle at this address calls itself: a serial in the config that is not its own
            # looks exactly like a dongle that does not answer, unless the owner is told.
            self.heard_serial = frame.dongle_serial
        waiting = self._waiting
        if waiting is not None and not waiting.answer.done() and waiting.is_reply(frame):
            waiting.answer.set_result(frame)
            return
        self.stats.skipped_frames += 1
        if frame.tcp_function == TcpFunction.HEARTBEAT and self._answer_heartbeats:
            stream.write(raw)  # the echo the cloud would send back
            self.stats.heartbeats_answered += 1

    def _next_frame(self) -> bytes | None:
        """The first whole frame in the buffer, taken out of it; bytes before a prefix are dropped. A
        prefix whose header cannot start a frame is passed over before any CRC is computed."""
        buffer = self._buffer
        while True:
            start = buffer.find(frames.PREFIX)
            if start < 0:
                del buffer[: max(0, len(buffer) - 1)]
                return None
            del buffer[:start]
            if len(buffer) < 8:
                return None
            heartbeat = buffer[7] == frames.TcpFunction.HEARTBEAT
            if not heartbeat and len(buffer) < frames.HEADER_SIZE:
                if not frames.plausible_header(buffer):
                    self._bad_frame()
                    del buffer[:1]
                    continue
                return None  # the rest of the header is on its way
            (length,) = struct.unpack_from("<H", buffer, 4)
            smallest = frames.HEARTBEAT_SIZE if heartbeat else frames.HEADER_SIZE + 2
            if not smallest - 6 <= length <= MAX_FRAME or not frames.plausible_header(
                buffer[: frames.HEADER_SIZE]
            ):
                self._bad_frame()
                del buffer[:1]  # not a frame after all: look for the next prefix
                continue
            if len(buffer) < 6 + length:
                return None
            raw = bytes(buffer[: 6 + length])
            del buffer[: 6 + length]
            return raw

    def _bad_frame(self) -> None:
        """Bytes that looked like a frame and were not. Many in a row: whatever is at the dongle's address
        is not a dongle answering us (or is flooding us); the connection is dropped, and made again by the
        next request, so that no peer can make the bridge spend its time here."""
        self.stats.bad_frames += 1
        self._bad_in_a_row += 1
        if self._bad_in_a_row >= MAX_BAD_FRAMES_IN_A_ROW:
            raise _GarbageError(
                f"the peer at {self._where} sent {self._bad_in_a_row} malformed frames in a row"
            )


def _reply_to(
    inverter: str, function: ModbusFunction, start: int, count: int | None = None
) -> Callable[[Frame], bool]:
    """Whether a frame is the answer to this request (an exception reply included)."""

    def matches(frame: Frame) -> bool:
        return (
            frame.tcp_function == TcpFunction.TRANSLATED
            and frame.action == 1
            and frame.inverter_serial == inverter
            and frame.modbus_function is not None
            and frame.modbus_function & ~frames.EXCEPTION_BIT == function
            and frame.start == start
            and (count is None or frame.exception is not None or len(frame.values) == count)
        )

    return matches
