"""How many requests one provider serves at once; the rest wait their turn, first come first served."""

from __future__ import annotations

import asyncio
from collections import deque


class Slots:
    """At most ``limit`` holders at once (None: no limit), in arrival order.

    Unlike :class:`asyncio.Semaphore` the limit can be lowered while slots are held (a local server
    that drops streams under load falls back to one at a time), and no future outlives the event
    loop that made it, so one instance serves successive ``asyncio.run`` calls.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit
        self.busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def must_wait(self) -> bool:
        """Whether :meth:`acquire` would wait now."""
        return bool(self._waiters) or (self.limit is not None and self.busy >= self.limit)

    async def acquire(self) -> None:
        if not self.must_wait():
            self.busy += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # release() counts us in before waking us
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # woken and cancelled at once: hand the slot on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.busy -= 1
        while self._waiters and (self.limit is None or self.busy < self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)
