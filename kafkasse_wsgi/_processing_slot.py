"""The process's processing slots: how many pumps (private or shared tail) may parse and
format records at once, so a new stream's setup never waits behind every busy pump.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from gevent.lock import BoundedSemaphore

#: How many pumps of a process may parse and format records at the same moment. CPU work is
#: serial under gevent anyway; pumps queued here instead of in the hub's run queue keep the
#: worker responsive. With 500 streams replaying, a new stream's setup (a few round trips
#: to Kafka) waited behind a slice of every one of them per round trip, and 325 of 500 hit
#: the setup timeout; now it waits for at most this many slices. User hooks run with the
#: slot lent out (:meth:`Slot.lent`): a hook that waits on something slow would hold it.
PROCESSING_SLOTS = 2

_slots: BoundedSemaphore | None = None


def _processing_slots() -> BoundedSemaphore:
    global _slots
    if _slots is None:  # created on first use: nothing happens at import
        _slots = BoundedSemaphore(PROCESSING_SLOTS)
    return _slots


def call_with_slot_lent(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` with the caller's processing slot given back while it runs (it
    may wait on the network); the caller holds one, and holds it again after."""
    slots = _processing_slots()
    slots.release()
    try:
        return function(*args)
    finally:
        slots.acquire()


@contextlib.contextmanager
def processing_slot() -> Iterator[None]:
    """Hold one of the process's processing slots while the body parses and formats."""
    slots = _processing_slots()
    slots.acquire()
    try:
        yield
    finally:
        slots.release()


class Slot:
    """One pump's hold on a processing slot: ``with slot:`` takes one, ``lent()`` gives it
    back for a while (when a user hook runs), and the hold is released exactly once."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = False

    def __enter__(self) -> None:
        _processing_slots().acquire()
        self.held = True

    def __exit__(self, *exc_info: object) -> None:
        if self.held:
            self.held = False
            _processing_slots().release()

    @contextlib.contextmanager
    def lent(self) -> Iterator[None]:
        """Let other pumps use the slot while the body runs; take one again after it,
        unless the pump is being killed (it then ends holding nothing)."""
        if not self.held:
            yield
            return
        self.__exit__()
        try:
            yield
        except Exception:
            self.__enter__()  # the pump goes on: a skipped message, or an error to send
            raise
        self.__enter__()
