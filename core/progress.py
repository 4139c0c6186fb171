"""Progress reporting and cancellation for long-running core functions."""


class Cancelled(Exception):
    """Raised when the caller asked to stop; partial results must be discarded."""


class Progress:
    """Reports progress (0–100 %) and checks for cancellation between steps.

    ``report(percent, message)`` and ``is_cancelled()`` are optional callables supplied by the caller (for example
    a QGIS feedback object); without them this object does nothing. ``span(start, end)`` gives a child whose
    0–100 % maps onto ``start``–``end`` of this one, so nested steps can report their own progress.
    """

    def __init__(self, report=None, is_cancelled=None, start=0.0, end=100.0):
        self._report = report
        self._is_cancelled = is_cancelled
        self._start = start
        self._end = end

    def step(self, percent, message=None):
        """Report ``percent`` (0–100 of this span) and raise :class:`Cancelled` if the caller asked to stop."""
        self.check()
        if self._report is not None:
            self._report(self._start + (self._end - self._start) * percent / 100.0, message)

    def check(self):
        """Raise :class:`Cancelled` if the caller asked to stop."""
        if self._is_cancelled is not None and self._is_cancelled():
            raise Cancelled()

    def span(self, start, end):
        """A child progress covering ``start``–``end`` percent of this one."""
        width = self._end - self._start
        return Progress(self._report, self._is_cancelled,
                        self._start + width * start / 100.0, self._start + width * end / 100.0)


NO_PROGRESS = Progress()
