"""Training the retrievers on a collection: training data (triples), the training
loops (train), the held-out check and its verdict (heldout), the `rag tune` stages
(stages), progress and cancellation (progress) and background runs for the web app
(jobs). Imports `rag`'s answering modules and `rag.eval`; neither imports this package."""

from .heldout import verdict
from .jobs import TuneJob
from .progress import TuneCancelled
from .stages import MIN_PASSAGES, TuneOptions, check_size, tune_dataset, tune_index

__all__ = ["MIN_PASSAGES", "TuneCancelled", "TuneJob", "TuneOptions", "check_size", "tune_dataset", "tune_index", "verdict"]
