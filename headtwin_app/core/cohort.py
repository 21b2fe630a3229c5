"""Run one function over many items (cases, sweep rows) serially or on Dask distributed.

Dask's distributed scheduler is the existing engine for this (task graph, workers, futures,
cancellation, dashboards, remote clusters); we only map a picklable function over items.
Default: an in-process LocalCluster (threads, no extra processes, so no start-up cost and
nothing to pickle); `scheduler="tcp://host:8786"` uses a running cluster; `scheduler="serial"`
runs in this thread. The results come back in the items' order whichever path ran them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from headtwin_app.core.seg.backend import Progress

T = TypeVar("T")
SERIAL = "serial"


@dataclass(frozen=True)
class Outcome:
    """One finished item: its index in the input, and its result or the exception it raised."""

    index: int
    result: Any = None
    error: BaseException | None = None


def iter_completed(fn: Callable[[Any], Any], items: Sequence[Any], scheduler: str | None = None,
                   workers: int = 2, tick: float | None = None) -> Iterator[Outcome | None]:
    """Apply `fn` to every item and yield an `Outcome` as each finishes (in completion order;
    an item's exception is its outcome, the others go on). Stop iterating to cancel the rest.

    With `tick` (seconds) and Dask, `None` is yielded whenever nothing finished for that long,
    so a caller (a GUI job) gets to cancel while long items run; cancelling then returns at
    once and the items already running finish in the background, their results dropped
    (in-process workers are threads, which cannot be killed)."""
    items = list(items)
    if scheduler == SERIAL or not items:
        for i, item in enumerate(items):
            try:
                yield Outcome(i, fn(item))
            except Exception as exc:  # noqa: BLE001 - handed to the caller as the outcome
                yield Outcome(i, error=exc)
        return
    from distributed import Client, LocalCluster, as_completed

    _quiet_dask_logs()
    restore = None
    if scheduler:
        client = Client(scheduler, timeout="10s")
        cluster = None
    else:
        # memory_limit=0: thread workers measure the whole app process, so Dask's default
        # (RAM / workers) paused them all once the app held a few volumes, and the run hung
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                               memory_limit=0,
                               dashboard_address=":0")  # any free port: never a clash
        client = Client(cluster)
        restore = _share_cores(workers)
    futures = client.map(fn, items, pure=False)
    index = {f.key: i for i, f in enumerate(futures)}
    pending = as_completed(futures)
    try:
        while not pending.is_empty():
            if tick is not None and not _wait_ready(pending, tick):
                yield None
                continue
            future = next(pending)
            i = index[future.key]
            if future.status == "error":
                yield Outcome(i, error=future.exception())
            else:
                yield Outcome(i, future.result())
    finally:  # normal end, error, or the caller stopped iterating (cancel)
        running = not all(f.done() for f in futures)  # before cancel marks them all done
        client.cancel(futures)

        def close() -> None:
            client.close()
            if cluster is not None:
                cluster.close()  # waits for the items still running in its threads
            if restore is not None:
                restore()

        if running:  # cancelled mid-run: do not make the caller wait for the running items
            threading.Thread(target=close, name="dask-close", daemon=True).start()
        else:
            close()


def _wait_ready(pending: Any, tick: float) -> bool:
    """Whether a finished future is ready within `tick` seconds (polled every 20 ms)."""
    end = time.monotonic() + tick
    while not pending.has_ready():
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)
    return True


def iter_map(fn: Callable[[Any], T], items: Sequence[Any], scheduler: str | None = None,
             workers: int = 2, what: str = "item",
             tick: float | None = 0.5) -> Generator[Progress, None, list[T]]:
    """Apply `fn` to every item; yield `Progress` as each finishes, and every `tick` seconds
    while items run on Dask (stop iterating to cancel the rest: it returns at once), return the
    results in input order. An exception in `fn` cancels the rest and propagates, naming the
    item."""
    items = list(items)
    results: list[Any] = [None] * len(items)
    outcomes = iter_completed(fn, items, scheduler, workers, tick)
    done = 0
    try:
        for out in outcomes:
            if out is None:
                yield Progress("cohort", done / len(items),
                               f"{what} {done}/{len(items)} done, {len(items) - done} running")
                continue
            if out.error is not None:
                raise _named(out.error, f"{what} {out.index + 1} ({items[out.index]})")
            results[out.index] = out.result
            done += 1
            yield Progress("cohort", done / len(items), f"{what} {done}/{len(items)}")
    finally:
        outcomes.close()  # type: ignore[attr-defined]
    return results


_SHARED: dict[str, Any] = {"users": 0}  # local clusters holding the pools, what to put back
_SHARED_LOCK = threading.Lock()


def _share_cores(workers: int) -> Callable[[], None]:
    """In-process workers share torch's and SimpleITK's global thread pools: give each pool
    cores/workers threads while they run (measured on 2 cores: 4 twin-sweep rows in 77 s on
    two 1-thread workers against 90 s one after another on 2 threads), and return what puts
    them back. Counted, so a cancelled run still closing in the background while the next one
    starts cannot leave the pools at one thread (the last to finish restores the first's)."""
    import SimpleITK as sitk
    import torch

    share = max(1, (os.cpu_count() or 1) // max(workers, 1))
    with _SHARED_LOCK:
        if _SHARED["users"] == 0:
            _SHARED["before"] = (torch.get_num_threads(),
                                 sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())
        _SHARED["users"] += 1
        torch.set_num_threads(share)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(share)

    def restore() -> None:
        with _SHARED_LOCK:
            _SHARED["users"] -= 1
            if _SHARED["users"] == 0:
                torch_before, sitk_before = _SHARED["before"]
                torch.set_num_threads(torch_before)
                sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(sitk_before)

    return restore


class _ToWarningsLog(logging.Handler):
    """A logging handler writing to the app's warnings.log."""

    def emit(self, record: logging.LogRecord) -> None:
        from headtwin_app.core.errors import log_warning

        log_warning(f"{record.name}: {record.getMessage()}")


def _quiet_dask_logs() -> None:
    """Dask's own log lines (a cancelled task, a closing worker) go to the app's warnings log,
    not the terminal: what matters reaches the user as the job's result or one-line error."""
    for name in ("distributed", "tornado"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _ToWarningsLog) for h in logger.handlers):
            logger.handlers = [_ToWarningsLog()]
            logger.propagate = False


def _named(exc: BaseException, where: str) -> BaseException:
    """The same kind of error with the failing item named in its message (when it can be)."""
    try:
        named = type(exc)(f"{where}: {exc}")
    except Exception:  # noqa: BLE001 - an exception class with another constructor
        return exc
    named.__cause__ = exc
    return named
