"""The virtual roller: holdsense_fw's App (sampler, framing, commands) on a pty or TCP port.

Everything above the pins is the firmware's own code; below them sit the fake
HX711/AS5600 chips fed by `holdsense.sim` (Body → LoadCell / Encoder). Time:
a *world* clock runs `speed` times faster than the host's; the device clock is
the world clock since the last (re)boot, so a reboot restarts the device clock
while the simulated person carries on.
"""
from __future__ import annotations

import asyncio
import json
from contextlib import nullcontext
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, TextIO

import numpy as np

from ..errors import UserError
from . import shims
from .hardware import FakeAS5600, FakeHX711
from .link import BleOptions, LinkServer, PtyEndpoint, TcpEndpoint, VirtualSerial, cancel_tasks, serve

__all__ = ["VirtualDevice", "serve", "reference_build_sensor", "VirtualSerial", "PtyEndpoint", "TcpEndpoint"]

BOARD = "esp32s3"
ANGLE_READ_DELAY_US = 500  # the AS5600 is read this long after the HX711's data-ready edge (read + I2C)
BOOT_US = 500_000  # a reboot: ROM bootloader + MicroPython start + main.py, about half a second
#: Electrical noise of the simulated reference build at 80 SPS: 4 × the HX711's own 0.028 N rms
#: (hardware/README.md force budget: a real build is 2–5 × noisier than the chip), i.e. ~250 counts.
REFERENCE_NOISE_N = 0.11
REBOOT_BANNER = (b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
                 b"MicroPython v1.27.0 on 2025-12-09; ESP32S3 module with ESP32S3\r\n")


