"""Markers while rolling: keys on the terminal (or lines from a file/FIFO) -> recording, LSL, live view.

    board = MarkerBoard()                # a Listener: put it BEFORE the RecordingWriter
    board.add_sink(writer.add_marker_at) # every sink gets (t_s, kind, text)
    keys = KeyMarkers(board).start()     # only when stdin is a terminal; never reads a pipe

A key press is queued and given the time of the first sample that arrives
after it (the device clock, like every other time in a recording), so the
file, the LSL marker and the screen all carry the same `t_s`.

A press while the link to the roller is lost (no sample for LINK_STALE_S, or
the link layer says so: what the views show as LINK LOST) is not recorded, and
the refusal sinks are told why. Its only sample to be timed on would be the
first after the reconnection (or from the roller's ~3 s backlog), seconds away
from the press, with no way to tell how far: a ground-truth label at the wrong
time is worse than none, and the person can press again once the link is back.
The same for a press queued just before the silence was noticed: when no sample
arrived for longer than LINK_STALE_S around the press, it is refused on arrival.

Keys: `h` or `[` hold starts, `e` or `]` hold ends, `n` a note (type it,
Enter to keep, Esc to drop). A markers file (`--markers-from FILE`, a FIFO
works) takes one marker per line: `hold_start`, `hold_end`, `note TEXT`
(also "hold start", "hold end" and the other spellings in io.markers).
"""
from __future__ import annotations

import os
import select
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # annotations only (numpy stays out of `record --help` / `live --help`)
    from rollsignal import SampleChunk

from ..io.markers import Marker, marker_from_word
from ..messages import LINK_STALE_S, Listener

Sink = Callable[[float, str, str], None]
#: Told (kind, text, why) of a marker that was not recorded.
RefusalSink = Callable[[str, str, str], None]
#: Why a marker pressed while the link is lost is not recorded (in the refusal: "not recorded (WHY)").
LINK_LOST_WHY = "link lost: it could not be timed on the roller's clock; press again when the link is back"
KEY_HELP = "keys: h/[ hold starts · e/] hold ends · n note"
START_KEYS = ("h", "[")
END_KEYS = ("e", "]")
NOTE_KEY = "n"
WORDS = {"hold_start": "hold starts", "hold_end": "hold ends", "note": "note"}


