"""Spread a per-file job over the machine's cores, one result (or one error) per file, in input order.

Used by `holdsense analyze --jobs N` (and `holdsense evaluate`): analysing a
folder of recordings is embarrassingly parallel, and a batch must never lose
its good files because one file broke. `map_files(fn, paths)` calls
`fn(path)` for every path in worker processes and yields `(path, outcome)`
in the order the paths were given, where `outcome` is what `fn` returned or
the exception it raised (an exception is a value here, not a stop).

- `fn` must be picklable: a module-level function (not in `__main__`: workers import its module; a
  main script must be guarded by `if __name__ == "__main__"`), or a `functools.partial`
  of one with picklable arguments. Results and exceptions travel back
  pickled, so they must be picklable too (dicts, numbers, strings, UserError).
- `jobs=None` uses every core this process may run on; `jobs=1` (or a single
  path) runs in this process, with no worker at all, so a one-file call costs
  nothing extra and is trivially identical to the parallel one.
- A file that kills its worker (a crash in C code, the OOM killer, os._exit)
  does not stop the batch: the pool is rebuilt, every file that was in flight
  is retried alone in a fresh worker, and the one that kills it again gets a
  `WorkerCrashed` outcome. The others get their normal results.
- Workers start from a fork server (Unix) that has already imported `fn`'s
  module and its numpy/scipy, so starting N workers costs about one import,
  and no worker is forked from a process with threads running.
"""
from __future__ import annotations

import os
import signal
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

# multiprocessing and concurrent.futures are imported where a pool is made: a one-file (or --jobs 1) run,
# which calls `fn` in this process, does not pay for them.
if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

P = TypeVar("P")

# Files handed to the pool ahead of the one being waited for, per worker: enough to keep every core busy
# while results are yielded in input order, few enough that a worker crash has few suspects to retry.
LOOKAHEAD_PER_JOB = 2


# Worker deaths in a row, before any worker ever returned, after which workers are taken to be unable to start
# at all (an unguarded main script, a broken install): map_files then stops instead of retrying every file alone.
DEAD_START_LIMIT = 3


class WorkerCrashed(RuntimeError):
    """The worker process died (not an exception: a signal, os._exit, out of memory) while on this file."""


class WorkersCannotStart(RuntimeError):
    """Every worker process died before returning anything: parallel runs cannot work here (use jobs=1)."""


def available_cores() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def resolve_jobs(jobs: int | None, n_items: int | None = None) -> int:
    """The number of worker processes for `jobs` (None or 0: all cores), never more than there are items."""
    n = available_cores() if not jobs else int(jobs)
    if n < 1:
        raise ValueError(f"jobs must be >= 1 (or None for all cores), got {jobs}")
    if n_items is not None:
        n = min(n, max(1, n_items))
    return n


def map_files(fn: Callable[[P], Any], paths: Iterable[P], jobs: int | None = None, *,
              preload: Iterable[str] = ()) -> Iterator[tuple[P, Any]]:
    """Yield `(path, fn(path) or the exception it raised)` for every path, in input order.

    `paths` are passed to `fn` exactly as given (a str stays the same str, so
    a "source" field built from it matches a single-process run). Exceptions
    derived from `Exception` become outcomes; KeyboardInterrupt and SystemExit
    still stop the batch (the pool is shut down on the way out).
    `preload`: modules `fn` imports lazily (scipy through rollsignal: ~2 s of CPU
    per process), imported once in the fork server instead of in every worker.
    """
    items = list(paths)
    n = resolve_jobs(jobs, len(items))
    if n <= 1:
        for p in items:
            yield p, _call(fn, p)
        return
    yield from _map_pool(fn, items, n, tuple(preload))


def _call(fn: Callable[[P], Any], p: P) -> Any:
    try:
        return fn(p)
    except Exception as exc:  # an outcome, not a stop: the batch goes on with the next file
        return exc


