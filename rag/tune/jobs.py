"""Tuning in the background, for the web app: a thread per index folder runs
`rag.tune.stages.tune_index` while the app keeps answering.

Searches are never blocked and never see a half-tuned collection: they read the live
generation, and a tuned one replaces it by rename only once it is complete (ingest.index).
A cancelled job writes nothing; what its finished stages left in the work folder is
picked up by the next job with the same options.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ingest.errors import IngestError
from ingest.models import ModelUnavailableError
from ingest.settings import Settings

from . import stages
from .heldout import verdict
from .progress import TuneCancelled
from .stages import TuneOptions, check_size

log = logging.getLogger(__name__)

STATES = ("ready", "running", "done", "cancelled", "failed")
FINISHED = ("done", "cancelled", "failed")

_jobs: dict[Path, TuneJob] = {}  # folder -> the job tuning it now
_jobs_lock = threading.Lock()


class TuneJob:
    """One background tuning run of one index folder.

    Read from any thread:
        state: "ready" until `start()`, "running", then "done", "cancelled" or "failed".
        fraction, message: the latest progress, 0..1 of the whole run and what it is doing
            ("training the encoder, step 40 of 120").
        error: why it failed or stopped ("" otherwise), in words for the user.
        report: the run's report once "done" (rag.tune.stages.run); `verdict` says it in words.

    Args:
        folder: the index folder (a collection) to tune.
        settings: as for answering; the collection's own tuned models are used where
            the settings leave the choice open (rag.pipeline.collection_settings).
        options: among them the time budget: TuneOptions(time_budget_s=60 * minutes).
        pairs: a JSONL file of judged pairs (rag.tune.triples.judged_from_jsonl).
        generator: writes the training questions; default: the LLM `settings` name.
    """

    def __init__(self, folder: str | Path, settings: Settings, options: TuneOptions | None = None, *, pairs: str | None = None, generator=None):
        self.folder = Path(folder)
        self.settings = settings
        self.options = options or TuneOptions()
        self.pairs = pairs
        self.generator = generator
        self.state = "ready"
        self.error = ""
        self.report: dict | None = None
        self.started: float | None = None  # time.monotonic() at start
        self._progress = (0.0, "")
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fraction(self) -> float:
        return self._progress[0]

    @property
    def message(self) -> str:
        return self._progress[1]

    @property
    def verdict(self) -> str:
        """The held-out check's verdict in words ("" until the job is done)."""
        return verdict(self.report) if self.report is not None else ""

    @property
    def seconds(self) -> float:
        """Seconds since `start()` (0 before it)."""
        return time.monotonic() - self.started if self.started is not None else 0.0

    @staticmethod
    def current(folder: str | Path) -> TuneJob | None:
        """The job tuning `folder` now, if any (in this process)."""
        with _jobs_lock:
            return _jobs.get(Path(folder).resolve())

    def start(self) -> TuneJob:
        """Check that the collection can be tuned, then tune it in a daemon thread.

        Raises:
            ValueError: this job was started before, another job is tuning the same
                folder, or the collection is empty or too small (rag.tune.stages.check_size).
        """
        from ingest import index as store

        if self.state != "ready":
            raise ValueError(f"this tuning job is {self.state}; make a new TuneJob to tune {self.folder} again")
        check_size(store.read_manifest(self.folder).get("counts", {}).get("chunks", 0), self.folder)
        key = self.folder.resolve()
        with _jobs_lock:
            other = _jobs.get(key)
            if other is not None:
                raise ValueError(f"{self.folder} is already being tuned ({other.fraction:.0%} done); wait for it to finish or cancel it first")
            _jobs[key] = self
            self.state, self.started = "running", time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(key,), name=f"tune {self.folder.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the run to stop: it does at its next step, batch or question (state
        "cancelled"), and the collection stays as it was. Nothing happens to a job
        already finished."""
        if self.state == "ready":
            self.state, self.error = "cancelled", "cancelled before it started"
            return
        if self.state == "running" and not self._cancel.is_set():
            self._cancel.set()
            self._progress = (self.fraction, "stopping")

    def wait(self, timeout: float | None = None) -> str:
        """Wait up to `timeout` seconds for the run to finish; returns the state."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state

    def _report(self, fraction: float, message: str) -> None:
        self._progress = (fraction, message)

    def _run(self, key: Path) -> None:
        state = "failed"
        try:
            self.report = stages.tune_index(self.folder, self.settings, self.options, pairs=self.pairs, generator=self.generator, progress=False, on_progress=self._report, cancelled=self._cancel.is_set)
            state = "done"
        except TuneCancelled as e:
            state, self.error = "cancelled", str(e)
        except (ValueError, IngestError, ModelUnavailableError) as e:  # the user can act on these
            self.error = str(e)
        except Exception as e:  # noqa: BLE001 - a thread has nobody else to tell
            log.exception("tuning %s failed", self.folder)
            self.error = f"tuning failed unexpectedly ({type(e).__name__}: {e}); the collection is unchanged"
        finally:
            with _jobs_lock:
                _jobs.pop(key, None)
            self.state = state  # last: whoever sees a finished state finds the report or error set, and may start again
