"""A roller whose last host was killed (no STOP) streams on into its queue (docs/protocol.md §7): the next
session must begin with its own samples, not with the seconds the queue kept from before it. Against the
REAL virtual roller (the firmware's own link and commands on a pty)."""
from __future__ import annotations

import os
import time

import pytest

from holdsense.link.device import Device
from holdsense.messages import Gap, Samples
from holdsense.virtual import spawn

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name != "posix", reason="the virtual device uses a pty")]

SPEED = 4.0


def test_a_session_after_a_killed_host_starts_with_its_own_samples() -> None:
    """Judged by counting the virtual chip's conversions, not by wall time: on a loaded machine the simulated
    HX711 and firmware run late, so the samples read after START carried device times from up to ~1.4 s
    before it, and "span <= wall time * SPEED + 0.5 s" failed a correct session. A kept queue adds its ~256
    samples converted before START (and an index jump: a gap)."""
    with spawn(scenario="standard", speed=SPEED) as roller:
        first = Device.open(roller.port)
        first.start()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            first.recv(0.1)
        first.transport.close()  # the recorder killed: no STOP, the roller streams on into its queue
        time.sleep(8.0 / SPEED)  # 8 s of device time: more than the queue's ~3 s
        dev = Device.open(roller.port)
        try:
            assert dev.info.streaming  # what the next host finds (INFO's streaming bit)
            conv0 = roller.control({"query": True})["conversions"]
            dev.start()
            t0 = time.monotonic()
            msgs = []
            while time.monotonic() < t0 + 1.5:
                msgs += dev.recv(0.1) or []
            conv1 = roller.control({"query": True})["conversions"]
            samples = [m.chunk for m in msgs if isinstance(m, Samples)]
            assert samples and samples[0].t_s[0] == 0.0
            n = sum(len(c) for c in samples)
            # only what was converted since START: at most the conversions from just before it (counted in
            # simulation order, whatever the load) plus the one the chip held then
            assert 0 < n <= conv1 - conv0 + 1, (n, conv1 - conv0)
            assert not [m for m in msgs if isinstance(m, Gap)]
        finally:
            dev.close()
