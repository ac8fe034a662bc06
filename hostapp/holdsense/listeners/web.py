"""The live web page: `holdsense live --web` and `holdsense replay FILE --web`.

A small aiohttp server on its own thread (its own asyncio loop, so the receive
loop never waits on a browser) serves one static page (webpage/: HTML, JS,
CSS; no build step, nothing from the internet) and pushes the live state over
a WebSocket `rate_hz` times a second (20 by default).

The pushed state is a JSON snapshot of the same `LiveState` the terminal
view renders (holdsense.listeners.live), and the state word comes from the same
`display_state()`, so the phone on the floor and the terminal never disagree.

Security: binds 127.0.0.1 unless told otherwise. With `--lan` it binds the
local network and every URL carries a random token as its first path element
(`http://192.168.1.20:8765/<token>/`); any request without it gets 403. The
token is in the path (not a query string) so the page's relative URLs
(app.js, ws) carry it without any script.

`ReplayControl` plays a recording into a DetectorListener with pause, play
and seek (the page's scrubber): seeking back re-runs the detector from the
start at full speed (the detector is streaming: the state at time T is the
state after feeding everything before T), seeking forward feeds the skipped
stretch at full speed.
"""
from __future__ import annotations

import asyncio
import errno
import json
import math
import os
import secrets
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TextIO

from ..errors import UserError
from ..fmt import one_line_feedback
from .live import (DISPLAY_WORDS, STATE_WORDS, DetectorListener, LiveState, display_state, force_scale_n,
                   shown_force_n)
from ..messages import Info, Samples
from .notifier import dispatch
from ..userprofile import G_MPS2, force_in_units
from ..verdict import hold_tone, hold_verdict

PAGE_DIR = Path(__file__).with_name("webpage")
DEFAULT_PORT = 8765  # the CLI's --web-port default (options.DEFAULT_WEB_PORT; a test keeps them equal)
DEFAULT_RATE_HZ = 20.0
#: At stop, how long the last push (ENDED and the end totals) and then the closing of the sockets may each
#: take: enough for a phone on Wi-Fi, short enough that the command still ends at once.
FINAL_PUSH_TIMEOUT_S = 1.0
HOLDS_SENT = 200  # the page lists at most this many holds (a session has a few dozen)
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
                 ".png": "image/png", ".ico": "image/x-icon"}


def _num(x: Any, digits: int = 2) -> float | None:
    return round(float(x), digits) if isinstance(x, (int, float)) and math.isfinite(x) else None


def _verdict(hold: dict[str, Any], release_s: float) -> dict[str, Any]:
    """A finished hold's verdict for the page (holdsense.verdict, the rule every output shares): `tone` is
    the score's colour ("good", "fair", "poor"; "not_judged": no number shown), `verdict` why it is not
    the number's band ("too_hard", "not_judged", "too_short", "firm" or None)."""
    return {"verdict": hold_verdict(hold, release_s), "tone": hold_tone(hold, release_s)}


