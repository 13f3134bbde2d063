"""Answer quality on SQuAD-style data: exact match, token F1, citation precision,
answer rate, refusal rate on unanswerable questions, speed, and an extractive baseline.

The LLM pipeline runs through the same `ask()` the app uses. The baseline answers
with the best-matching sentence of the top passage (no LLM), behind the same gate,
so the table shows what the model adds.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ingest.chunking import sentence_spans
from ingest.lexical import tokenize
from ingest.settings import Settings

from .. import gate
from ..citations import UNSUPPORTED
from ..pipeline import Collection, Models, answer_once
from .datasets import load_dataset
from .retrieval import corpus_index

# `(?<!\s)`: leading spaces are tried only where their run begins (linear; a bare
# `\s*` first retries every suffix of a long run of spaces: quadratic).
_MARKERS = re.compile(r"(?<!\s)\s*\[\d+(?:\s*,\s*\d+)*\]")


# ---------------------------------------------------------------- SQuAD metrics (Rajpurkar et al. 2016)


def normalise_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the official SQuAD script)."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, golds: list[str]) -> float:
    return float(any(normalise_answer(prediction) == normalise_answer(g) for g in golds))


def token_f1(prediction: str, golds: list[str]) -> float:
    """Best token-overlap F1 against any gold answer."""
    pred = normalise_answer(prediction).split()
    best = 0.0
    for gold in golds:
        g = normalise_answer(gold).split()
        common = sum((Counter(pred) & Counter(g)).values())
        if common:
            p, r = common / len(pred), common / len(g)
            best = max(best, 2 * p * r / (p + r))
    return best


def answer_text(text: str) -> str:
    """The answer as a reader sees its claims: markers and unsupported tags removed."""
    return _MARKERS.sub("", text.replace(UNSUPPORTED, "")).strip()


# ---------------------------------------------------------------- collection over an in-memory index


def extractive_answer(question: str, hits, s: Settings) -> tuple[str, bool, str]:
    """Baseline: the top passage's sentence sharing most content words with the question."""
    verdict = gate.decide(question, hits, **gate.options(s))
    if not verdict.answerable:
        return "", False, ""
    text = hits[0].chunk.text
    q = set(tokenize(question))
    spans = sentence_spans(text) or [(0, len(text))]
    s, e = max(spans, key=lambda sp: len(q & set(tokenize(text[sp[0] : sp[1]]))))
    return text[s:e], True, hits[0].chunk.chunk_id


@dataclass
class QA:
    id: str
    question: str
    answers: list[str]
    context_id: str


def load_qa(folder: str | Path, limit: int | None, offset: int = 0) -> list[QA]:
    rows = []
    with open(Path(folder) / "qa.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            rows.append(QA(d["id"], d["question"], d["answers"], d["context_id"]))
    return rows[offset : offset + limit if limit else None]


def evaluate_answers(qas: list[QA], answerable: Collection, unanswerable: Collection | None, settings: Settings, progress: bool = False) -> dict:
    """Run the LLM pipeline and the extractive baseline on answerable and unanswerable copies.

    `unanswerable` is a collection the questions are not about; each question is asked
    of it too, and refusing there is right. Without one the refusal rates are None:
    not measured.
    """
    from tqdm import tqdm

    llm = {"em": 0.0, "f1": 0.0, "answered": 0, "cites": 0, "good_cites": 0, "ttft": [], "tps": [], "total": []}
    base = {"em": 0.0, "f1": 0.0, "answered": 0, "cites": 0, "good_cites": 0}
    refused = {"llm": 0, "baseline": 0} if unanswerable is not None else {"llm": None, "baseline": None}
    generator = answerable.models.generator
    for qa in tqdm(qas, desc="answers", unit="q", disable=not progress):
        final = answer_once(answerable, qa.question)
        chunks = {h.chunk.chunk_id: h.chunk for h in final.hits}
        if final.answerable:
            llm["answered"] += 1
            text = answer_text(final.text)
            llm["em"] += exact_match(text, qa.answers)
            llm["f1"] += token_f1(text, qa.answers)
        for c in final.citations:
            llm["cites"] += 1
            llm["good_cites"] += _supports(chunks[c.chunk_id], qa)
        t = final.timings_ms
        if "first_token_ms" in t:
            llm["ttft"].append(t["first_token_ms"])
            llm["total"].append(t["total_ms"])
            n_tokens = generator.count_tokens(final.raw)
            if t["generate_ms"] > 0 and n_tokens:
                llm["tps"].append(1000 * n_tokens / t["generate_ms"])
        sentence, ok, cid = extractive_answer(qa.question, final.hits, settings)
        if ok:
            base["answered"] += 1
            base["em"] += exact_match(sentence, qa.answers)
            base["f1"] += token_f1(sentence, qa.answers)
            base["cites"] += 1
            base["good_cites"] += _supports(chunks[cid], qa)
        if unanswerable is not None:
            elsewhere = answer_once(unanswerable, qa.question)
            refused["llm"] += not elsewhere.answerable
            refused["baseline"] += not extractive_answer(qa.question, elsewhere.hits, settings)[1]
    return {"llm": _summary(llm, refused["llm"], len(qas)), "extractive": _summary(base, refused["baseline"], len(qas)), "questions": len(qas)}


def _supports(chunk, qa: QA) -> bool:
    """A citation is right when it is the gold paragraph or contains a gold answer."""
    return chunk.chunk_id == qa.context_id or any(normalise_answer(a) in normalise_answer(chunk.text) for a in qa.answers)


def _median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    return round(xs[len(xs) // 2], 1) if xs else None


def _summary(d: dict, refused: int | None, n: int) -> dict:
    answered = max(d["answered"], 1)
    out = {
        "exact_match": round(d["em"] / answered, 4),
        "f1": round(d["f1"] / answered, 4),
        "f1_all": round(d["f1"] / max(n, 1), 4),
        "citation_precision": round(d["good_cites"] / d["cites"], 4) if d["cites"] else None,
        "answer_rate": round(d["answered"] / max(n, 1), 4),
        "refusal_rate_unanswerable": round(refused / max(n, 1), 4) if refused is not None else None,
    }
    if "ttft" in d:
        out |= {"median_first_token_ms": _median(d["ttft"]), "median_total_ms": _median(d["total"]), "median_tokens_per_s": _median(d["tps"])}
    return out


def run(dataset: str | Path, unanswerable_dataset: str | Path | None, settings: Settings, limit: int = 200, offset: int = 0, progress: bool = False) -> dict:
    """Index the corpora in memory (embeddings cached) and evaluate `limit` questions.

    `unanswerable_dataset`: a BEIR-layout folder whose corpus does not cover the
    questions (SciFact's abstracts for SQuAD's questions), or None for no refusal run.
    """

    models = Models(settings)
    t = time.perf_counter()
    own = Collection.of(corpus_index(load_dataset(dataset), models.embedder, settings.cache, progress), models)
    other = None
    if unanswerable_dataset is not None:
        other = Collection.of(corpus_index(load_dataset(unanswerable_dataset), models.embedder, settings.cache, progress), models)
    index_s = time.perf_counter() - t
    result = evaluate_answers(load_qa(dataset, limit, offset), own, other, settings, progress)
    result |= {"dataset": Path(dataset).name, "unanswerable_dataset": Path(unanswerable_dataset).name if unanswerable_dataset is not None else None, "index_seconds": round(index_s, 1), "models": models.describe(), "gate": gate.options(settings)}
    return result
