"""Answer quality on SQuAD-style data: exact match, token F1, answer accuracy,
citation precision, answer rate, refusal rate on unanswerable questions, speed, and
an extractive baseline.

The LLM pipeline runs through the same `ask()` the app uses, fallback included (an
answer none of whose sentences a source supports quotes the best evidence, rag.evidence).
The same run also scores the other fallback, a refusal, by counting those answers as
refused: both are measured on the very same questions. The baseline answers with the
answer's evidence (rag.evidence.best, no LLM), behind the same gate, so the table
shows what the model adds. `--articles test` keeps to the held-out half of the
articles (rag.eval.datasets.article_half), the half no training may see.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ingest.settings import Settings

from .. import evidence, gate
from ..citations import UNSUPPORTED
from ..pipeline import Collection, Models, answer_once
from .datasets import ARTICLE_HALVES, article_half, load_dataset
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


def answer_accuracy(prediction: str, golds: list[str]) -> float:
    """1 when the answer contains a gold answer, both SQuAD-normalised: the correctness
    of a long answer ("str_em" of ALCE, Gao et al. 2023), which exact match and token
    F1 punish for every word around the answer. Whole words only ("Latin" is not in
    "Latinos"); an empty gold string never counts."""
    pred = f" {normalise_answer(prediction)} "
    return float(any(g and f" {g} " in pred for g in map(normalise_answer, golds)))


def answer_text(text: str) -> str:
    """The answer as a reader sees its claims: markers, unsupported tags and the quote
    marks of a quoted fallback removed."""
    return _MARKERS.sub("", text.replace(UNSUPPORTED, "")).strip().strip("\u201c\u201d").strip()


# ---------------------------------------------------------------- collection over an in-memory index


def extractive_answer(question: str, hits, s: Settings, weights=None, similarity=None) -> tuple[str, bool, str]:
    """Baseline: the answer's evidence for the question (rag.evidence.best), behind the gate."""
    verdict = gate.decide(question, hits, **gate.options(s))
    found = evidence.quote(question, hits, weights, similarity) if verdict.answerable else None
    return (found.quote, True, found.chunk_id) if found else ("", False, "")


@dataclass
class QA:
    id: str
    question: str
    answers: list[str]
    context_id: str
    title: str = ""


