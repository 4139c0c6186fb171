"""Run independent window tasks on both cores: GDAL reads and numpy release the GIL, so threads pay off."""
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

#: Worker threads (the machines this targets have 2 cores); 1 runs everything in the calling thread.
WORKERS = max(1, min(2, os.cpu_count() or 1))


class ThreadBands:
    """Gives each thread its own handle on a band source (GDAL datasets must not be shared between threads)."""

    def __init__(self, bands):
        self.bands = bands
        self.local = threading.local()

    def get(self):
        if not hasattr(self.local, "bands"):
            clone = getattr(self.bands, "clone", None)
            self.local.bands = clone() if clone else self.bands
        return self.local.bands


def map_in_threads(function, items, progress, workers=None):
    """``function(item)`` for every item, on ``workers`` threads, results in item order.

    ``progress.check()`` is called as results come in: a cancel stops new tasks from starting (running ones
    finish) and raises :class:`~.progress.Cancelled`. Progress moves as tasks complete.
    """
    items = list(items)
    workers = WORKERS if workers is None else workers

    def task(item):
        progress.check()  # a task that starts after a cancel does nothing
        return function(item)

    if workers <= 1 or len(items) <= 1:
        results = []
        for done, item in enumerate(items):
            progress.step(100.0 * done / max(len(items), 1))
            results.append(function(item))
        return results
    results = [None] * len(items)
    pending = iter(enumerate(items))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = {}
        for _ in range(2 * workers):
            position, item = next(pending, (None, None))
            if position is None:
                break
            running[pool.submit(task, item)] = position
        done_count = 0
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                results[running.pop(future)] = future.result()
                done_count += 1
            try:
                progress.step(100.0 * done_count / len(items))
            except BaseException:
                for future in running:
                    future.cancel()
                raise
            for _ in finished:
                position, item = next(pending, (None, None))
                if position is not None:
                    running[pool.submit(task, item)] = position
    return results