def _context() -> Any:
    """A fork server where the OS has one (fast worker start, no fork of a threaded process); else spawn."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _set_preload(ctx: Any, fn: Callable[..., Any], preload: tuple[str, ...]) -> None:
    # Import the worker's module (and so numpy/rollsignal) once in the fork server, not per worker.
    # (The fork server starts with the first pool; later preload lists only apply to a new server.)
    mod = getattr(getattr(fn, "func", fn), "__module__", None)
    ctx.set_forkserver_preload([m for m in (mod, *preload) if m and m != "__main__"])


def prestart(fn: Callable[..., Any], preload: Iterable[str] = ()) -> None:
    """Start the fork server now, so its imports (`fn`'s module, `preload`) run on another core while this
    process is still importing and listing files; `map_files` then forks workers from it without waiting.
    Call it only when a pool is likely (several files, jobs != 1): otherwise it is a wasted process start.
    No effect where there is no fork server."""
    ctx = _context()
    if ctx.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    _set_preload(ctx, fn, tuple(preload))
    forkserver.ensure_running()


def _new_pool(fn: Callable[..., Any], n: int, preload: tuple[str, ...] = ()) -> ProcessPoolExecutor:
    from concurrent.futures import ProcessPoolExecutor

    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        _set_preload(ctx, fn, preload)
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=_worker_init)


def _worker_init() -> None:
    """Workers leave Ctrl-C to the parent (which stops them): no traceback per worker on the terminal."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Leave now (Ctrl-C, the consumer stopped reading): cancel what is queued and end the running workers
    instead of waiting for files nobody will read."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # (no public API to end running work)
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(5)


_BROKEN = object()


def _settled(fut: Future) -> Any:
    """A finished future's outcome, or _BROKEN when the pool died under it (or it never finished)."""
    from concurrent.futures.process import BrokenProcessPool

    if not fut.done() or fut.cancelled():
        return _BROKEN
    exc = fut.exception()
    if isinstance(exc, BrokenProcessPool):
        return _BROKEN
    return exc if exc is not None else fut.result()


def _run_isolated(fn: Callable[[P], Any], p: P, preload: tuple[str, ...] = ()) -> Any:
    """Run one suspect file alone in a fresh worker: its outcome, or WorkerCrashed if it kills that one too."""
    from concurrent.futures.process import BrokenProcessPool

    with _new_pool(fn, 1, preload) as pool:
        fut = pool.submit(fn, p)
        try:
            return fut.result()
        except BrokenProcessPool:
            return WorkerCrashed("the worker process died while analysing this file "
                                 "(a crash, out of memory, or killed)")
        except Exception as exc:
            return exc


def _map_pool(fn: Callable[[P], Any], items: list[P], n: int, preload: tuple[str, ...]) -> Iterator[tuple[P, Any]]:
    from concurrent.futures.process import BrokenProcessPool

    todo = deque(items)
    window: deque[tuple[P, Future | None]] = deque()  # None: not handed to a worker (the pool broke first)
    pool = _new_pool(fn, n, preload)
    finished = False
    answered = False  # some worker has returned something: workers can start here
    dead_in_a_row = 0
    try:
        while todo or window:
            broken = False
            while todo and len(window) < n * LOOKAHEAD_PER_JOB:
                p = todo.popleft()
                try:
                    window.append((p, pool.submit(fn, p)))
                except BrokenProcessPool:
                    window.append((p, None))
                    broken = True
                    break
            p, fut = window[0]
            if not broken:
                try:
                    outcome = fut.result() if fut is not None else None
                except BrokenProcessPool:
                    broken = True
                except Exception as exc:
                    outcome = exc
            if not broken:
                window.popleft()
                answered = True
                yield p, outcome
                continue
            # A worker died: every unfinished file in the window failed with it, guilty or not.
            # Keep what finished, retry each of the others alone, then go on with a new pool.
            pool.shutdown(wait=True, cancel_futures=True)
            suspects = list(window)
            window.clear()
            for q, f in suspects:
                got = _settled(f) if f is not None else _BROKEN
                if got is _BROKEN:
                    got = _run_isolated(fn, q, preload)
                    if isinstance(got, WorkerCrashed):
                        dead_in_a_row += 1
                        if not answered and dead_in_a_row >= DEAD_START_LIMIT:
                            raise WorkersCannotStart(
                                f"{dead_in_a_row} worker processes died before any returned a result (is the main "
                                "script guarded by if __name__ == '__main__'?): run with one job") from None
                    else:
                        answered = True
                        dead_in_a_row = 0
                else:
                    answered = True
                yield q, got
            pool = _new_pool(fn, n, preload)
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop(pool)
