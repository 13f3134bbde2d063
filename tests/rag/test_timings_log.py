"""SOURCED_LOG: one line of per-stage timings per answer, and nothing private."""

from __future__ import annotations

import logging

from ingest.settings import Settings
from rag.pipeline import Collection, Models, answer_once, log_timings_to, timings_log

from ..fakes import HASH_GATE, HashEmbedder


def test_each_answer_writes_one_timing_line_without_the_question(hash_index, scripted, tmp_path):
    path = tmp_path / "answers.log"
    log_timings_to(path)
    try:
        collection = Collection(hash_index, Models(Settings(mode="hybrid", **HASH_GATE), embedder=HashEmbedder(), reranker=None, generator=scripted))
        question = "How many days of paid annual leave does every employee receive?"
        answer_once(collection, question)
        answer_once(collection, question)  # the second comes from the answer cache
    finally:
        for h in list(timings_log.handlers):
            timings_log.removeHandler(h)
            h.close()
        timings_log.propagate, timings_log.level = True, logging.NOTSET
    first, second = path.read_text().splitlines()
    assert "mode=hybrid top_k=5 cached=no passages=" in first and "cited=1 answerable=yes" in first
    assert " retrieve=" in first and " generate=" in first and " total=" in first
    assert "cached=yes" in second and " cache=" in second
    assert "annual leave" not in first + second and "27 days" not in first + second
