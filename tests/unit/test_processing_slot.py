"""_processing_slot.Slot: a user hook runs with the processing slot lent out, and a pump killed in a
hook ends holding nothing (the process's slots are all free again)."""

from __future__ import annotations

import gevent

from kafkasse_wsgi import _processing_slot as processing


def _free_slots() -> int:
    return processing._processing_slots().counter


def test_a_slot_is_free_for_others_while_a_hook_runs_and_held_again_after() -> None:
    slot = processing.Slot()
    seen: list[int] = []
    with slot:
        assert _free_slots() == processing.PROCESSING_SLOTS - 1
        with slot.lent():
            seen.append(_free_slots())
        assert _free_slots() == processing.PROCESSING_SLOTS - 1 and slot.held
    assert seen == [processing.PROCESSING_SLOTS]
    assert _free_slots() == processing.PROCESSING_SLOTS


def test_a_hook_that_raises_gets_the_slot_back_before_the_error_goes_on() -> None:
    slot = processing.Slot()
    with slot:
        try:
            with slot.lent():
                raise ValueError("a deserializer failed")
        except ValueError:
            assert slot.held  # the pump goes on with the next record, in its slot
    assert _free_slots() == processing.PROCESSING_SLOTS


def test_a_pump_killed_in_a_hook_leaves_every_slot_free() -> None:
    slot = processing.Slot()

    def run() -> None:
        with slot, slot.lent():
            gevent.sleep(10)

    greenlet = gevent.spawn(run)
    gevent.sleep(0.01)
    greenlet.kill(block=True, timeout=1)
    assert greenlet.dead and not slot.held
    assert _free_slots() == processing.PROCESSING_SLOTS