def snapshot(state: LiveState, *, units: str = "N", name: str | None = None, now: float | None = None,
             replay: dict[str, Any] | None = None) -> dict[str, Any]:
    """The page's view of a LiveState as a JSON-ready dict (forces in N and in `units`).

    Called with the DetectorListener's lock held. `now`: monotonic wall time (link-loss timing).
    """
    now = time.monotonic() if now is None else now
    key = display_state(state, now)
    band = state.light_band_n
    too_hard = state.too_hard_n()
    mass = state.body_mass_kg
    weight_n = mass * G_MPS2 if mass else None
    f = shown_force_n(state)  # never a negative load; 0 on an empty roller (live.shown_force_n)
    f = f if math.isfinite(f) else None
    scale_n = force_scale_n(state)  # the terminal's scale: fixed, no autoscale jumps

    def u(x: float | None) -> float | None:
        return None if x is None else _num(force_in_units(x, units), 1)

    hold = None
    if state.hold_start_s is not None and key in ("hold", "too_hard", "link_lost"):
        hold = {"elapsed_s": _num(state.hold_duration_s), "start_s": _num(state.hold_start_s),
                "mean_force_n": _num(state.hold_mean_force_n, 1)}
    last = None
    if state.last_hold:
        h = state.last_hold
        # durations to the ms: the page rounds them to whole seconds once, as the feedback's "Held 53 s" did;
        # rounded here to 0.1 s first, 52.54 s became 52.5 and then 0:52 on the page
        last = {"n": len(state.holds), "duration_s": _num(h.get("duration_s"), 3), "score": h.get("score"),
                "grade": h.get("grade"), **_verdict(h, state.release_window_s),
                "feedback": one_line_feedback(h), "confidence": h.get("confidence"),
                "mean_force_n": _num(h.get("mean_force_n"), 1), "mean_force": u(h.get("mean_force_n")),
                "pct_bw": _num(100 * h["mean_force_n"] / weight_n, 0)
                if weight_n and isinstance(h.get("mean_force_n"), (int, float)) else None}
    holds = []
    for i, h in enumerate(state.holds[-HOLDS_SENT:], start=max(1, len(state.holds) - HOLDS_SENT + 1)):
        holds.append({"n": i, "start_s": _num(h.get("start_s"), 1), "duration_s": _num(h.get("duration_s"), 3),
                      "score": h.get("score"), "grade": h.get("grade"), **_verdict(h, state.release_window_s),
                      "mean_force": u(h.get("mean_force_n"))})
    warnings = [msg for t, msg in state.warnings if state.t_s - t <= 15.0]
    summary = (state.result or {}).get("summary") or {}
    final = state.totals_final()  # at the end: the session's analysis, as the terminal and analyze give it
    totals_final = final is not None
    if final is not None:
        totals = {k: _num(final[k], 2) for k in ("hold", "roll", "off", "lost")}
    else:
        totals = {k: _num(v, 1) for k, v in state.totals_now().items()}
    return {
        "t_s": _num(state.t_s), "state": key, "word": DISPLAY_WORDS[key],
        "detector_state": STATE_WORDS.get(state.state, str(state.state)),
        "state_for_s": _num(max(0.0, state.t_s - state.state_start_s)) if state.state else None,
        "units": units, "force_n": _num(f, 1), "force": u(f),
        "pct_bw": _num(100 * f / weight_n, 0) if (f is not None and weight_n) else None,
        "band_n": [_num(band[0], 1), _num(band[1], 1)] if band else None,
        "band": [u(band[0]), u(band[1])] if band else None,
        "too_hard_n": _num(too_hard, 1), "too_hard": u(too_hard), "scale_n": _num(scale_n, 1), "scale": u(scale_n),
        "release_s": state.release_window_s, "hold": hold, "last_hold": last, "holds": holds,
        "totals": totals, "totals_final": totals_final, "warnings": warnings,
        "link": {"lost": key == "link_lost", "lost_for_s": _num(state.link_lost_for_s(now), 1),
                 "word": state.link.get("link"), "reconnects": state.link.get("reconnects"), "gaps": state.gaps},
        "battery_pct": _num(state.battery_pct, 0), "battery_low": state.battery_low,
        "name": name, "device": state.device, "region": state.region, "body_mass_kg": mass,
        "session_score": summary.get("session_score"), "ended": state.ended, "replay": replay,
        # markers while rolling (docs/labelling.md): the page shows its buttons when they are taken
        "marks": {"on": state.marks_on, "recent": [{"t_s": _num(t), "text": text} for t, text in state.marks]},
    }


class WebView:
    """A live view (holdsense.listeners.live.View) that the web server reads: keeps the latest LiveState and the
    DetectorListener's lock, and makes snapshots on the server's thread."""

    def __init__(self, *, units: str = "N", name: str | None = None, lock: Any = None,
                 body_mass_kg: float | None = None) -> None:
        self.units = units
        self.name = name
        # the athlete's body mass, known before the roller answers: the WAITING page must not ask for it
        self.body_mass_kg = body_mass_kg
        self.lock = lock if lock is not None else threading.Lock()
        self.state: LiveState | None = None

    def attach(self, det: DetectorListener) -> "WebView":
        self.lock = det.lock
        self.state = det.state
        return self

    # View protocol: the receive thread calls these; nothing to draw here (the server pushes)
    def start(self, state: LiveState) -> None:
        self.state = state

    def update(self, state: LiveState, events: list[Any]) -> None:
        self.state = state

    def close(self, state: LiveState) -> None:
        self.state = state

    def snapshot(self) -> dict[str, Any]:
        st = self.state
        if st is None:
            st = LiveState(body_mass_kg=self.body_mass_kg)
        with self.lock:
            return snapshot(st, units=self.units, name=self.name)


