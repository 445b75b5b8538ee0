"""The cloud client's request slots: at most N in flight, a command's requests before waiting polls, and a
waiter cancelled at any moment never loses a slot."""

from __future__ import annotations

import asyncio

import pytest

from bridge.transports.cloud.slots import Slots

pytestmark = pytest.mark.unit


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_commands_request_goes_before_polls_that_waited_longer() -> None:
    slots = Slots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def request(name: str, *, urgent: bool) -> None:
        async with slots.taken(urgent=urgent):
            order.append(name)
            if name == "first poll":
                await release.wait()

    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(request("first poll", urgent=False))
        await settle()
        for name in ("poll 2", "poll 3"):
            tasks.create_task(request(name, urgent=False))
        await settle()
        tasks.create_task(request("write", urgent=True))
        await settle()
        release.set()
    assert order == ["first poll", "write", "poll 2", "poll 3"]


async def test_no_more_than_the_limit_are_in_flight() -> None:
    slots = Slots(3)
    in_flight = peak = 0

    async def request(urgent: bool) -> None:
        nonlocal in_flight, peak
        async with slots.taken(urgent=urgent):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0)
            in_flight -= 1

    await asyncio.gather(*(request(index % 4 == 0) for index in range(40)))
    assert peak == 3


async def test_a_waiter_cancelled_while_waiting_or_just_handed_a_slot_gives_it_back() -> None:
    slots = Slots(1)

    async def waiter() -> None:
        async with slots.taken(urgent=True):
            pass

    held = slots.taken(urgent=False)
    await held.__aenter__()
    waiting = asyncio.create_task(waiter())
    await settle()
    waiting.cancel()  # cancelled while waiting
    await asyncio.gather(waiting, return_exceptions=True)
    handed = asyncio.create_task(waiter())
    await settle()
    await held.__aexit__(None, None, None)  # the slot is handed to `handed` here...
    handed.cancel()  # ...which is cancelled before it ever runs
    await asyncio.gather(handed, return_exceptions=True)
    assert handed.cancelled()
    async with asyncio.timeout(1):
        async with slots.taken(urgent=False):  # the slot was not lost
            pass