def reference_build_sensor(sensor: dict[str, Any], explicit: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """The simulator's load-cell parameters re-expressed for the reference build (hardware/README.md).

    The virtual roller is the reference build, so its firmware's nominal scale
    (holdsense_fw.config.REFERENCE_COUNTS_PER_N, 2190 counts/N) and its counts
    thresholds are exercised at their real size. Unless the scenario sets
    `counts_per_n` itself (`explicit`: keys the scenario file gave), the scale
    becomes 2190 counts/N; the zero drift keeps its size in newtons (what the
    roller's auto-tare and the host's auto-zero act on), the noise is scaled so
    the simulator's default (0.5 N) becomes REFERENCE_NOISE_N (noisier scenarios
    stay proportionally noisier); `tare_counts` stays a raw code (e.g. 84210 ≈ 38 N
    of shell and end caps resting on the cells) and the non-linearity is relative.
    """
    from holdsense.sim.spec import SENSOR_DEFAULTS
    from holdsense_fw.config import REFERENCE_COUNTS_PER_N

    if "counts_per_n" in explicit:
        return dict(sensor)
    k_sim = float(sensor["counts_per_n"])
    out = dict(sensor)
    out["counts_per_n"] = REFERENCE_COUNTS_PER_N
    out["offset_drift_counts"] = float(sensor["offset_drift_counts"]) * REFERENCE_COUNTS_PER_N / k_sim
    out["noise_n"] = float(sensor["noise_n"]) * REFERENCE_NOISE_N / float(SENSOR_DEFAULTS["noise_n"])
    return out


def parse_board_uid(text: str) -> bytes | None:
    """A board's unique id written as 12 hex digits (the 6 bytes of machine.unique_id() on an ESP32), or
    None when `text` is not that."""
    try:
        uid = bytes.fromhex(text.strip())
    except ValueError:
        return None
    return uid if len(uid) == 6 else None


def _make_state_dir(state_dir: str) -> None:
    """--state-dir: used as it is, or made when its parent folder exists (the CLI's other outputs refuse a
    missing parent folder too: a typo in the path should not go unnoticed). UserError (exit 2) otherwise."""
    d = Path(state_dir)
    if d.is_dir():
        return
    if d.exists():
        raise UserError(f"--state-dir {state_dir}: exists and is not a folder")
    parent = d.parent if str(d.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"--state-dir {state_dir}: folder {parent} does not exist")
    try:
        d.mkdir()
    except OSError as exc:
        raise UserError(f"--state-dir {state_dir}: cannot make the folder ({exc.strerror or exc})") from None


class VirtualDevice(LinkServer):
    """One simulated roller. `await run(on_port)` serves until cancelled.

    scenario: family name or JSON path (holdsense.sim); speed: device time per
    host second; loop: repeat the scenario (else the person steps off and the
    roller keeps streaming unloaded); encoder: fit the AS5600; calibrated: start
    with the load cell's calibration stored (a bench-calibrated roller) instead
    of the firmware's nominal one; rate_wired: RATE pin wired (SET_RATE works);
    wait_for_start: the simulated person steps on only when a host first
    sends START (the scenario's clock starts there, so a recording or live view
    begins with the scenario instead of joining it however late the host came).

    The link is strict (holdsense.virtual.usb.StrictUsb): the firmware's USB port
    has MicroPython's blocking semantics with the `usb_port` board's packet
    timing ("s3" or "c3") and a host driver buffer of `usb_host_buffer` bytes;
    pin IRQs are soft (late, coalesced: shims.FakeBoard) unless `soft_irq=False`.
    """

    def __init__(self, scenario: str = "standard", *, seed: int = 0, rate_hz: int = 80, encoder: bool = True,
                 speed: float = 1.0, loop: bool = False, link_path: str | None = None, tcp_port: int | None = None,
                 ble: BleOptions | None = None, control_path: str | None = None, state_dir: str | None = None,
                 calibrated: bool = True, rate_wired: bool = True, ticks_offset_us: int = 0,
                 wait_for_start: bool = False, out: TextIO | None = None, usb_port: str = "s3",
                 usb_host_buffer: int | None = None, soft_irq: bool = True, device_id: str | None = None) -> None:
        from .usb import HOST_BUFFER, USB_PORTS

        from holdsense import sim

        super().__init__(link_path=link_path, tcp_port=tcp_port, ble=ble, control_path=control_path, out=out)
        if speed <= 0:
            raise UserError("--speed must be > 0")
        if rate_hz not in (10, 80):
            raise UserError("--rate must be 10 or 80 (the HX711's two rates)")
        if usb_port not in USB_PORTS:
            raise UserError(f"--usb must be one of {', '.join(sorted(USB_PORTS))}")
        self.usb_port = usb_port
        self.usb_host_buffer = int(usb_host_buffer or HOST_BUFFER)
        if self.usb_host_buffer < 64:
            raise UserError("--usb-host-buffer must be at least 64 bytes (one USB packet)")
        self.soft_irq = soft_irq
        self.usb: Any = None
        self._blocked_until_us = -1  # device µs: the firmware was blocked on USB until then
        self.body = sim.Body(scenario, seed)
        resolved = self.body.scenario
        ss = np.random.SeedSequence([int(seed), 4242])
        k_cell, k_enc = ss.spawn(2)
        explicit = set(sim.load_scenario(scenario).spec.get("sensor", {}))
        self.cell = sim.LoadCell.from_scenario(dict(resolved, sensor=reference_build_sensor(resolved["sensor"], explicit)),
                                               rate_hz=float(rate_hz), seed=k_cell)
        self.has_encoder = bool(encoder) and bool(resolved.get("encoder", True))
        self.encoder = sim.Encoder(noise_deg=float(resolved.get("sensor", {}).get("encoder_noise_deg", 0.03)),
                                   seed=k_enc) if self.has_encoder else None
        self.seed = int(seed)
        self.rate_hz = rate_hz
        self.speed = float(speed)
        self.loop = loop
        self.calibrated = calibrated
        self.rate_wired = rate_wired
        self.ticks_offset_us = int(ticks_offset_us)
        self._own_state = state_dir is None
        if state_dir is not None:
            _make_state_dir(state_dir)
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="holdsense-vdev-")
        self.uid = self._board_uid(device_id, ble)
        self._t_start = time.monotonic()
        self._boot_world_us = 0
        self._last_edge_us: int | None = None
        self._hx_rate_factor: float | None = None
        self._angles: dict[int, int] = {}  # read instant (device µs) -> AS5600 raw, computed with the counts
        # world µs at which the scenario's clock reads 0 (None: waiting for the host's first START)
        self._scenario_t0_us: int | None = None if wait_for_start else 0
        self.boots = 0
        self.app: Any = None
        self.board: shims.FakeBoard | None = None
        self.hx: FakeHX711 | None = None
        self.as5600: FakeAS5600 | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._init_storage()

    # --- time ---
    def world_us(self) -> int:
        return int((time.monotonic() - self._t_start) * self.speed * 1e6)

    def device_us(self) -> int:
        return self.world_us() - self._boot_world_us + self.ticks_offset_us

    def _fast_device_clock(self) -> Callable[[], int]:
        """device_us() as one closure: the fake pins read the clock on every PD_SCK edge (50 per sample)."""
        mono, t0, k = time.monotonic, self._t_start, self.speed * 1e6
        base = self.ticks_offset_us - self._boot_world_us
        return lambda: int((mono() - t0) * k) + base

    def set_speed(self, speed: float) -> None:
        """Run the world (and device) clock `speed` times faster than the host's from now on.

        The clocks stay continuous: they are re-anchored at this instant, so device and scenario time
        carry on from where they are. Lets a test wait through a scripted stretch faster than real time
        and time the parts that need real time at 1×. Sleeps the firmware has already begun end at the
        old rate (one status period early or late at most). The firmware's emulated tick period was
        chosen for the speed it booted at (compat.set_clock) and cannot change under a running WideClock:
        a speed that needs a longer period is refused (ValueError); start the device at the highest speed.
        """
        speed = float(speed)
        if not speed > 0:
            raise ValueError("speed must be > 0")
        board = self.board
        if board is not None:
            from holdsense_fw import compat

            period = compat.TICKS_PERIOD
            compat.set_clock(board.clock_us, speed)  # sets the period for `speed` too: kept as it was below
            if compat.TICKS_PERIOD > period:
                compat.set_clock(board.clock_us, self.speed)
                compat.TICKS_PERIOD = period
                raise ValueError(f"speed {speed:g}: the device booted at speed {self.speed:g}, whose tick "
                                 "period is too short for it (start the device at the highest speed)")
            compat.TICKS_PERIOD = period  # slower: a longer period than needed is harmless (wraps less often)
        mono = time.monotonic()
        world_s = (mono - self._t_start) * self.speed
        self.speed = speed
        self._t_start = mono - world_s / speed
        if board is not None:
            board._clock = self._fast_device_clock()  # the closure holds the old anchor and factor
            board.speed = speed  # type: ignore[attr-defined]
        if self.usb is not None:
            self.usb.speed = speed

    def _scenario_s(self, world_s: np.ndarray) -> np.ndarray:
        d = self.body.duration_s
        if self._scenario_t0_us is None:
            return np.zeros_like(world_s)  # before the first START: the scenario's first instant
        world_s = np.maximum(world_s - self._scenario_t0_us / 1e6, 0.0)
        if self.loop and d > 0:
            return np.mod(world_s, d)
        return world_s

    def _counts_at(self, t_us: np.ndarray) -> np.ndarray:
        world_s = (t_us - self.ticks_offset_us + self._boot_world_us) / 1e6
        force_n = self.body.force_n(self._scenario_s(world_s))
        if self.encoder is not None:
            # the angles the firmware will read after these conversions (see _angle_read_us), in the
            # same vectorised call: one model evaluation per sample costs more than the whole read
            read_us = np.asarray(t_us, dtype=np.int64) + ANGLE_READ_DELAY_US
            raw = self.encoder.raw_counts(self.body.angle_deg(self._scenario_s(world_s + ANGLE_READ_DELAY_US / 1e6)))
            if len(self._angles) > 256:
                self._angles.clear()
            self._angles.update(zip(read_us.tolist(), (int(r) for r in raw)))
        return self.cell.counts(force_n, world_s)

    def _raw_angle_at(self, t_us: int) -> int:
        raw = self._angles.get(t_us)
        if raw is not None:
            return raw
        world_s = np.array([(t_us - self.ticks_offset_us + self._boot_world_us) / 1e6])
        return int(self.encoder.raw_counts(self.body.angle_deg(self._scenario_s(world_s)))[0])

    def _battery_uv(self) -> int:
        hours = self.world_us() / 3.6e9
        return int(max(3.3, 4.05 - 0.12 * hours) * 1e6 / 2)  # through the 100k/100k divider

    # --- storage ("flash") ---
    def _init_storage(self) -> None:
        path = Path(self.state_dir) / "holdsense.json"
        if path.exists():
            return
        settings: dict[str, Any] = {"rate_wired": self.rate_wired, "rate_hz": self.rate_hz}
        if self.calibrated:
            cal = self.cell.calibration()
            settings["cal"] = {"tare_counts": cal["tare_counts"], "counts_to_n": cal["counts_to_n"],
                               "residual_n": cal["residual_n"], "fitted": True}
        path.write_text(json.dumps(settings))

    def _board_uid(self, device_id: str | None, ble: BleOptions | None) -> bytes:
        """The board's unique id (`machine.unique_id()`, the roller's device id): `device_id` (12 hex
        digits); else, like a board's factory MAC, its own and kept: read from the state dir, or made
        there (over BLE: the BLE address's bytes, as an ESP32 derives one from the other)."""
        if device_id is not None:
            uid = parse_board_uid(device_id)
            if uid is None:
                raise UserError(f"--device-id {device_id!r}: expected 12 hex digits")
            return uid
        path = Path(self.state_dir) / "board-uid"
        try:
            uid = parse_board_uid(path.read_text())
        except OSError:
            uid = None
        if uid is not None:
            return uid
        uid = bytes.fromhex(ble.address.replace(":", "")) if ble is not None else b"\x7c\xdf\xa1" + os.urandom(3)
        path.write_text(uid.hex().upper() + "\n")
        return uid

    # --- boot ---
    def _boot(self, resume_world_us: int | None = None) -> None:
        """Start the firmware on a fresh board. resume_world_us: a reboot's moment in the world (see reboot)."""
        from holdsense_fw.config import PINS

        now = self.world_us()
        self._boot_world_us = now if resume_world_us is None else min(now, resume_world_us + BOOT_US)
        self.boots += 1
        pins = PINS[BOARD]
        board = shims.FakeBoard(self._fast_device_clock(), self.uid, soft_irq=self.soft_irq,
                                seed=self.seed + 7 * self.boots)
        board.speed = self.speed  # type: ignore[attr-defined]
        shims.install(board)  # before the drivers import `machine`
        from holdsense_fw import app as fw_app
        from holdsense_fw.storage import Storage

        self.board = board
        self.hx = FakeHX711(board, pins["HX711_DOUT"], pins["HX711_SCK"],
                            pins["HX711_RATE"] if self.rate_wired else None, self._counts_at,
                            base_rate_hz=float(self.rate_hz), seed=self.seed + 1000 * self.boots)
        if self._hx_rate_factor is None:
            self._hx_rate_factor = self.hx.rate_factor
        self.hx.rate_factor = self._hx_rate_factor  # a reboot restarts the MCU, not the ADC's oscillator
        if self.has_encoder:
            self.as5600 = FakeAS5600(self._raw_angle_at)
            self.as5600.clock_us = self._angle_read_us
            board.i2c_devices[FakeAS5600.ADDR] = self.as5600
        board.adc_uv[pins["VBAT_ADC"]] = self._battery_uv
        storage = Storage(self.state_dir)
        storage.recover()
        hw = fw_app.build_hardware(BOARD, storage.load())
        boot_id = random.SystemRandom().getrandbits(32) or 1
        self.app = fw_app.App(hw, storage, BOARD, fw_app.device_id(), boot_id=boot_id)
        assert self.serial is not None
        self._last_edge_us = None
        self.hx.schedule_from(self.ticks_offset_us)  # the chip starts converting at power-up (device time 0)
        self._tasks = [asyncio.create_task(self._hardware_task()),
                       asyncio.create_task(self._firmware_main())]

    def _firmware_main(self) -> Any:
        """The firmware's main coroutine for this boot: App.run with the USB serial link, or over BLE
        the firmware's own BLE logic (holdsense_fw.ble.BleLink) attached to the fake peripheral."""
        if self.peripheral is not None:
            from holdsense_fw.ble import BleLink

            self.peripheral.attach(BleLink(self.app))  # a new boot: new firmware link; a connection drops
            return self.app.run(None)
        from holdsense_fw.app import SerialPort

        self.port = SerialPort(self._usb(), self.usb, measure_writes=False)
        return self.app.run(self.port)

    def _usb(self) -> Any:
        """The board's USB port (one per device: it outlives reboots, like the cable)."""
        if self.usb is None:
            from .usb import StrictUsb

            assert self.serial is not None

            def blocked(t0_us: int, t1_us: int) -> None:
                self._blocked_until_us = max(self._blocked_until_us, t1_us)
                if self.board is not None:
                    self.board.busy_until_us = self._blocked_until_us

            self.usb = StrictUsb(self.serial, lambda: self.device_us(), port=self.usb_port,
                                 host_buffer=self.usb_host_buffer, speed=self.speed, on_block=blocked,
                                 freeze=lambda t: self.board.freeze(t) if self.board is not None else nullcontext())
        return self.usb

    async def _shutdown_firmware(self) -> None:
        if self.app is not None:
            # a reset or power cut runs no more firmware code: settings changed while streaming, which wait
            # for STOP to reach flash (App.save_pending), are lost as on a board. Cancelling App.run would
            # otherwise write them in its `finally` (the EXIT path), and a virtual reboot kept a TARE or an
            # automatic tare that a real one loses.
            self.app.save_pending = False
        await cancel_tasks(self._tasks)
        self._tasks = []
        # App.run cancels its own tasks (sampler, tx, ...) without awaiting them: let them finish on this
        # board before it goes, or a sampler woken by a last IRQ would read pins of no board at all
        for _ in range(10):
            await asyncio.sleep(0)
        if self.board is not None:
            shims.uninstall(self.board)

    def _angle_read_us(self) -> int:
        """When the firmware reads the AS5600: a board does it ~0.5 ms after the HX711's data-ready edge.

        The host may run the firmware's read later than that (a busy machine, --speed); the angle is
        still the one at the board's read instant, so force and angle stay aligned.
        """
        if self._last_edge_us is None:
            assert self.board is not None
            return self.board.clock_us()
        return self._last_edge_us + ANGLE_READ_DELAY_US

    async def _hardware_task(self) -> None:
        hx, board = self.hx, self.board
        assert hx is not None and board is not None
        while True:
            edge = hx.next_edge_us
            delay_s = (edge - board.clock_us()) / 1e6 / self.speed
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            if hx.next_edge_us != edge:  # rescheduled (RATE changed) while we slept
                continue
            self._last_edge_us = hx.convert()
            if edge <= self._blocked_until_us:
                continue  # the firmware was stuck in a USB call: on a board this conversion is overwritten
            if self._scenario_t0_us is None and self.app is not None and any(lk.streaming for lk in self.app.links):
                # the host started streaming: the scenario begins at this conversion (its block of
                # pre-computed codes is re-evaluated from the next edge on)
                self._scenario_t0_us = self._last_edge_us - self.ticks_offset_us + self._boot_world_us
                hx.invalidate()
            # A board's sampler reads each conversion microseconds after its edge. Here the IRQ wakes the
            # firmware's sampler a few event-loop turns later, and the host's loop itself runs late at times
            # (a busy machine; 1 ms of host is 10 device-ms at --speed 10), so the next edge may already be
            # due: let the sampler read this conversion before the next is latched, or a faster-than-real-time
            # device would silently skip conversions a board never misses. Bounded: a sampler that is not
            # reading (stopped, a test's dead chip) does not hold the chip up.
            for _ in range(16):
                if not hx.ready:
                    break
                await asyncio.sleep(0)

    # --- faults (control socket) ---
    async def unplug(self, device_s: float) -> None:
        """Cable out (BLE: out of range) for `device_s` of device time; the firmware keeps sampling."""
        await self.unplug_for(device_s / self.speed)

    async def reboot(self) -> None:
        # The board reboots right after the last conversion it streamed. When the host machine is too busy
        # for `speed`, that conversion may be behind the world clock; booting "now" would skip the
        # simulated person ahead by that lag, in a stretch the host cannot see (it re-bases a reboot by its
        # own clock). So the new boot starts BOOT_US after the last conversion and the lag carries on.
        resume = None
        if self._last_edge_us is not None:
            resume = self._last_edge_us - self.ticks_offset_us + self._boot_world_us
        await self._shutdown_firmware()
        assert self.serial is not None
        self.serial.tx.clear()
        while not self.serial.rx.empty():
            self.serial.rx.get_nowait()
        if self.usb is not None:
            self.usb._rx.clear()
            self.usb.write_nowait(REBOOT_BANNER)  # text before the app starts: garbage to the decoder
        # a board is silent while it boots (ROM, MicroPython, main.py): the host sees that time pass, which
        # is what it places the new time base by
        await asyncio.sleep(BOOT_US / 1e6 / self.speed)
        self._boot(resume)

    def garbage(self, n: int) -> None:
        """Noise on the wire: `n` random bytes on serial; on BLE the next `n` notifications fail their CRC."""
        if self.peripheral is not None:
            self.peripheral.corrupt_next(int(n))
            return
        self._usb().write_nowait(os.urandom(int(n)))

    def inject_fault(self, task: str) -> None:
        """A firmware task raises once (tests of its supervision): "status" (the status task's next
        STATUS payload) or "usb-rx" (the next bytes handled)."""
        app = self.app
        if task == "status":
            orig = app.status_payload

            def once(link: Any) -> bytes:
                app.status_payload = orig
                raise RuntimeError("injected fault")
            app.status_payload = once
        elif task == "usb-rx":
            cmds = app.commands
            orig_feed = cmds.feed_serial

            def once_feed(data: bytes, link: Any) -> None:
                cmds.feed_serial = orig_feed
                raise RuntimeError("injected fault")
            cmds.feed_serial = once_feed
        else:
            raise ValueError(f"fault_task: status or usb-rx, not {task!r}")

    def query(self) -> dict[str, Any]:
        app = self.app
        return {"boot_id": app.boot_id, "device_id": app.device_id, "boots": self.boots,
                "device_s": self.device_us() / 1e6,
                "world_s": self.world_us() / 1e6, "scenario_duration_s": self.body.duration_s,
                "scenario_t0_world_s": None if self._scenario_t0_us is None else self._scenario_t0_us / 1e6,
                "load_kg": self.body.load_kg, "rate_hz": app.hx.rate_hz, "idle": app.sampler.idle,
                "cues": [list(c) for c in app.cue.log], "settings": app.settings,
                "port": self.endpoint.url if self.endpoint else None, "plugged": self._plugged,
                "conversions": self.hx.conversions if self.hx else 0,
                "overwritten": self.hx.overwritten if self.hx else 0,
                "usb": None if self.usb is None else {
                    "port": self.usb_port, "max_block_ms": self.usb.max_block_us / 1000,
                    "blocked_ms": self.usb.blocked_us / 1000, "read_cap_hits": self.usb.read_cap_hits,
                    "dropped_bytes": self.usb.dropped_bytes, "written_bytes": self.usb.written_bytes},
                "irq": {"soft": self.soft_irq, "delivered": self.board.irq_delivered if self.board else 0,
                        "coalesced": self.board.irq_coalesced if self.board else 0},
                "sampler": self._sampler_query(),
                "as5600_watchdog": self.as5600.watchdog if self.as5600 else None,
                **({"ble": dict(ble_query(self.peripheral), bus=self.bus_address)} if self.peripheral is not None else {})}

    def _sampler_query(self) -> dict[str, Any]:
        """The firmware's own counts (for benches: compare with the chip's truth above)."""
        app = self.app
        if app is None:
            return {}
        smp = app.sampler
        links = {lk.name: {"next_index": lk.queue.next_index, "dropped": lk.queue.dropped,
                           "streaming": lk.queue.enabled} for lk in app.links}
        return {"missed": smp.timer.missed, "corrected": smp.timer.corrected, "spurious_wakes": smp.spurious_wakes,
                "samples_seen": smp.samples_seen, "task_restarts": app.task_restarts, "links": links,
                "max_gap_ms": getattr(smp, "max_gap_us", 0) / 1000,
                "tx": None if getattr(self, "port", None) is None else {
                    "stalls": self.port.stalls, "max_write_ms": self.port.max_write_us / 1000,
                    "not_writable": getattr(self.port, "not_writable", 0)}}

    async def _control(self, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise ValueError("expected a JSON object")
        reply: dict[str, Any] = {"ok": True}
        for key, val in obj.items():
            if key == "load_kg":
                self.body.load_kg = float(val)
                if self.hx is not None:
                    self.hx.invalidate()
            elif key == "speed":
                self.set_speed(float(val))
            elif key == "unplug_s":
                asyncio.create_task(self.unplug(float(val)))
            elif key == "reboot":
                if val:
                    await self.reboot()
                    reply["boot_id"] = self.app.boot_id
            elif key == "garbage_bytes":
                self.garbage(int(val))
            elif key == "query":
                reply.update(self.query())
            elif key == "fault_task":
                self.inject_fault(str(val))
            elif key == "ble_notify_budget" and self.peripheral is not None:
                # a slow radio: at most N notifications per second (None: unlimited)
                self.peripheral.notify_budget_per_s = None if val is None else float(val)
            elif key == "ble_link_loss_s" and self.peripheral is not None:  # as unplug_s, in host seconds
                asyncio.create_task(self.unplug_for(float(val)))
            else:
                raise ValueError(f"unknown control key {key!r}")
        return reply

    # --- main ---
    async def _start(self) -> None:
        self._boot()

    async def _stop(self) -> None:
        await self._shutdown_firmware()

    async def _cleanup(self) -> None:
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def ble_query(p: Any) -> dict[str, Any]:
    """The fake peripheral's state and its firmware link's counters (the `ble` part of a query)."""
    link = p.link
    fw = getattr(link, "link", None)  # holdsense_fw.ble.BleLink over the firmware's Link (a replay has none)
    return {"name": p.name, "address": p.address, "connected": p.connected, "mtu": p.mtu,
            "stats": dict(p.stats),
            "link": None if fw is None else {
                "notified": link.notified, "retries": link.retries, "lost_frames": link.lost_frames,
                "lost_samples": getattr(link, "lost_samples", 0),
                "bad_writes": link.bad_writes, "connections": link.connections,
                "dropped": fw.queue.dropped, "next_index": fw.queue.next_index, "streaming": fw.queue.enabled}}
