"""Progress and cancellation for a tuning run that someone is watching (the web app's
progress bar and its cancel button; the CLI shows tqdm bars instead)."""

from __future__ import annotations

from collections.abc import Callable


class TuneCancelled(Exception):
    """Tuning was stopped from outside. No generation was written; the stages already
    finished stay in the work folder, so a rerun with the same options resumes."""


class Tracker:
    """Reports a run's progress as a fraction of the whole run and stops it when asked.

    The run is cut into stages, each a span of the whole (`stage`); inside one,
    `update(done, message)` says how much of it is done. Every update first asks
    `cancelled()` and raises TuneCancelled when it says so, which is why the long loops
    call it at every step, batch or question. Reported fractions never go back: a stage
    that finishes early jumps to its end, one that overruns waits at it.

    Args:
        report: `report(fraction, message)`, fraction 0..1 of the whole run.
        cancelled: polled at every update; True stops the run.
    """

    def __init__(self, report: Callable[[float, str], None] | None = None, cancelled: Callable[[], bool] | None = None):
        self._report = report
        self._cancelled = cancelled
        self._span = (0.0, 1.0)
        self.fraction = 0.0

    def stage(self, start: float, end: float, message: str) -> None:
        """Enter the part of the run from `start` to `end` (fractions of the whole)."""
        self._span = (start, max(start, end))
        self.update(0.0, message)

    def update(self, done: float, message: str) -> None:
        """`done` (0..1) of the current stage is finished; raises TuneCancelled when cancelled."""
        self.check()
        start, end = self._span
        self.fraction = min(1.0, max(self.fraction, start + (end - start) * min(max(done, 0.0), 1.0)))
        if self._report is not None:
            self._report(self.fraction, message)

    def finish(self, message: str) -> None:
        """Report the whole run done; no cancel is asked for, since nothing is left to stop."""
        self.fraction = 1.0
        if self._report is not None:
            self._report(1.0, message)

    def check(self) -> None:
        """Raise TuneCancelled when the run was cancelled."""
        if self._cancelled is not None and self._cancelled():
            raise TuneCancelled("tuning was cancelled; the collection is unchanged")


def plan(seconds: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Spans of the whole run for stages expected to take `seconds` each (in order)."""
    total = sum(max(s, 0.0) for s in seconds.values()) or 1.0
    spans, at = {}, 0.0
    for name, s in seconds.items():
        spans[name] = (at, at + max(s, 0.0) / total)
        at = spans[name][1]
    return spans