def load_qa(folder: str | Path, limit: int | None, offset: int = 0, articles: str = "all") -> list[QA]:
    """Questions of qa.jsonl: all of them in file order, or (`articles` "train" or
    "test") those of one half of the articles (article_half), taken from each article
    in turn (its 1st question, then each one's 2nd, ...) so a few hundred questions
    cover every article of the half; `offset` and `limit` then cut that list."""
    if articles not in ARTICLE_HALVES:
        raise ValueError(f"articles must be one of {', '.join(ARTICLE_HALVES)}; got {articles!r}")
    rows = []
    with open(Path(folder) / "qa.jsonl", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            rows.append(QA(d["id"], d["question"], d["answers"], d["context_id"], d.get("title", "")))
    if articles != "all":
        titles = {r.title for r in rows}
        if titles == {""}:
            raise ValueError(f"{folder}/qa.jsonl has no \"title\" fields: it cannot be split by article")
        by_article: dict[str, list[QA]] = {}
        for r in rows:
            if article_half(r.title, titles) == articles:
                by_article.setdefault(r.title, []).append(r)
        lists = list(by_article.values())
        rows = [lst[i] for i in range(max(map(len, lists), default=0)) for lst in lists if i < len(lst)]
    return rows[offset : offset + limit if limit else None]


def _tally() -> dict:
    return {"em": 0.0, "f1": 0.0, "acc": 0.0, "answered": 0, "cites": 0, "good_cites": 0}


def _score(d: dict, text: str, cited_chunks: list, qa: QA) -> None:
    d["answered"] += 1
    d["em"] += exact_match(text, qa.answers)
    d["f1"] += token_f1(text, qa.answers)
    d["acc"] += answer_accuracy(text, qa.answers)
    d["cites"] += len(cited_chunks)
    d["good_cites"] += sum(supports(c, qa) for c in cited_chunks)


def evaluate_answers(qas: list[QA], answerable: Collection, unanswerable: Collection | None, settings: Settings, progress: bool = False) -> dict:
    """Run the LLM pipeline and the extractive baseline on answerable and unanswerable copies.

    `unanswerable` is a collection the questions are not about; each question is asked
    of it too, and refusing there is right. Without one the refusal rates are None:
    not measured. "llm" is the pipeline as it runs (a quoted fallback when no
    generated sentence is supported); "llm_refusal_fallback" the same answers with
    every quoted fallback counted as a refusal; "fallback_only" scores the quoted
    fallbacks alone (how good the quotes are that the first shows and the second hides).
    """
    from tqdm import tqdm

    llm, no_quote, quotes, base = _tally() | {"ttft": [], "tps": [], "total": [], "evidence": []}, _tally(), _tally(), _tally()
    measured = unanswerable is not None
    refused = {"llm": 0, "llm_refusal_fallback": 0, "baseline": 0}
    generator = answerable.models.generator
    weights = answerable.term_weights()
    similarity = evidence.embedding_similarity(answerable.models.embedder)
    for qa in tqdm(qas, desc="answers", unit="q", disable=not progress):
        final = answer_once(answerable, qa.question)
        chunks = {h.chunk.chunk_id: h.chunk for h in final.hits}
        cited = [chunks[c.chunk_id] for c in final.citations]
        if final.answerable:
            text = answer_text(final.text)
            _score(llm, text, cited, qa)
            _score(quotes if final.fallback else no_quote, text, cited, qa)
        t = final.timings_ms
        if "first_token_ms" in t:
            llm["ttft"].append(t["first_token_ms"])
            llm["total"].append(t["total_ms"])
            if "evidence_ms" in t:
                llm["evidence"].append(t["evidence_ms"])
            n_tokens = generator.count_tokens(final.raw)
            if t["generate_ms"] > 0 and n_tokens:
                llm["tps"].append(1000 * n_tokens / t["generate_ms"])
        sentence, ok, cid = extractive_answer(qa.question, final.hits, settings, weights, similarity)
        if ok:
            _score(base, sentence, [chunks[cid]], qa)
        if measured:
            elsewhere = answer_once(unanswerable, qa.question)
            refused["llm"] += not elsewhere.answerable
            refused["llm_refusal_fallback"] += not elsewhere.answerable or bool(elsewhere.fallback)
            refused["baseline"] += not extractive_answer(qa.question, elsewhere.hits, settings, unanswerable.term_weights(), similarity)[1]
    n = len(qas)
    rate = (lambda k: refused[k]) if measured else (lambda k: None)
    return {
        "llm": _summary(llm, rate("llm"), n),
        "llm_refusal_fallback": _summary(no_quote, rate("llm_refusal_fallback"), n),
        "fallback_only": _summary(quotes, None, n),
        "extractive": _summary(base, rate("baseline"), n),
        "questions": n,
    }


def supports(chunk, qa: QA) -> bool:
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
        "answer_accuracy": round(d["acc"] / answered, 4),
        "answered": d["answered"],
        "citation_precision": round(d["good_cites"] / d["cites"], 4) if d["cites"] else None,
        "answer_rate": round(d["answered"] / max(n, 1), 4),
        "refusal_rate_unanswerable": round(refused / max(n, 1), 4) if refused is not None else None,
    }
    if "ttft" in d:
        out |= {"median_first_token_ms": _median(d["ttft"]), "median_total_ms": _median(d["total"]), "median_tokens_per_s": _median(d["tps"]),
                "median_evidence_ms": _median(d["evidence"])}
    return out


def run(dataset: str | Path, unanswerable_dataset: str | Path | None, settings: Settings, limit: int = 200, offset: int = 0, progress: bool = False, articles: str = "all", compare_base: bool = False) -> dict:
    """Index the corpora in memory (embeddings cached) and evaluate `limit` questions
    (of one half of the articles with `articles`, load_qa).

    `unanswerable_dataset`: a BEIR-layout folder whose corpus does not cover the
    questions (SciFact's abstracts for SQuAD's questions), or None for no refusal run.
    The LLM is settings.llm with its adapter (SOURCED_LLM_ADAPTER); `compare_base`
    runs the same questions again without the adapter, under "base" (its "llm",
    "llm_refusal_fallback" and "fallback_only"), when one was in use.
    """
    from dataclasses import replace

    models = Models(settings)
    t = time.perf_counter()
    indexes = [corpus_index(load_dataset(d), models.embedder, settings.cache, progress) for d in (dataset, unanswerable_dataset) if d is not None]
    index_s = time.perf_counter() - t
    qas = load_qa(dataset, limit, offset, articles)

    def evaluate(m: Models) -> dict:
        own, *other = (Collection.of(i, m) for i in indexes)
        return evaluate_answers(qas, own, other[0] if other else None, m.settings, progress)

    result = evaluate(models)
    result |= {"dataset": Path(dataset).name, "articles": articles, "unanswerable_dataset": Path(unanswerable_dataset).name if unanswerable_dataset is not None else None, "index_seconds": round(index_s, 1), "models": models.describe(), "gate": gate.options(settings),
              "gate_with_adapter": gate.options(settings, adapter=True)["threshold"]}
    if compare_base and models.generator.adapter:
        base = Models(replace(settings, llm_adapter="none"), embedder=models.embedder, reranker=models.reranker, reranker_reason=models.reranker_reason)
        result["base"] = {k: v for k, v in evaluate(base).items() if k in ("llm", "llm_refusal_fallback", "fallback_only")}
    return result
