"""Driving one run's events to its consumers, and stopping it cleanly on a signal."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Sequence
from functools import partial
from typing import Any, TypeVar

from moa_cli.engine import MoaRun
from moa_cli.errors import ExitCode
from moa_cli.events import Event, MoaResult
from moa_cli.ui.base import Renderer

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""What stops a turn: Ctrl-C, a polite kill, and the terminal going away (closing the window or
the tmux pane): each keeps what arrived and records the turn as interrupted."""
EXIT_FOR_SIGNAL = {
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.TERMINATED,
    signal.SIGHUP: ExitCode.HANGUP,
}

Builder = Callable[[], Renderer]
"""Makes one consumer of a run's events; called in a worker thread while the requests leave."""


class Interrupted(Exception):
    """The user stopped the run (Ctrl-C) or the process was told to stop (SIGTERM, SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_FOR_SIGNAL.get(signal.Signals(signum), ExitCode.INTERRUPTED)


class _Feed:
    """Passes events to consumers that are built while the run goes on.

    Each consumer, once built, first gets every event it missed, then the rest as they come.
    """

    def __init__(self, builds: Sequence[asyncio.Future[Renderer]]) -> None:
        self.builds = builds
        self.ready: dict[int, Renderer] = {}
        self.missed: list[Event] = []
        for position, build in enumerate(builds):
            build.add_done_callback(partial(self.arrived, position))

    def handle(self, event: Event) -> None:
        for consumer in self.ready.values():
            consumer.handle(event)
        if len(self.ready) < len(self.builds):
            self.missed.append(event)

    def arrived(self, position: int, build: asyncio.Future[Renderer]) -> None:
        if position in self.ready or build.cancelled() or build.exception() is not None:
            return
        consumer = self.ready[position] = build.result()
        for event in self.missed:
            consumer.handle(event)
        if len(self.ready) == len(self.builds):
            self.missed.clear()

    def consumers(self) -> list[Renderer]:
        """Every consumer built, in the order given: the order they are closed in."""
        return [self.ready[position] for position in sorted(self.ready)]


async def drive(run: MoaRun, consumers: Sequence[Renderer], builders: Sequence[Builder] = ()) -> MoaResult:
    """Feed ``run``'s events to ``consumers`` and to those ``builders`` make, each in a worker thread.

    Building a front end imports Rich: done off the event loop, it overlaps with the requests
    leaving instead of delaying them. Every consumer is closed however the run ends, in the
    order given, ``consumers`` first (the recorder: storing beats drawing).
    """
    ready = [asyncio.get_running_loop().create_future() for _ in consumers]
    for future, consumer in zip(ready, consumers):
        future.set_result(consumer)
    builds = [*ready, *(asyncio.ensure_future(asyncio.to_thread(build)) for build in builders)]
    feed = _Feed(builds)
    try:
        async for event in run:
            feed.handle(event)
    finally:
        everything = asyncio.gather(*builds, return_exceptions=True)
        try:
            await asyncio.shield(everything)
        except asyncio.CancelledError:  # a second Ctrl-C: close what is built, then stop
            pass
        for position, build in enumerate(builds):
            if build.done():
                feed.arrived(position, build)  # its callback may not have run if the run ended first
        for consumer in feed.consumers():
            consumer.close(run.result)
    for build in builds:
        if build.done() and not build.cancelled() and (failure := build.exception()) is not None:
            raise failure  # a front end that could not be built: a bug, and not to be silent
    return run.result


def run_cancellable(main: Coroutine[Any, Any, T], signals: Sequence[int] = STOP_SIGNALS) -> T:
    """Run ``main`` on a new event loop; any of ``signals`` cancels it and raises :class:`Interrupted`."""
    with asyncio.Runner() as runner:
        loop = runner.get_loop()
        task = loop.create_task(main)
        received: list[int] = []

        def stop(signum: int) -> None:
            received.append(signum)
            task.cancel()

        for signum in signals:
            loop.add_signal_handler(signum, stop, signum)
        try:
            return loop.run_until_complete(task)
        except asyncio.CancelledError:
            raise Interrupted(received[0] if received else signal.SIGINT) from None
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
