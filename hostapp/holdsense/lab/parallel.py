"""Spread a per-file job over the machine's cores, one result (or one error) per file, in input order.

Used by `holdsense analyze --jobs N` (and `holdsense evaluate`): analysing a
folder of recordings is embarrassingly parallel, and a batch must never lose
its good files because one file broke. `map_files(fn, paths)` calls
`fn(path)` for every path in worker processes and yields `(path, outcome)`
in the order the paths were given, where `outcome` is what `fn` returned or
the exception it raised (an exception is a value here, not a stop).

- `fn` must be picklable: a module-level function, or a `functools.partial`
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

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, TypeVar

P = TypeVar("P")

# Files handed to the pool ahead of the one being waited for, per worker: enough to keep every core busy
# while results are yielded in input order, few enough that a worker crash has few suspects to retry.
LOOKAHEAD_PER_JOB = 2


class WorkerCrashed(RuntimeError):
    """The worker process died (not an exception: a signal, os._exit, out of memory) while on this file."""


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


def map_files(fn: Callable[[P], Any], paths: Iterable[P], jobs: int | None = None) -> Iterator[tuple[P, Any]]:
    """Yield `(path, fn(path) or the exception it raised)` for every path, in input order.

    `paths` are passed to `fn` exactly as given (a str stays the same str, so
    a "source" field built from it matches a single-process run). Exceptions
    derived from `Exception` become outcomes; KeyboardInterrupt and SystemExit
    still stop the batch (the pool is shut down on the way out).
    """
    items = list(paths)
    n = resolve_jobs(jobs, len(items))
    if n <= 1:
        for p in items:
            yield p, _call(fn, p)
        return
    yield from _map_pool(fn, items, n)


def _call(fn: Callable[[P], Any], p: P) -> Any:
    try:
        return fn(p)
    except Exception as exc:  # an outcome, not a stop: the batch goes on with the next file
        return exc


def _context() -> Any:
    """A fork server where the OS has one (fast worker start, no fork of a threaded process); else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _new_pool(fn: Callable[..., Any], n: int) -> ProcessPoolExecutor:
    ctx = _context()
    if ctx.get_start_method() == "forkserver":
        # Import the worker's module (and so numpy/scipy/rollsignal) once in the fork server, not per worker.
        mod = getattr(getattr(fn, "func", fn), "__module__", None)
        if mod and mod != "__main__":
            ctx.set_forkserver_preload([mod])
    return ProcessPoolExecutor(max_workers=n, mp_context=ctx)


_BROKEN = object()


def _settled(fut: Future) -> Any:
    """A finished future's outcome, or _BROKEN when the pool died under it (or it never finished)."""
    if not fut.done() or fut.cancelled():
        return _BROKEN
    exc = fut.exception()
    if isinstance(exc, BrokenProcessPool):
        return _BROKEN
    return exc if exc is not None else fut.result()


def _run_isolated(fn: Callable[[P], Any], p: P) -> Any:
    """Run one suspect file alone in a fresh worker: its outcome, or WorkerCrashed if it kills that one too."""
    with _new_pool(fn, 1) as pool:
        fut = pool.submit(fn, p)
        try:
            return fut.result()
        except BrokenProcessPool:
            return WorkerCrashed("the worker process died while analysing this file "
                                 "(a crash, out of memory, or killed)")
        except Exception as exc:
            return exc


def _map_pool(fn: Callable[[P], Any], items: list[P], n: int) -> Iterator[tuple[P, Any]]:
    todo = deque(items)
    window: deque[tuple[P, Future | None]] = deque()  # None: not handed to a worker (the pool broke first)
    pool = _new_pool(fn, n)
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
                yield p, outcome
                continue
            # A worker died: every unfinished file in the window failed with it, guilty or not.
            # Keep what finished, retry each of the others alone, then go on with a new pool.
            pool.shutdown(wait=True, cancel_futures=True)
            suspects = list(window)
            window.clear()
            for q, f in suspects:
                got = _settled(f) if f is not None else _BROKEN
                yield q, (_run_isolated(fn, q) if got is _BROKEN else got)
            pool = _new_pool(fn, n)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
