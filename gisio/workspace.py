"""Temporary folders of a run: made only when something is written to them, removed when the run ends, and those
of runs that were killed (their process is gone) removed when the next run starts."""
import os
import re
import shutil
import tempfile

#: Names of the plugin's temporary folders in TMPDIR: the prefix, the process id, what the folder is for.
PREFIX = "fusionpv-work-"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-")


class WorkFolder:
    """A temporary folder made on first use: ``os.fspath`` (``os.path.join`` and the like) makes it. A ``with``
    block removes it at its end; entering one also removes the folders left by killed runs."""

    def __init__(self, kind):
        self.kind = kind
        self.path = None

    def __fspath__(self):
        if self.path is None:
            self.path = tempfile.mkdtemp(prefix="%s%d-%s-" % (PREFIX, os.getpid(), self.kind))
        return self.path

    def __enter__(self):
        remove_folders_of_killed_runs()
        return self

    def __exit__(self, *exc):
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
        return False


def remove_folders_of_killed_runs(folder=None):
    """Remove the plugin's temporary folders in ``folder`` (TMPDIR) whose process no longer runs."""
    folder = folder or tempfile.gettempdir()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        found = _NAME.match(name)
        if found and not process_runs(int(found.group(1))):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)


def process_runs(pid):
    """True when a process ``pid`` runs (or may: one of another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
