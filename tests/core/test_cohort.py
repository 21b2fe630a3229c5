"""The cohort runner: the Dask path returns what the serial path does, in order; errors name
the item; stopping the generator cancels the rest."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from headtwin_app.core.cohort import iter_map
from headtwin_app.core.recon.predict import run_to_end


def _work(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(64, 64))
    return {"seed": seed, "sum": float(np.linalg.svd(a, compute_uv=False).sum())}


_GATE = threading.Event()


def _blocked(x: int) -> int:
    """Runs until the test opens the gate (module level: Dask pickles what it runs)."""
    _GATE.wait(60)
    return x


def _fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def test_local_cluster_matches_serial_in_order() -> None:
    items = list(range(7))
    serial = run_to_end(iter_map(_work, items, "serial"))
    dask = run_to_end(iter_map(_work, items, None, workers=2))
    assert dask == serial
    assert [r["seed"] for r in dask] == items


def test_progress_reaches_one_per_item() -> None:
    gen = iter_map(_work, [1, 2, 3], None, workers=2, what="case", tick=None)
    seen = []
    while True:
        try:
            seen.append(next(gen))
        except StopIteration:
            break
    assert [p.fraction for p in seen] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert seen[-1].message == "case 3/3"


def test_error_names_the_item() -> None:
    with pytest.raises(ValueError, match=r"item 4 \(3\): three is not allowed"):
        run_to_end(iter_map(_fails_on_three, [0, 1, 2, 3, 4], None, workers=2))


def test_closing_the_generator_cancels_and_shuts_the_cluster() -> None:
    import threading

    before = threading.active_count()
    gen = iter_map(_work, list(range(40)), None, workers=2)
    next(gen)
    gen.close()  # what the GUI's Cancel does
    for _ in range(50):  # the local cluster's threads go away
        if threading.active_count() <= before + 1:
            break
        time.sleep(0.1)
    assert threading.active_count() <= before + 1


def test_cancel_while_long_items_run_returns_at_once() -> None:
    """The GUI's Cancel takes effect at the job's next yield: while every item runs long, the
    runner yields a heartbeat, and closing it does not wait for the running items (it used to
    wait in Dask's as_completed, then again in the cluster's close)."""
    _GATE.clear()
    gen = iter_map(_blocked, [1, 2, 3], None, workers=2, what="row", tick=0.1)
    beat = next(gen)  # nothing can finish before the gate opens: this is a heartbeat
    assert beat.fraction == 0.0 and beat.message == "row 0/3 done, 3 running"
    t0 = time.perf_counter()
    gen.close()  # what the GUI's Cancel does
    closed_in = time.perf_counter() - t0
    still_blocked = not _GATE.is_set()
    _GATE.set()  # let the worker threads finish in the background
    assert still_blocked and closed_in < 30  # returned while the items were still running


def _wait_for_idle_pools() -> None:
    """Until no local cluster holds the thread pools (a cancelled run of another test may still
    be closing in the background)."""
    from headtwin_app.core.cohort import _SHARED

    for _ in range(300):
        if _SHARED["users"] == 0:
            return
        time.sleep(0.1)


def test_overlapping_runs_put_the_thread_pools_back() -> None:
    """A cancelled run closes in the background; the next run may start before that: the
    pools must come back to the first run's settings, not to the one-thread share."""
    import torch

    from headtwin_app.core.cohort import _share_cores

    _wait_for_idle_pools()
    before = torch.get_num_threads()
    first = _share_cores(64)
    second = _share_cores(64)  # starts while the first still holds the pools
    first()
    assert torch.get_num_threads() == 1
    second()
    assert torch.get_num_threads() == before


def test_local_workers_share_the_cores_then_give_them_back() -> None:
    import SimpleITK as sitk
    import torch

    _wait_for_idle_pools()
    before = (torch.get_num_threads(), sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())
    seen = run_to_end(iter_map(lambda _: torch.get_num_threads(), [0, 1], None, workers=64))
    assert seen == [1, 1]  # 64 in-process workers: one thread each, not 64 × every core
    assert (torch.get_num_threads(), sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()) \
        == before


def test_in_process_workers_are_not_paused_by_the_apps_own_memory() -> None:
    """Thread workers measure the whole process: with Dask's default limit (RAM / workers) a
    big app (a GUI holding volumes) paused every worker and the run hung for ever (CI)."""
    import threading

    import psutil

    workers = 64
    # resident ballast above one default worker's pause threshold (80 % of RAM / workers)
    ballast = np.ones(int(psutil.virtual_memory().total / workers) // 8 + 1)
    box: dict[str, object] = {}

    def run() -> None:
        box["seen"] = run_to_end(iter_map(lambda x: x * 2, [1, 2, 3], None, workers=workers))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(90)
    assert not worker.is_alive(), "the in-process cluster stalled"
    assert box["seen"] == [2, 4, 6] and ballast[-1] == 1.0
