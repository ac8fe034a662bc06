"""Notifier: one receive loop fanning out to listeners, on a thread, in the caller, and on asyncio."""
from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from holdsense.messages import Listener
from holdsense.messages import Gap, Info, Samples, Status
from holdsense.listeners.notifier import Notifier
from rollsignal import SampleChunk


class ListSource:
    """A source that serves prepared message batches, then ends (None)."""

    def __init__(self, batches, end=True):
        self.batches = list(batches)
        self.end = end
        self.calls = 0

    def recv(self, timeout_s=None):
        self.calls += 1
        if self.batches:
            return self.batches.pop(0)
        if self.end:
            return None
        time.sleep(min(timeout_s or 0.01, 0.01))
        return []


class Recorder(Listener):
    def __init__(self):
        self.seen = []
        self.stopped = 0

    def on_info(self, info):
        self.seen.append(("info", info))

    def on_samples(self, chunk):
        self.seen.append(("samples", len(chunk)))

    def on_gap(self, t_s, reason, lost_samples=None):
        self.seen.append(("gap", t_s, reason, lost_samples))

    def on_status(self, status):
        self.seen.append(("status", status))

    def stop(self):
        self.stopped += 1


def chunk(n, t0=0.0):
    t = t0 + np.arange(n) / 80.0
    return SampleChunk(t, np.ones(n))


def test_thread_fans_out_in_order_and_stops_each_listener_once():
    src = ListSource([[Info({"fw": "1"})], [], [Samples(chunk(4))], [Gap(1.0, "link lost", 3), Samples(chunk(2, 1.0))],
                      [Status({"battery_pct": 50})]])
    a, b = Recorder(), Recorder()
    plain = []
    n = Notifier(src, [a, b, lambda c: plain.append(len(c))])
    assert n.join(5.0)
    n.stop()
    expected = [("info", {"fw": "1"}), ("samples", 4), ("gap", 1.0, "link lost", 3), ("samples", 2),
                ("status", {"battery_pct": 50})]
    assert a.seen == expected and b.seen == expected
    assert plain == [4, 2]
    assert a.stopped == 1 and b.stopped == 1
    assert n.ended and not n.running


def test_stop_interrupts_an_endless_source():
    src = ListSource([[Samples(chunk(1))]], end=False)
    rec = Recorder()
    n = Notifier(src, [rec], timeout_s=0.01)
    time.sleep(0.05)
    assert n.running
    n.stop()
    assert not n.running and not n.ended
    assert rec.seen == [("samples", 1)] and rec.stopped == 1


def test_faulty_listener_is_detached_others_continue_error_reraised():
    class Boom(Listener):
        stopped = 0

        def on_samples(self, chunk):
            raise RuntimeError("display bug")

        def stop(self):
            Boom.stopped += 1

    src = ListSource([[Samples(chunk(1))], [Samples(chunk(2))], [Samples(chunk(3))]])
    good = Recorder()
    n = Notifier(src, [Boom(), good], start=False)
    n.run()
    assert good.seen == [("samples", 1), ("samples", 2), ("samples", 3)]  # the recording goes on
    assert Boom.stopped == 1
    with pytest.raises(RuntimeError, match="display bug"):
        n.stop()


def test_source_error_ends_loop_and_surfaces():
    class Failing:
        def recv(self, timeout_s=None):
            raise OSError("device gone for good")

    rec = Recorder()
    n = Notifier(Failing(), [rec])
    with pytest.raises(OSError, match="gone for good"):
        n.join(5.0)
    assert rec.stopped == 1


def test_add_listener_while_running():
    class Endless:
        def recv(self, timeout_s=None):
            time.sleep(0.005)
            return [Samples(chunk(1))]

    n = Notifier(Endless(), [], timeout_s=0.01)
    late = Recorder()
    n.add_listener(late)
    deadline = time.monotonic() + 2
    while len(late.seen) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    n.stop()
    assert late.seen and late.stopped == 1


def test_async_path_with_arecv_and_coroutine_listener():
    class AsyncSource:
        def __init__(self):
            self.q = [[Info({"x": 1})], [Samples(chunk(5))]]

        def recv(self, timeout_s=None):  # pragma: no cover - the async path must not use it
            raise AssertionError("recv called on the asyncio path")

        async def arecv(self, timeout_s=None):
            await asyncio.sleep(0)
            return self.q.pop(0) if self.q else None

    got = []
    thread_ids = set()

    class AsyncListener(Listener):
        async def _note(self, item):
            await asyncio.sleep(0)
            got.append(item)
            thread_ids.add(threading.get_ident())

        def on_info(self, info):
            return self._note(("info", info))

        def on_samples(self, chunk):
            return self._note(("samples", len(chunk)))

    rec = Recorder()
    n = Notifier(AsyncSource(), [AsyncListener(), rec], start=False)
    asyncio.run(n.run_async())
    assert got == [("info", {"x": 1}), ("samples", 5)]
    assert rec.seen == [("info", {"x": 1}), ("samples", 5)] and rec.stopped == 1
    assert thread_ids == {threading.get_ident()}


def test_async_path_falls_back_to_executor_for_sync_sources():
    src = ListSource([[Samples(chunk(2))]])
    rec = Recorder()
    n = Notifier(src, [rec], start=False)
    asyncio.run(n.run_async())
    assert rec.seen == [("samples", 2)] and n.ended
