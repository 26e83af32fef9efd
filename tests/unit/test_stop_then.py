"""``stop_then``: what a greenlet still uses is released only once the greenlet is dead."""

from __future__ import annotations

import gevent

from kafkasse_wsgi import _stopping as stopping


def test_then_runs_at_once_for_a_greenlet_that_dies_when_killed() -> None:
    done: list[str] = []
    greenlet = gevent.spawn(gevent.sleep, 10)
    gevent.sleep(0)
    stopping.stop_then(greenlet, lambda: done.append("closed"))
    assert greenlet.dead and done == ["closed"]


def test_then_waits_for_a_greenlet_that_outlives_its_kill(monkeypatch) -> None:
    monkeypatch.setattr(stopping, "STOP_TIMEOUT_S", 0.05)
    done: list[str] = []

    def stubborn() -> None:
        try:
            gevent.sleep(10)
        except BaseException:
            gevent.sleep(0.3)  # its cleanup still uses what ``then`` releases
            done.append("cleanup finished")

    greenlet = gevent.spawn(stubborn)
    gevent.sleep(0)
    stopping.stop_then(greenlet, lambda: done.append("closed"))
    assert not greenlet.dead and done == []
    greenlet.join(2)
    gevent.sleep(0)  # links run in the next turn of the loop
    assert done == ["cleanup finished", "closed"]


def test_then_runs_at_once_without_a_greenlet_or_from_the_greenlet_itself() -> None:
    done: list[str] = []
    stopping.stop_then(None, lambda: done.append("none"))
    greenlet = gevent.spawn(
        lambda: stopping.stop_then(gevent.getcurrent(), lambda: done.append("self"))
    )
    greenlet.join(1)
    assert done == ["none", "self"]