class ReplayControl:
    """Plays a recording into a DetectorListener with pause / play / seek (the page's scrubber).

    `make_detector()` returns a fresh DetectorListener (with its views) for a restart from the beginning.
    Runs its own thread (`start()`); `command({"cmd": "seek", "t_s": 12.5})` etc. from the server thread.
    """

    def __init__(self, recording: Any, make_detector: Callable[[], DetectorListener], *, speed: float = 1.0,
                 units: str = "N", name: str | None = None, skip_s: float | None = None) -> None:
        from ..io.player import Player

        self._Player = Player
        self.rec = recording
        self.make_detector = make_detector
        self.speed = speed
        self.units = units
        self.name = name
        self.skip_s = skip_s
        s = recording.samples
        self.t0_s = float(s.t_s[0]) if len(s) else 0.0
        self.duration_s = float(s.t_s[-1] - s.t_s[0]) if len(s) else 0.0
        self._lock = threading.RLock()  # taken by commands and by the play loop between chunks
        self.det = make_detector()
        self._next = 0  # index of the next sample not yet fed
        self._player: Any = None
        self.playing = True
        self.finished = False
        self._quit = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()  # the recording played to its end

    # -- feeding ----------------------------------------------------------------------------
    def _suffix_player(self) -> Any:
        rec = replace(self.rec, samples=self.rec.samples.slice(self._next, len(self.rec.samples)))
        return self._Player(rec, speed=self.speed, skip_s=self.skip_s)

    def _feed(self, msgs: list[Any]) -> None:
        for m in msgs:
            if isinstance(m, Info) and self._next > 0:
                continue  # the header once, at the start
            dispatch(self.det, m)
            if isinstance(m, Samples):
                self._next += len(m.chunk)

    def _fast_forward(self, stop: int) -> None:
        """Feed samples [next, stop) at full speed (no waiting)."""
        if stop <= self._next:
            return
        rec = replace(self.rec, samples=self.rec.samples.slice(self._next, stop))
        first = self._next == 0
        for m in self._Player(rec, speed=math.inf):
            if isinstance(m, Info) and not first:
                continue
            dispatch(self.det, m)
            if isinstance(m, Samples):
                self._next += len(m.chunk)

    def seek(self, t_s: float) -> None:
        """Go to `t_s` seconds from the recording's start (clamped)."""
        s = self.rec.samples
        t_abs = self.t0_s + min(max(0.0, float(t_s)), self.duration_s)
        import numpy as np

        idx = int(np.searchsorted(s.t_s, t_abs, side="right"))
        with self._lock:
            if idx < self._next or self.finished:
                # back in time: a fresh detector from the beginning (streaming equals batch)
                # (the old detector is dropped unfinished: its views are the page, which now reads the new one)
                self.det = self.make_detector()
                self._next = 0
                self.finished = False
                self.done.clear()
            self._fast_forward(idx)
            self._player = None  # the play loop makes a new timed player from here

    def command(self, msg: dict[str, Any]) -> None:
        cmd = msg.get("cmd")
        if cmd == "pause":
            with self._lock:
                self.playing = False
                self._player = None
        elif cmd == "play":
            with self._lock:
                if self.finished:
                    self.seek(0.0)
                self.playing = True
                self._player = None
        elif cmd == "seek":
            try:
                t = float(msg.get("t_s"))
            except (TypeError, ValueError):
                return
            if math.isfinite(t):
                self.seek(t)

    def position_s(self) -> float:
        st = self.det.state
        return max(0.0, st.t_s - self.t0_s) if st.first_t_s is not None else 0.0

    # -- the play loop ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="holdsense-replay", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._quit.is_set():
            with self._lock:
                if not self.playing or self.finished:
                    player = None
                else:
                    if self._player is None:
                        self._player = self._suffix_player()
                    player = self._player
                if player is not None:
                    msgs = player.recv(0.05)
                    if msgs is None:
                        self.finished = True
                        self.det.stop()
                        self.done.set()
                    else:
                        self._feed(msgs)
            if player is None:
                self._quit.wait(0.05)

    def stop(self) -> None:
        self._quit.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            if not self.finished:
                self.det.stop()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            det = self.det
            with det.lock:
                replay = {"position_s": _num(self.position_s()), "duration_s": _num(self.duration_s),
                          "playing": self.playing and not self.finished,
                          # --speed max is inf, which JSON cannot carry: the browser's JSON.parse refused every
                          # update and the page stayed blank; null means as fast as possible
                          "speed": self.speed if math.isfinite(self.speed) else None,
                          "finished": self.finished, "source": os.path.basename(str(self.rec.source))}
                return snapshot(det.state, units=self.units, name=self.name, replay=replay)


# ----------------------------------------------------------------------------------------------
# the server


