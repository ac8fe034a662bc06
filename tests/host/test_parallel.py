"""holdsense.lab.parallel.map_files: per-file outcomes in input order, over real worker processes.

The worker functions live in a real module written to tmp_path (the workers
import it by name, as they import holdsense's own): one that returns its
process id and input, one that raises for some inputs, one that kills its
own worker process for one input.
"""
from __future__ import annotations

import importlib
import os
import sys
import textwrap
from pathlib import Path

import pytest

from holdsense.errors import UserError
from holdsense.lab.parallel import WorkerCrashed, map_files, resolve_jobs

WORKERS = '''
import os
from holdsense.errors import UserError

def echo(p):
    return {"pid": os.getpid(), "p": p, "len": len(str(p))}

def picky(p):
    if str(p).endswith("bad"):
        raise UserError(f"{p}: not a recording")
    if str(p).endswith("bug"):
        raise ZeroDivisionError("division by zero")
    return str(p).upper()

def crashy(p):
    if str(p).endswith("crash"):
        os._exit(7)  # dies like a segfault in C code would: no exception, no result
    return str(p).upper()
'''


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory):
    d = tmp_path_factory.mktemp("workers")
    (d / "hs_parallel_workers.py").write_text(textwrap.dedent(WORKERS))
    sys.path.insert(0, str(d))
    try:
        yield importlib.import_module("hs_parallel_workers")
    finally:
        sys.path.remove(str(d))
        sys.modules.pop("hs_parallel_workers", None)


def test_input_order_and_outcomes_equal_in_process(workers) -> None:
    paths = [f"f{i:02d}" for i in range(9)] + ["x.bad", "y.bug", "z"]
    par = list(map_files(workers.picky, paths, jobs=2))
    seq = list(map_files(workers.picky, paths, jobs=1))
    assert [p for p, _ in par] == paths == [p for p, _ in seq]
    for (_, a), (_, b) in zip(par, seq):
        assert type(a) is type(b) and str(a) == str(b)
    out = dict(par)
    assert isinstance(out["x.bad"], UserError) and "not a recording" in str(out["x.bad"])
    assert isinstance(out["y.bug"], ZeroDivisionError)
    assert out["z"] == "Z"


def test_paths_passed_unchanged_and_work_spread_over_processes(workers) -> None:
    paths = ["./a.csv", Path("b.csv"), "c/../d.csv"] * 4
    got = list(map_files(workers.echo, paths, jobs=2))
    assert [r["p"] for _, r in got] == paths  # "./a.csv" is not normalised: the source field stays as given
    pids = {r["pid"] for _, r in got}
    assert os.getpid() not in pids and len(pids) >= 1
    inproc = list(map_files(workers.echo, paths[:2], jobs=1))
    assert {r["pid"] for _, r in inproc} == {os.getpid()}


def test_worker_crash_is_one_entry_and_the_batch_goes_on(workers) -> None:
    paths = [f"g{i}" for i in range(6)] + ["h.crash"] + [f"k{i}" for i in range(6)]
    got = list(map_files(workers.crashy, paths, jobs=2))
    assert [p for p, _ in got] == paths
    crashed = [p for p, r in got if isinstance(r, WorkerCrashed)]
    assert crashed == ["h.crash"]
    assert all(r == str(p).upper() for p, r in got if p != "h.crash")


def test_resolve_jobs() -> None:
    assert resolve_jobs(1) == 1
    assert resolve_jobs(8, 3) == 3
    assert resolve_jobs(None, 1000) >= 1
    assert resolve_jobs(4, 0) == 1
    with pytest.raises(ValueError):
        resolve_jobs(-2)
