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
            t0 = time.monotonic()
            dev.start()
            msgs = []
            while time.monotonic() < t0 + 1.5:
                msgs += dev.recv(0.1) or []
            wall_s = time.monotonic() - t0
            samples = [m.chunk for m in msgs if isinstance(m, Samples)]
            assert samples and samples[0].t_s[0] == 0.0
            span_s = float(samples[-1].t_s[-1])
            # only what was sampled since START: at most the wall time at SPEED (a kept queue adds ~3 s)
            assert span_s <= wall_s * SPEED + 0.5, span_s
            assert not [m for m in msgs if isinstance(m, Gap)]
        finally:
            dev.close()
