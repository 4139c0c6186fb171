"""Where region jobs run: in this process, in local worker processes, or on a ``dask.distributed`` cluster.

Local workers are fresh Python interpreters (QGIS's own, one per job, the job and its result pickled through its
stdin and stdout); Dask workers are the cluster's. Both import this plugin under its own package name from its folder (see
:func:`package_bootstrap`), so it works from whatever folder QGIS loaded it, and on a cluster when every worker
sees the plugin folder at the same path.
"""
import os
import pickle
import subprocess
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from ..core.progress import Cancelled

#: Seconds between two looks at the cancel button while jobs run.
POLL_SECONDS = 0.2

_BOOTSTRAP = """
import importlib.util, os, sys
name, root = %r, %r
if name not in sys.modules:
    if not os.path.exists(os.path.join(root, "__init__.py")):
        raise ImportError("the plugin folder %%s is not on this machine" %% root)
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, "__init__.py"),
                                                  submodule_search_locations=[root])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
"""


class EngineError(Exception):
    """The engine cannot run: ``parameter`` names the setting to change."""

    def __init__(self, parameter, message):
        super().__init__(message)
        self.parameter = parameter


def plugin_root():
    """The folder of this plugin."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_bootstrap():
    """Python source that imports this plugin in a fresh interpreter under the package name it has here."""
    return _BOOTSTRAP % (__name__.split(".")[0], plugin_root())


def python_interpreter():
    """The Python interpreter QGIS runs on, or None. Inside QGIS ``sys.executable`` may be the QGIS program or
    another ``python3`` found on PATH, so the interpreter beside QGIS's own library (``sys.exec_prefix``) comes
    first."""
    version = "python%d.%d" % sys.version_info[:2]
    for candidate in (os.path.join(sys.exec_prefix, "bin", version), os.path.join(sys.exec_prefix, "bin", "python3"),
                      sys.executable):
        if candidate and os.path.basename(candidate).startswith("python") and os.access(candidate, os.X_OK):
            return candidate
    return None


def run_jobs(jobs, run, workers, scheduler, on_result, is_cancelled, progress_of=None):
    """Run ``run(job)`` for every job and pass each result to ``on_result`` in this process as it comes: here
    (``workers`` 1), in ``workers`` local processes, or on the Dask scheduler at address ``scheduler``. When
    ``is_cancelled()`` no new job starts and jobs under way are stopped (local processes killed, Dask futures
    cancelled; their tiles are redone on a resume). Jobs run here get ``progress_of(job)`` (a core ``Progress``
    that reports within the job and raises ``Cancelled``) when it is given. Returns False when cancelled. Raises
    :class:`EngineError` when the engine cannot start."""
    jobs = list(jobs)
    if scheduler:
        return _run_on_dask(jobs, run, scheduler, on_result, is_cancelled)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            if is_cancelled():
                return False
            try:
                on_result(run(job, progress_of(job)) if progress_of else run(job))
            except Cancelled:
                return False
        return True
    return _run_in_processes(jobs, run, workers, on_result, is_cancelled)


_WORKER = """
import pickle, sys
%s
run, job = pickle.load(sys.stdin.buffer)
out, sys.stdout = sys.stdout.buffer, sys.stderr  # the result alone goes to stdout
pickle.dump(run(job), out, protocol=pickle.HIGHEST_PROTOCOL)
out.flush()
"""


def _run_in_process(interpreter, run, job, processes):
    """``run(job)`` in a fresh worker process (kept in ``processes`` while it runs): its result, or
    ``job.failure(message)`` when the process dies. The job goes to the worker on its stdin and the result comes
    back on its stdout: no file is left behind, even when this process is killed."""
    process = subprocess.Popen([interpreter, "-c", _WORKER % package_bootstrap()], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    processes.add(process)
    try:
        output, errors = process.communicate(pickle.dumps((run, job), protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        processes.discard(process)
    if process.returncode != 0 or not output:
        tail = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return job.failure("the worker process ended with code %s %s" % (process.returncode, tail[0]))
    return pickle.loads(output)


def _run_in_processes(jobs, run, workers, on_result, is_cancelled):
    interpreter = python_interpreter()
    if interpreter is None:
        raise EngineError("WORKERS", "no Python interpreter was found for worker processes beside %s; set WORKERS "
                                     "to 1." % sys.executable)
    pending, processes = list(reversed(jobs)), set()
    workers = max(1, min(workers, len(jobs)))  # no more processes than jobs
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running = set()
        while pending or running:
            while pending and len(running) < workers and not is_cancelled():
                running.add(pool.submit(_run_in_process, interpreter, run, pending.pop(), processes))
            if is_cancelled():
                for process in list(processes):
                    process.kill()  # their tiles are redone on a resume
                wait(running)
                return False
            finished, running = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                on_result(future.result())
    return True


def _dask_client(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise EngineError("DASK_SCHEDULER", "dask.distributed is not installed in QGIS's Python. Install it (python3 "
                                            "-m pip install \"dask[distributed]\", keeping QGIS's numpy) or leave "
                                            "DASK_SCHEDULER empty to use local processes.")
    try:
        return Client(scheduler, timeout=10)
    except Exception as error:  # noqa: BLE001 (distributed raises many kinds: OSError, TypeError for tls:// …)
        hint = (" A tls:// scheduler needs a dask Security configuration (certificates); use tcp:// on a trusted "
                "network." if scheduler.startswith("tls://") else "")
        raise EngineError("DASK_SCHEDULER", "no Dask scheduler answers at '%s' (%s: %s). Start one with `dask "
                                            "scheduler` and its workers with `dask worker ADDRESS`.%s" % (
                                                scheduler, type(error).__name__, error, hint))


class _Call:
    """``run(job)``, pickled so that unpickling it runs it (``pickle.loads`` of its bytes returns the result)."""

    def __init__(self, run, job):
        self.run, self.job = run, job

    def __reduce__(self):
        return self.run, (self.job,)


def sealed_call(run, job):
    """``run(job)`` as bytes for a Dask task ``pickle.loads(bytes)``: the scheduler passes the bytes on without
    unpickling them (it does not have the plugin; the workers import it, see :func:`package_bootstrap`), and the
    worker's ``pickle.loads`` runs the job."""
    return pickle.dumps(_Call(run, job), protocol=pickle.HIGHEST_PROTOCOL)


def _run_on_dask(jobs, run, scheduler, on_result, is_cancelled):
    client = _dask_client(scheduler)
    try:
        try:
            client.run(exec, package_bootstrap(), {})
        except ImportError as error:
            raise EngineError("DASK_SCHEDULER", "the Dask workers cannot import the plugin: %s. Give every worker "
                                                "the plugin folder at the same path (a shared folder)." % error)
        running = [client.submit(pickle.loads, sealed_call(run, job), pure=False, key="fusionpv-" + job.key)
                   for job in jobs]
        while running:
            for future in [future for future in running if future.done()]:
                running.remove(future)
                on_result(future.result())
            if is_cancelled():
                client.cancel(running)  # jobs under way are dropped too: their tiles are redone on a resume
                return False
            time.sleep(POLL_SECONDS if running else 0)
    finally:
        client.close()
    return True
