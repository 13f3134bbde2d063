"""Measuring the answering path: metrics (pure functions), BEIR-layout datasets,
retrieval evaluation and answer evaluation. Imports `rag`'s answering modules; they
never import this package."""