class MarkerBoard(Listener):
    """Collects markers from any thread and hands each, timed on the next sample, to every sink; a marker
    pressed while the link is lost goes to the refusal sinks instead (see the module's docstring)."""

    def __init__(self, *, link_lost: Callable[[], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`link_lost`: the session's own judgement of the link (the live view's LINK LOST), asked at each
        press besides the board's silence check. `clock`: wall time in s (tests give their own)."""
        self._clock = clock
        self._pending: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._sinks: list[Sink] = []
        self._refusal_sinks: list[RefusalSink] = []
        self._last_wall: float | None = None  # monotonic time the last chunk arrived
        self.link_lost = link_lost
        self.markers: list[Marker] = []
        self.refused: list[tuple[str, str, str]] = []  # (kind, text, why) of markers not recorded

    def add_sink(self, fn: Sink) -> None:
        self._sinks.append(fn)

    def add_refusal_sink(self, fn: RefusalSink) -> None:
        """`fn(kind, text, why)` for each marker not recorded (the link was lost when it was pressed)."""
        self._refusal_sinks.append(fn)

    def _silent(self, now: float) -> bool:
        """No sample for longer than LINK_STALE_S (or the session says the link is lost)."""
        if self.link_lost is not None and self.link_lost():
            return True
        with self._lock:
            last = self._last_wall
        return last is not None and now - last > LINK_STALE_S

    def _refuse(self, kind: str, text: str, why: str) -> None:
        self.refused.append((kind, text, why))
        for fn in self._refusal_sinks:
            fn(kind, text, why)

    def mark(self, kind: str, text: str = "") -> str | None:
        """Queue a marker (`hold_start`, `hold_end`, `note`); it is timed and delivered with the next chunk.
        Returns None, or why it is not recorded (the link is lost: LINK_LOST_WHY)."""
        if kind not in WORDS:
            raise ValueError(f"unknown marker kind {kind!r}")
        if self._silent(self._clock()):
            self._refuse(kind, text, LINK_LOST_WHY)
            return LINK_LOST_WHY
        with self._lock:
            self._pending.append((kind, text))
        return None

    def on_samples(self, chunk: SampleChunk) -> None:
        if not len(chunk):
            return
        now = self._clock()
        with self._lock:
            pending, self._pending = self._pending, []
            last, self._last_wall = self._last_wall, now
        # the samples had stopped around the presses (a silence not yet noticed when they were pressed):
        # this chunk's first sample is from after the reconnection or the roller's backlog, not their time
        silent = last is not None and now - last > LINK_STALE_S
        t = float(chunk.t_s[0])
        for kind, text in pending:
            if silent:
                self._refuse(kind, text, LINK_LOST_WHY)
                continue
            self.markers.append(Marker(t, kind, text))
            for fn in self._sinks:
                fn(t, kind, text)


def describe(kind: str, text: str) -> str:
    return WORDS[kind] + (f": {text}" if text else "")


class KeyMarkers:
    """Reads single keys from a terminal in cbreak mode on a thread; restores the terminal on stop().

    Does nothing (never touches the stream) when it is not a TTY: CI and pipes have no keys.
    `echo(text)` shows what is typed for a note.
    """

    def __init__(self, board: MarkerBoard, stream: IO[str] | None = None, *,
                 echo: Callable[[str], None] | None = None) -> None:
        self.board = board
        self.stream = stream if stream is not None else sys.stdin
        self.echo = echo or (lambda s: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved: Any = None
        self._fd: int | None = None

    @property
    def active(self) -> bool:
        return self._thread is not None

    def start(self) -> "KeyMarkers":
        try:
            if not self.stream.isatty():
                return self
            fd = self.stream.fileno()
        except (AttributeError, ValueError, OSError):
            return self
        import termios
        import tty

        self._fd = fd
        self._saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)  # keys without Enter; Ctrl-C still interrupts (ISIG stays on)
        self._thread = threading.Thread(target=self._run, name="holdsense-keys", daemon=True)
        self._thread.start()
        return self

    def _read_key(self) -> str | None:
        r, _, _ = select.select([self._fd], [], [], 0.1)
        if not r:
            return None
        b = os.read(self._fd, 16)
        return b.decode("utf-8", "replace") if b else ""

    def _run(self) -> None:
        note: list[str] | None = None
        while not self._stop.is_set():
            try:
                keys = self._read_key()
            except OSError:
                return
            if keys is None:
                continue
            if keys == "":
                return  # terminal closed
            for ch in keys:
                if note is not None:
                    if ch in ("\r", "\n"):
                        text = "".join(note).strip()
                        note = None
                        if text:
                            self.board.mark("note", text)
                        self.echo("")
                    elif ch == "\x1b":
                        note = None
                        self.echo("")
                    elif ch in ("\x7f", "\b"):
                        note = note[:-1]
                        self.echo("note: " + "".join(note))
                    elif ch.isprintable():
                        note.append(ch)
                        self.echo("note: " + "".join(note))
                elif ch in START_KEYS:
                    self.board.mark("hold_start")
                elif ch in END_KEYS:
                    self.board.mark("hold_end")
                elif ch == NOTE_KEY:
                    note = []
                    self.echo("note: ")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
            self._thread = None
        if self._saved is not None and self._fd is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            except OSError:
                pass
            self._saved = None


class FileMarkers:
    """Markers from the lines of a file or FIFO (`--markers-from`), read on a thread until stop().

    A regular file is followed like `tail -f` (lines appended later count); a FIFO is read as lines
    arrive. One marker per line: `hold_start`, `hold_end`, `note TEXT` (blank lines and `#` ignored).
    """

    def __init__(self, board: MarkerBoard, path: str) -> None:
        self.board = board
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="holdsense-markers-file", daemon=True)

    def start(self) -> "FileMarkers":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            fh = open(self.path, encoding="utf-8", errors="replace")  # a FIFO blocks here until a writer opens
        except OSError as exc:
            print(f"holdsense: warning: --markers-from {self.path}: {exc.strerror or exc}", file=sys.stderr)
            return
        buf = ""
        with fh:
            while not self._stop.is_set():
                line = fh.readline()
                if not line:
                    time.sleep(0.05)
                    continue
                buf += line
                if not buf.endswith("\n"):
                    continue  # half a line: wait for the rest
                text, buf = buf.strip(), ""
                if not text or text.startswith("#"):
                    continue
                word, _, rest = text.partition(" ")
                if word.lower() == "note":
                    if rest.strip():
                        self.board.mark("note", rest.strip())
                    continue
                m = marker_from_word(text, 0.0)
                if m.kind == "note":
                    # kept (a typo must not lose the moment), but said: a mistyped 'hold_end' would
                    # otherwise leave the hold open in the labels without a word
                    print(f"holdsense: warning: --markers-from {self.path}: {text!r} is not hold_start, hold_end "
                          f"or note TEXT; kept as a note", file=sys.stderr)
                self.board.mark(m.kind, m.text)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(0.5)  # a FIFO nobody opened keeps it in open(): daemon thread, left behind


def add_marker_options(parser: Any) -> None:
    """`--markers-from FILE` and `--no-keys` (record, live)."""
    g = parser.add_argument_group("markers (ground truth while rolling, docs/contracts.md §1)")
    g.add_argument("--markers-from", metavar="FILE",
                   help="read markers from FILE or a FIFO, one per line: hold_start, hold_end, note TEXT "
                        "(on a terminal the keys h/[ e/] n work without it)")
    g.add_argument("--no-keys", action="store_true", help="do not read marker keys from the terminal")


def markers_wanted(args: Any, stdin: IO[str] | None = None) -> bool:
    """Markers are on with --markers-from, or when stdin is a terminal (unless --no-keys)."""
    if getattr(args, "markers_from", None):
        return True
    if getattr(args, "no_keys", False):
        return False
    s = stdin if stdin is not None else sys.stdin
    try:
        return bool(s is not None and s.isatty())
    except (AttributeError, ValueError):
        return False


class MarkerInputs:
    """The key reader and the markers file of one command, started and stopped together."""

    def __init__(self, board: MarkerBoard, args: Any, *, echo: Callable[[str], None] | None = None) -> None:
        self.keys = None if getattr(args, "no_keys", False) else KeyMarkers(board, echo=echo)
        self.file = FileMarkers(board, args.markers_from) if getattr(args, "markers_from", None) else None

    def start(self) -> "MarkerInputs":
        if self.keys is not None:
            self.keys.start()
        if self.file is not None:
            self.file.start()
        return self

    def stop(self) -> None:
        if self.keys is not None:
            self.keys.stop()
        if self.file is not None:
            self.file.stop()


def check_marker_options(args: Any) -> None:
    """--markers-from must name an existing file or FIFO (one line, exit 2 otherwise)."""
    from ..errors import UserError

    path = getattr(args, "markers_from", None)
    if path is None:
        return
    if not os.path.exists(path):
        raise UserError(f"--markers-from {path}: no such file or FIFO")
    if os.path.isdir(path):
        raise UserError(f"--markers-from {path}: is a directory")
