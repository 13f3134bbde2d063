"""Training the retrievers on a collection: training data (triples), the training
loops (train), the held-out check (heldout) and the `rag tune` stages (stages).
Imports `rag`'s answering modules and `rag.eval`; neither imports this package."""

from .stages import TuneOptions, tune_dataset, tune_index

__all__ = ["TuneOptions", "tune_dataset", "tune_index"]
