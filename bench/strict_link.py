"""Strict-link benchmark (issue 15 "Done when"; not part of `make test`): the virtual roller on its
MicroPython-like USB link (holdsense.virtual.usb.StrictUsb: read(n) blocks, writes block while the
host does not read, soft late IRQs).

    python bench/strict_link.py                      # 10 minutes at 80 Hz, host pauses 2 s every minute
    python bench/strict_link.py --minutes 2          # shorter
    python bench/strict_link.py --pause-s 5 --usb c3 # longer pauses (the 256-sample queue overflows)

Rows:

1. command latency: every command sent alone as its own small write, with pauses, on the strict
   link; time to its ACK/ERROR: the 13 commands of the protocol once, then --streaming-commands
   (300) while the device streams at 80 Hz, in random order with random 20-300 ms pauses during
   which the host keeps reading samples. Max, p99 and median (target: every one ≤ 100 ms; TARE is
   listed apart: by the protocol it answers once its samples are in). Every reply over 50 ms is
   listed with the worst scheduling stall this machine gave a 5 ms-sleeping thread of the bench
   meanwhile (HostStalls), so a stall of the shared machine is told from the firmware's own time.
2. loss accounting: the device records at 80 Hz for --minutes while the host stops reading for
   --pause-s every minute. The host's loss count (index gaps, holdsense.link.frames.SampleUnpacker)
   must equal the samples the device dropped (its queue), and received + lost must equal the
   conversions the simulated HX711 made while streaming (the simulator's truth; ± the few
   samples queued when STOP clears the queue).
3. sampling stalls: conversions the firmware missed (EdgeTimer), the longest time the firmware
   sat in a USB call, and the largest gap between index-consecutive samples the host received,
   in sample periods (target: no stall longer than one period: 0 missed, 0 ms blocked, ≤ 1.5).
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time

import numpy as np

from holdsense.virtual.strict import StrictHost, spawn_strict

COMMANDS = [("info", {}), ("status", {"clear": False}), ("battery", {}), ("get_cal", {}),
            ("cue", {"pattern": 5, "repeat": 1}), ("set_rate", {"rate_hz": 80}),
            ("idle", {"idle_after_s": 60, "decimation": 8, "load_counts": 43800}), ("ble_cal", {"enable": False}),
            ("start", {}), ("tare", {"n_samples": 8}), ("status", {"clear": False}), ("stop", {}), ("info", {})]
# sent while the device streams, in random order with random pauses (commands that do not stop the stream)
STREAMING_COMMANDS = [("info", {}), ("status", {"clear": False}), ("battery", {}), ("get_cal", {}),
                      ("cue", {"pattern": 1, "repeat": 1}), ("set_rate", {"rate_hz": 80}), ("start", {})]


class HostStalls:
    """How late this machine runs a thread that sleeps 5 ms (a background thread of the bench): the
    machine's own scheduling stalls (shared cores), to tell them from the firmware's reply time."""

    def __init__(self) -> None:
        self.late: list[tuple[float, float]] = []  # (start, seconds late) of sleeps more than 10 ms late
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            time.sleep(0.005)
            d = time.monotonic() - t0 - 0.005
            if d > 0.01:
                self.late.append((t0, d))

    def worst_in(self, t0: float, t1: float) -> float:
        """Largest lateness (ms) of a sleep that overlapped [t0, t1]."""
        return max([d * 1000 for s, d in self.late if s <= t1 and s + 0.005 + d >= t0], default=0.0)

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


def latency_figures(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=float)
    return {"n": int(a.size), "max_ms": round(float(a.max()), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "p50_ms": round(float(np.percentile(a, 50)), 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="recording length, device minutes (default 10)")
    ap.add_argument("--pause-s", type=float, default=2.0, help="host stops reading this long every minute (default 2)")
    ap.add_argument("--usb", default="s3", choices=("s3", "c3"))
    ap.add_argument("--usb-host-buffer", type=int, default=4096)
    ap.add_argument("--speed", type=float, default=1.0, help="device time per host second (default 1: real time)")
    ap.add_argument("--streaming-commands", type=int, default=300,
                    help="commands sent one at a time while streaming (default 300)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    res: dict = {"minutes": a.minutes, "pause_s": a.pause_s, "usb": a.usb, "usb_host_buffer": a.usb_host_buffer,
                 "speed": a.speed}
    strict = {"usb": a.usb, "host_buffer": a.usb_host_buffer}
    # 1. commands one at a time (real time: the 100 ms target is host time)
    with spawn_strict(speed=1.0, **strict) as dev:
        h = StrictHost(dev.port)
        stalls = HostStalls()
        slow = []  # commands over 50 ms: (name, ms, the machine's worst scheduling stall meanwhile, ms)

        def timed(name: str, kw: dict) -> tuple:
            t0 = time.monotonic()
            r, took = h.cmd(name, **kw)
            if took > 0.05 and name != "tare":
                slow.append((name, round(took * 1000, 1), round(stalls.worst_in(t0, t0 + took), 1)))
            return r, took

        lat = []
        for name, kw in COMMANDS:
            r, took = timed(name, kw)
            lat.append((name, round(took * 1000, 1), r.ok))
            time.sleep(0.2)
        res["command_ms"] = lat
        # TARE answers once its samples are in (docs/protocol.md §5: 8 samples here, ~0.1 s): not a latency
        res["command_ms_max"] = max(x[1] for x in lat if x[0] != "tare")
        res["tare_ms"] = [x[1] for x in lat if x[0] == "tare"]
        # 1b. while streaming: each command its own small write, random pauses (the host keeps reading)
        rng = random.Random(15)
        h.cmd("start")
        stream_ms = []
        for _ in range(a.streaming_commands):
            name, kw = rng.choice(STREAMING_COMMANDS)
            r, took = timed(name, kw)
            stream_ms.append(took * 1000)
            t_end = time.monotonic() + rng.uniform(0.02, 0.3)
            while time.monotonic() < t_end:
                h.pump()
        h.cmd("stop")
        stalls.stop()
        res["slow_commands"] = slow
        res["host_stalls_over_50ms"] = sum(1 for _s, d in stalls.late if d > 0.05)
        res["streaming_command_ms"] = latency_figures(stream_ms)
        res["all_command_ms"] = latency_figures([x[1] for x in lat if x[0] != "tare"] + stream_ms)
    # 2./3. the long run
    with spawn_strict(speed=a.speed, loop=True, encoder=False, **strict) as dev:
        h = StrictHost(dev.port)
        q0 = dev.control({"query": True})
        h.cmd("start")
        q_start = dev.control({"query": True})
        t_run = a.minutes * 60.0 / a.speed
        t0 = time.monotonic()
        next_pause = 60.0 / a.speed
        pauses = 0
        while time.monotonic() - t0 < t_run:
            h.pump()
            if time.monotonic() - t0 >= next_pause and time.monotonic() - t0 + a.pause_s / a.speed < t_run:
                time.sleep(a.pause_s / a.speed)  # the host application stops reading
                pauses += 1
                next_pause += 60.0 / a.speed
        q_end = dev.control({"query": True})
        h.cmd("stop", timeout_s=5.0)
        for _ in range(30):
            h.pump()
        q = dev.control({"query": True})
        link = q["sampler"]["links"]["usb"]
        conv = q_end["conversions"] - q_start["conversions"]
        res.update({
            "pauses": pauses, "received": h.received, "host_lost": h.lost, "device_dropped": link["dropped"],
            "device_index": link["next_index"], "chip_conversions_while_streaming": conv,
            "truth_minus_host": link["next_index"] - (h.received + h.lost),
            "missed_conversions": q["sampler"]["missed"], "usb_max_block_ms": q["usb"]["max_block_ms"],
            "usb_read_cap_hits": q["usb"]["read_cap_hits"], "max_step_periods": round(h.max_step_periods, 2),
            "overwritten_by_chip": q["overwritten"] - q0["overwritten"], "irq": q["irq"],
            "stamps_corrected": q["sampler"]["corrected"],
        })
    ok_cmd = res["all_command_ms"]["max_ms"] <= 100
    ok_loss = res["host_lost"] == res["device_dropped"] and 0 <= res["truth_minus_host"] <= 4
    ok_stall = res["missed_conversions"] == 0 and res["usb_max_block_ms"] == 0
    al, st = res["all_command_ms"], res["streaming_command_ms"]
    print(f"commands: max {al['max_ms']} ms, p99 {al['p99_ms']}, median {al['p50_ms']} over {al['n']} "
          f"(target <= 100 ms) {'OK' if ok_cmd else 'MISSED'}; while streaming: max {st['max_ms']}, p99 {st['p99_ms']}, "
          f"median {st['p50_ms']} over {st['n']}; TARE (answers after its 8 samples) {res['tare_ms']} ms")
    print(f"  replies over 50 ms (name, ms, this machine's worst scheduling stall meanwhile in ms): {res['slow_commands']}")
    print(f"loss: host counted {res['host_lost']}, device dropped {res['device_dropped']}, received {res['received']}, "
          f"device indices {res['device_index']} (chip conversions while streaming ~{conv}), "
          f"index - (received + lost) = {res['truth_minus_host']} {'OK' if ok_loss else 'MISMATCH'}")
    print(f"stalls: missed conversions {res['missed_conversions']}, longest USB block {res['usb_max_block_ms']} ms, "
          f"largest step between consecutive samples {res['max_step_periods']} periods {'OK' if ok_stall else 'STALL'}")
    if a.json:
        print(json.dumps(res))
    return 0 if ok_cmd and ok_loss and ok_stall else 1


if __name__ == "__main__":
    sys.exit(main())
