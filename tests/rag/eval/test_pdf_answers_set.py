"""rag/eval/pdf_answers.jsonl, the real-PDF answer cases bench/pdf_answers.py runs: each names
one of the shared documents and the words a right answer holds, which its own hand-written
answer must hold (no documents needed here)."""

import json
from pathlib import Path

from rag.eval.answers import answer_accuracy

CASES = Path(__file__).resolve().parents[3] / "rag" / "eval" / "pdf_answers.jsonl"
DOCUMENTS = {json.loads(line)["source"] for line in (CASES.parent / "multiturn.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()}


def test_every_case_names_a_document_and_words_its_answer_holds():
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(cases) == len({c["question"] for c in cases}) == 35
    for case in cases:
        assert case["source"] in DOCUMENTS and case["must"], case
        assert all(answer_accuracy(case["answer"], [w]) for w in case["must"]), case
