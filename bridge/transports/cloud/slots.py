"""The cloud account's request slots: at most so many requests in flight, a command's before the polls."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator


class Slots:
    """At most `size` requests in flight for an account. A request for a command (a write, its read-back)
    goes before waiting polls: after a write every inverter's settings are read again, and with many
    inverters and a slow cloud those reads would otherwise keep the next command waiting for seconds."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._routine: deque[asyncio.Future[None]] = deque()

    @contextlib.asynccontextmanager
    async def taken(self, *, urgent: bool) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if self._free > 0 and not self._urgent and (urgent or not self._routine):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._routine
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    def _release(self) -> None:
        """Hand the slot to the first urgent waiter, else the first other one, else keep it free."""
        for queue in (self._urgent, self._routine):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1