def lan_address() -> str:
    """This machine's address on the local network (the interface of the default route); no packet is sent."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.254.254.254", 1))  # UDP connect: picks the outgoing interface, sends nothing
            return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def listen_hint(err: OSError) -> str:
    """What to change when binding the page's server failed with `err`: the host or the port.

    A hint that names the wrong option sends the user round in circles (an unknown host is not fixed
    with another --web-port).
    """
    if isinstance(err, socket.gaierror):
        return "; --web-host: give an IP address of this machine or a host name that resolves (e.g. 127.0.0.1)"
    if err.errno == errno.EADDRNOTAVAIL:
        return "; --web-host: not an address of this machine (e.g. 127.0.0.1, or --lan for every interface)"
    if err.errno == errno.EADDRINUSE:
        return "; the port is in use: choose another with --web-port (0 picks a free one)"
    if err.errno == errno.EACCES:
        return "; ports below 1024 need privileges: choose another with --web-port"
    return ""


class WebServer:
    """aiohttp on a background thread: GET / (the page), /app.js, /style.css, /state.json, /ws (pushes).

    snapshot(): the state to push (called `rate_hz` times a second on the server's thread).
    on_command(dict): messages from the page (replay controls), or None to ignore them.
    token: every path must start with /<token>/ (the --lan mode); None for none (localhost).
    """

    def __init__(self, snapshot: Callable[[], dict[str, Any]], *, host: str = "127.0.0.1",
                 port: int = DEFAULT_PORT, token: str | None = None, rate_hz: float = DEFAULT_RATE_HZ,
                 on_command: Callable[[dict[str, Any]], None] | None = None, public_host: str | None = None) -> None:
        self._snapshot = snapshot
        self.host = host
        self.port = port
        self.token = token
        self.rate_hz = rate_hz
        self.on_command = on_command
        self.public_host = public_host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self.clients = 0
        self.pushes = 0
        self._sockets: set[Any] = set()  # open WebSockets (touched only on the server's loop)

    @property
    def prefix(self) -> str:
        return f"/{self.token}/" if self.token else "/"

    @property
    def url(self) -> str:
        host = self.public_host or self.host
        if host in ("0.0.0.0", "", "::"):
            host = lan_address()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}{self.prefix}"

    def start(self, timeout_s: float = 10.0) -> str:
        """Bind and serve on a thread; returns the page's URL. UserError if the port cannot be bound."""
        self._thread = threading.Thread(target=self._thread_main, name="holdsense-web", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise UserError("web page: the server did not start")
        if self._error is not None:
            err = self._error
            if isinstance(err, OSError):
                raise UserError(f"web page: cannot listen on {self.host}:{self.port} ({err.strerror or err})"
                                f"{listen_hint(err)}") from None
            raise err
        return self.url

    def stop(self) -> None:
        """Push the last state, close the sockets and stop serving; a second call does nothing."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        from aiohttp import web

        self._stop = asyncio.Event()
        app = web.Application(middlewares=[self._token_middleware])
        p = self.prefix
        app.router.add_get(p, self._index)
        app.router.add_get(p + "ws", self._ws)
        app.router.add_get(p + "state.json", self._state)
        app.router.add_get(p + "{name:[a-z0-9_.-]+\\.(?:js|css|svg|png|ico)}", self._static)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            self._error = exc
            self._ready.set()
            return
        if self.port == 0:  # an ephemeral port: read back which one
            server = getattr(site, "_server", None)
            if server is not None and server.sockets:
                self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        pusher = asyncio.ensure_future(self._push())
        try:
            await self._stop.wait()
        finally:
            pusher.cancel()
            try:
                await pusher
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping: its error is no news
                pass
            # the last state (ENDED, the end totals) may have come after the last periodic push: a phone
            # would keep showing the running session. Send it once more, then close; bounded, so a phone
            # that went to sleep with its socket half open never holds up the command's exit.
            await self._final_push(FINAL_PUSH_TIMEOUT_S)
            await self._close_all(FINAL_PUSH_TIMEOUT_S)
            await runner.cleanup()

    async def _final_push(self, timeout_s: float) -> None:
        """Send the current snapshot to every open socket, waiting at most `timeout_s` in all."""
        socks = [ws for ws in self._sockets if not ws.closed]
        if not socks:
            return
        try:
            text = json.dumps(self._snapshot() | {"rate_hz": self.rate_hz})
        except Exception:  # noqa: BLE001 - a snapshot that fails at the end: close without it
            return

        async def send(ws: Any) -> None:
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                pass  # that phone is gone

        _done, pending = await asyncio.wait([asyncio.ensure_future(send(ws)) for ws in socks], timeout=timeout_s)
        for task in pending:
            task.cancel()
        if not pending:
            self.pushes += 1

    async def _close_all(self, timeout_s: float) -> None:
        """Close every open socket (a close frame each), waiting at most `timeout_s` in all."""
        tasks = [asyncio.ensure_future(ws.close()) for ws in list(self._sockets)]
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()

    @property
    def _web(self) -> Any:
        from aiohttp import web

        return web

    def _allowed(self, path: str) -> bool:
        if not self.token:
            return True
        want = f"/{self.token}/"
        return secrets.compare_digest(path[:len(want)].encode(), want.encode())

    @property
    def _token_middleware(self) -> Any:
        from aiohttp import web

        @web.middleware
        async def check(request: Any, handler: Any) -> Any:
            if not self._allowed(request.path):
                return web.Response(status=403, text="403: this page needs the link printed by holdsense "
                                                     "(with its token)\n")
            return await handler(request)

        return check

    async def _index(self, request: Any) -> Any:
        return self._file("index.html")

    async def _static(self, request: Any) -> Any:
        return self._file(request.match_info["name"])

    def _file(self, name: str) -> Any:
        web = self._web
        path = (PAGE_DIR / name).resolve()
        if path.parent != PAGE_DIR.resolve() or not path.is_file():
            raise web.HTTPNotFound()
        ctype = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        return web.Response(body=path.read_bytes(), content_type=ctype, charset="utf-8"
                            if ctype.startswith("text") else None, headers={"Cache-Control": "no-store"})

    async def _state(self, request: Any) -> Any:
        return self._web.json_response(self._snapshot())

    async def _ws(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        ws = web.WebSocketResponse(heartbeat=10.0)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.clients += 1
        try:
            await ws.send_str(json.dumps(self._snapshot() | {"rate_hz": self.rate_hz}))
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and self.on_command is not None:
                    try:
                        data = json.loads(msg.data)
                    except ValueError:
                        continue
                    if isinstance(data, dict):
                        # commands (seek re-runs the detector) run off the event loop: pushes go on meanwhile
                        await asyncio.get_running_loop().run_in_executor(None, self.on_command, data)
        finally:
            self._sockets.discard(ws)
        return ws

    async def _push(self) -> None:
        period = 1.0 / self.rate_hz
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            next_t += period
            socks = list(self._sockets)
            if socks:
                text = json.dumps(self._snapshot() | {"rate_hz": self.rate_hz})
                for ws in socks:
                    if ws.closed:
                        continue
                    try:
                        await ws.send_str(text)
                    except (ConnectionError, RuntimeError):
                        pass  # a phone went to sleep: its socket closes and the page reconnects
                self.pushes += 1
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            if loop.time() - next_t > 1.0:
                next_t = loop.time()  # the machine stalled: do not burst to catch up


# ----------------------------------------------------------------------------------------------
# command-line glue shared by `live --web` and `replay --web`


def should_open_browser(args: Any, stream: TextIO | None = None) -> bool:
    """Open a browser only for a person at a terminal: not with --no-browser, not on CI, not without a TTY."""
    if getattr(args, "no_browser", False) or os.environ.get("CI"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def serve(args: Any, snapshot_fn: Callable[[], dict[str, Any]], *,
          on_command: Callable[[dict[str, Any]], None] | None = None, out: TextIO | None = None) -> WebServer:
    """Start the page's server for `args` (--lan, --web-port, --web-host); print its URL (and a QR code
    with --lan) to `out` (stderr); open the browser when a person is at the terminal."""
    out = out or sys.stderr
    lan = bool(getattr(args, "lan", False))
    host = args.web_host or ("0.0.0.0" if lan else "127.0.0.1")
    token = secrets.token_urlsafe(12) if lan else None
    server = WebServer(snapshot_fn, host=host, port=args.web_port, token=token, on_command=on_command)
    url = server.start()
    print(f"web page: {url}", file=out, flush=True)
    if lan:
        print("  open it on a phone on the same network (scan the code); the link's token keeps others out",
              file=out, flush=True)
        try:
            import segno

            segno.make(url, error="m").terminal(out=out, compact=True)
            out.flush()
        except Exception as exc:  # noqa: BLE001 - a QR code is a convenience; the URL is printed above
            print(f"  (no QR code: {exc})", file=out)
    if should_open_browser(args):
        import webbrowser

        local = url if not lan else f"http://127.0.0.1:{server.port}{server.prefix}"
        try:
            webbrowser.open(local)
        except Exception:  # noqa: BLE001 - no browser: the URL is printed
            pass
    return server
