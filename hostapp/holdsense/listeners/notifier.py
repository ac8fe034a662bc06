"""One receive loop fanning out to many listeners (python-can's Notifier shape).

A *source* is anything with `recv(timeout_s) -> list[Message] | None`: the
device client (`holdsense.link.device.Device`), the recording `Player`, later a
capture replayer. `None` means the stream has ended; an empty list means
"nothing yet". The `Notifier` runs that loop on a thread (serial) or as an
asyncio task (`run_async`, for BLE, whose source offers `async arecv`), and
hands every message to every listener in order: recorder, detector, live
view, LSL outlet... all see exactly the same stream.

A listener that raises is detached (its `stop()` still called) and the
error kept; the others keep receiving, so a display bug never costs the
recording. `stop()`/`join()` re-raise the first error once everything is
flushed.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any, Callable, Iterable

from rollsignal import SampleChunk

from ..messages import Gap, Info, Listener, Message, Samples, Source, Status, as_listener


def dispatch(listener: Listener, msg: Message) -> Any:
    """Deliver one message to one listener; returns what the callback returned (maybe a coroutine)."""
    if isinstance(msg, Samples):
        return listener.on_samples(msg.chunk)
    if isinstance(msg, Gap):
        return listener.on_gap(msg.t_s, msg.reason, msg.lost_samples)
    if isinstance(msg, Info):
        return listener.on_info(msg.info)
    if isinstance(msg, Status):
        return listener.on_status(msg.status)
    raise TypeError(f"not a message: {msg!r}")


class Notifier:
    """Runs `source.recv()` in a loop and fans each message out to the listeners.

    `Notifier(source, listeners)` starts a daemon thread at once (like
    python-can); pass `start=False` and call `run()` to loop in the calling
    thread instead (replay, tests), or `await run_async()` on an event loop.
    """

    def __init__(self, source: Source, listeners: Iterable[Listener | Callable[[SampleChunk], Any]] = (), *,
                 timeout_s: float = 0.1, start: bool = True, name: str = "holdsense-notifier") -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.listeners: list[Listener] = [as_listener(x) for x in listeners]
        self.errors: list[BaseException] = []
        self.messages = 0
        self.ended = False  # the source said end of stream
        self._stop_requested = threading.Event()
        self._done = threading.Event()
        self._lock = threading.RLock()
        self._stopped_listeners = False
        self._thread: threading.Thread | None = None
        self._name = name
        if start:
            self.start()

    # -- listeners ----------------------------------------------------------------------------
    def add_listener(self, listener: Listener | Callable[[SampleChunk], Any]) -> Listener:
        lst = as_listener(listener)
        with self._lock:
            self.listeners.append(lst)
        return lst

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self.listeners.remove(listener)

    # -- running ------------------------------------------------------------------------------
    def start(self) -> None:
        """Run the receive loop on a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("notifier already started")
        self._thread = threading.Thread(target=self.run, name=self._name, daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def run(self) -> None:
        """The receive loop, in the calling thread, until end of stream, `stop()` or a source error."""
        try:
            while not self._stop_requested.is_set():
                try:
                    msgs = self.source.recv(self.timeout_s)
                except BaseException as exc:  # noqa: BLE001 - the source failed: keep it for join()
                    self.errors.append(exc)
                    break
                if msgs is None:
                    self.ended = True
                    break
                for msg in msgs:
                    self._deliver(msg)
        finally:
            self._finish()

    def _deliver(self, msg: Message) -> list[tuple[Listener, Any]]:
        self.messages += 1
        results = []
        with self._lock:
            current = list(self.listeners)
        for lst in current:
            try:
                results.append((lst, dispatch(lst, msg)))
            except Exception as exc:  # noqa: BLE001 - detach the faulty listener, keep the others
                self._detach(lst, exc)
        return results

    def _detach(self, lst: Listener, exc: BaseException) -> None:
        self.errors.append(exc)
        with self._lock:
            if lst in self.listeners:
                self.listeners.remove(lst)
        try:
            lst.stop()
        except Exception as exc2:  # noqa: BLE001
            self.errors.append(exc2)

    def _finish(self) -> None:
        with self._lock:
            if self._stopped_listeners:
                return
            self._stopped_listeners = True
            current = list(self.listeners)
        for lst in current:  # each listener's stop() exactly once: recorder flushes, detector finishes
            try:
                lst.stop()
            except Exception as exc:  # noqa: BLE001
                self.errors.append(exc)
        self._done.set()

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for the loop to end (end of stream or stop); True if it ended. Re-raises the first error."""
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        finished = self._done.wait(0 if self._thread is not None else timeout_s)
        if finished:
            self.raise_errors()
        return finished

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the loop to stop, wait for it, stop every listener once; re-raise the first error."""
        self._stop_requested.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        if self._thread is None:
            self._finish()  # never ran (or ran in the caller): listeners still get stop()
        self.raise_errors()

    def raise_errors(self) -> None:
        if self.errors:
            raise self.errors[0]

    # -- asyncio path (BLE) -------------------------------------------------------------------
    async def run_async(self) -> None:
        """The receive loop as a coroutine: awaits `source.arecv(timeout_s)` when the source has it
        (bleak delivers notifications on the event loop), else runs `recv` in an executor.
        Coroutine listener callbacks are awaited in order, so listeners see messages in order."""
        loop = asyncio.get_running_loop()
        arecv = getattr(self.source, "arecv", None)
        try:
            while not self._stop_requested.is_set():
                try:
                    if arecv is not None:
                        msgs = await arecv(self.timeout_s)
                    else:
                        msgs = await loop.run_in_executor(None, self.source.recv, self.timeout_s)
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(exc)
                    break
                if msgs is None:
                    self.ended = True
                    break
                for msg in msgs:
                    for lst, res in self._deliver(msg):
                        if inspect.isawaitable(res):
                            try:
                                await res
                            except Exception as exc:  # noqa: BLE001
                                self._detach(lst, exc)
        finally:
            self._finish()
