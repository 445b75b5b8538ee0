"""Messages waiting for the broker: retained ones kept by topic, the rest bounded. Plain data, no I/O."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, replace
from typing import Final

#: Where a message waits: its topic for a retained message (the latest replaces it), a number otherwise.
Key = str | int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to publish."""

    topic: str
    payload: str
    retain: bool
    qos: int = 1


DEFAULT_LIMIT: Final = 20_000


class Outbox:
    """The messages to send, oldest first.

    A retained message replaces the one waiting for the same topic and takes its place at the back, so that
    messages leave in the order they were last published (discovery before the states that follow it): the
    broker would keep only the latest anyway, so nothing retained is ever lost, and their number is bounded
    by the number of topics (a thousand inverters' discovery and states fit whatever the limit). Other
    messages (command results) are kept up to `limit`; beyond it the oldest is dropped, and counted.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._limit = limit
        self._waiting: dict[Key, Outgoing] = {}
        self._unretained: deque[int] = deque()  # keys of waiting unretained messages, oldest first
        self._unretained_count = 0
        self._numbers = itertools.count()
        #: Unretained messages dropped because `limit` of them were waiting already.
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, message: Outgoing) -> Outgoing | None:
        """Queue `message`; returns the message dropped to make room, if one was."""
        if message.retain:
            earlier = self._waiting.pop(message.topic, None)
            if earlier is not None and earlier.qos > message.qos:
                message = replace(message, qos=earlier.qos)  # a repetition keeps the stronger guarantee
            self._waiting[message.topic] = message
            return None
        key = next(self._numbers)
        self._waiting[key] = message
        self._unretained.append(key)
        self._unretained_count += 1
        if self._unretained_count <= self._limit:
            return None
        return self._drop_oldest_unretained()

    def _drop_oldest_unretained(self) -> Outgoing:
        while True:
            key = self._unretained.popleft()
            dropped = self._waiting.pop(key, None)
            if dropped is not None:
                self._unretained_count -= 1
                self.dropped += 1
                return dropped

    def oldest(self, count: int) -> list[tuple[Key, Outgoing]]:
        """Up to `count` messages from the front, to send; they stay queued until `sent()`."""
        return list(itertools.islice(self._waiting.items(), count))

    def sent(self, batch: list[tuple[Key, Outgoing]]) -> None:
        """Forget what the broker acknowledged; a retained topic replaced meanwhile stays, to be sent."""
        for key, message in batch:
            if self._waiting.get(key) is message:
                del self._waiting[key]
                if isinstance(key, int):
                    self._unretained_count -= 1
        while self._unretained and self._unretained[0] not in self._waiting:
            self._unretained.popleft()
        if not self._waiting:
            # A dict keeps the table its largest size needed: after an announcement burst of a whole fleet
            # that is megabytes, held for good. An empty outbox starts a fresh one.
            self._waiting = {}
