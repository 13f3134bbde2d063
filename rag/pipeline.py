"""Question in, cited answer out: rewrite -> retrieve -> fuse -> rerank -> gate -> generate -> cite.

`Models` loads each model once, lazily, and is shared by every collection (the app
serves many sessions from one set of models). `Collection` is one index folder; it
picks up a new generation written by an ingest without restarting, and a search
always runs against one whole generation, never a half-written one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import cache, cached_property
from pathlib import Path

from ingest import backends
from ingest import index as index_store
from ingest.embedder import Embedder, embedder_from, runtime_of
from ingest.models import DEFAULT_RERANKER, ModelUnavailableError, adapter_for, resolve
from ingest.settings import MODES, Settings, check_choice

from . import citations, evidence, gate, verbatim
from .generate import NOT_IN_DOCUMENTS, Generator, LlamaGenerator, answer_prompt, generate, prompt_style
from .rerank import Reranker, load_reranker, rerank
from .retrievers import HybridRetriever, retrievers_for
from .render import timing_line
from .rewrite import rewrite
from .types import Answer, Citation, Hit

log = logging.getLogger(__name__)
timings_log = logging.getLogger("sourced.timings")  # one line per answer; SOURCED_LOG names its file

ANSWER_CACHE_SIZE = 128  # answers kept per collection: a repeated question skips search and generation



class Models:
    """The embedder, reranker and LLM named by `settings`, each loaded on first use.

    Pass ready-made objects (real or fake) to skip loading; `reranker=None` with
    `reranker_reason` says why there is none.
    """

    _UNSET = object()
    _LLM_FIELDS = ("llm", "llm_adapter", "n_ctx", "threads", "llm_style", "temperature", "cache")  # the settings one LLM is loaded from

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None, reranker=_UNSET, reranker_reason: str = "", generator: Generator | None = None):
        self.settings = settings
        self._embedder = embedder
        self._reranker = reranker
        self.reranker_reason = reranker_reason
        self._generator = generator
        # one lock per model: loading the LLM must not hold up an upload that needs the embedder
        self._locks = {name: threading.Lock() for name in ("embedder", "reranker", "generator", "derived")}
        self._parent: Models | None = None
        self._derived: dict[Settings, Models] = {}

    def for_collection(self, folder: str | Path) -> "Models":
        """The models an index folder answers with: these, or (for a tuned collection,
        rag.pipeline.collection_settings) a `Models` that loads the tuned encoder or
        reranker and shares every model that stays the same, the LLM above all.

        Raises:
            ValueError: the tuned encoder the index was built with is gone.
        """
        settings = collection_settings(self.settings, folder) if Path(folder).is_dir() else self.settings
        if settings == self.settings:
            return self
        with self._locks["derived"]:
            if settings not in self._derived:
                derived = self._derived[settings] = Models(settings)
                derived._parent = self
            return self._derived[settings]

    def _shared(self, *fields: str) -> "Models | None":
        """The parent whose model this one would load anyway (same settings fields)."""
        p = self._parent
        return p if p is not None and all(getattr(p.settings, f) == getattr(self.settings, f) for f in fields) else None

    @cached_property
    def _embedder_name(self) -> str:
        """The name of the embedder these models use (what an index records), without loading it."""
        return self._embedder.name if self._embedder is not None else embedder_from(self.settings).name

    @property
    def embedder(self) -> Embedder:
        if (p := self._parent) is not None and p._embedder_name == self._embedder_name:
            return p.embedder
        with self._locks["embedder"]:
            if self._embedder is None:
                self._embedder = embedder_from(self.settings)
            return self._embedder

    @property
    def reranker(self) -> Reranker | None:
        if (p := self._shared("reranker")) is not None:
            return p.reranker
        with self._locks["reranker"]:
            if self._reranker is self._UNSET:
                self._reranker, self.reranker_reason = load_reranker(self.settings.reranker)
            return self._reranker

    @property
    def generator(self) -> Generator:
        if (p := self._shared(*self._LLM_FIELDS)) is not None:
            return p.generator
        with self._locks["generator"]:
            if self._generator is None:
                s = self.settings
                adapter = adapter_for(s.llm, s.llm_adapter)
                self._generator = LlamaGenerator(s.llm, n_ctx=s.n_ctx, threads=s.threads, style=s.llm_style, temperature=s.temperature, cache=s.cache, adapter=adapter)
            return self._generator

    @property
    def adapter_answers(self) -> bool:
        """Whether the answering adapter writes the answers, without loading the LLM
        (the gate needs to know before the LLM is loaded for a question it lets through)."""
        if self._generator is not None or self._shared(*self._LLM_FIELDS) is not None:
            return prompt_style(self.generator) == "adapter"
        return bool(adapter_for(self.settings.llm, self.settings.llm_adapter))

    def can_rerank(self) -> tuple[bool, str]:
        """Whether the reranker can run, and why not in words, without loading it (the
        app offers the rerank mode only where it can run)."""
        owner = self._shared("reranker") or self
        if owner._reranker is not self._UNSET:
            return owner._reranker is not None, owner.reranker_reason
        if not self.settings.reranker_enabled:
            return False, "reranking is turned off (SOURCED_RERANKER=none)"
        try:
            resolve(self.settings.reranker, "SOURCED_RERANKER", self.settings.cache)
        except ModelUnavailableError as e:
            return False, f"no cross-encoder is installed ({e})"
        return True, ""

    def describe(self) -> dict:
        reranker = self.reranker
        return {
            "embedder": self.embedder.name,
            "reranker": reranker.name if reranker else None,
            "reranker_status": "loaded" if reranker else (self._shared("reranker") or self).reranker_reason,
            "llm": self._generator.name if self._generator else self.settings.llm,
            "llm_adapter": Path(self._generator.adapter).name if self._generator and self._generator.adapter else None,
        }


def collection_settings(settings: Settings, folder: str | Path) -> Settings:
    """`settings` with an index folder's own tuned models (rag.tune) wherever the
    settings leave the choice open: its encoder (Settings.for_index), its calibrated
    fusion when the settings keep the default one, its reranker, at its calibrated
    weight, when no other reranker is configured, and for a tuned encoder the evidence
    gate's thresholds of the encoder it was tuned from (until it is calibrated itself).

    Raises:
        ValueError: the tuned encoder the index was built with is gone.
    """
    settings = settings.for_index(folder)
    tuned = index_store.read_manifest(folder).get("tuned") or {}
    if tuned.get("embedder") and settings.embedder == tuned["embedder"] and settings.gate_threshold is None:
        # no gate calibration of its own yet: the encoder it was tuned from lends its thresholds
        # (not the adapter's gate: that one was calibrated with the adapter on the base encoder's cosines)
        lent = gate.calibration(runtime_of(tuned.get("from", ""))[0])
        settings = settings.replace(**{f"gate_{k}": lent[k] for k in ("threshold", "coverage_weight") if k in lent})
    if tuned.get("fusion") and (settings.fusion, settings.bm25_weight, settings.dense_weight) == (Settings.fusion, Settings.bm25_weight, Settings.dense_weight):
        settings = settings.replace(**tuned["fusion"])
    if tuned.get("reranker") and settings.reranker == DEFAULT_RERANKER and Path(tuned["reranker"]).exists():
        return settings.replace(reranker=tuned["reranker"], rerank_weight=tuned.get("rerank_weight", 1.0))
    return settings


class Collection:
    """One index folder, searched through its newest complete generation."""

    def __init__(self, folder: str | Path, models: Models):
        self.folder = Path(folder)
        self.models = models
        self._lock = threading.Lock()
        self._loaded: tuple[str | None, object, dict] | None = None
        self._fixed = False
        self._answers: OrderedDict[tuple, Answer] = OrderedDict()

    @classmethod
    def of(cls, index: index_store.Index, models: Models) -> "Collection":
        """A collection over an Index held in memory (evaluation): no folder, and a
        snapshot that never changes."""
        collection = cls(index.folder or "", models)
        collection._loaded = (None, index, retrievers_for(index, models.embedder, models.settings) if len(index) else {})
        collection._fixed = True
        return collection

    def snapshot(self):
        """(index, retrievers) for the live generation, reloaded when it changes."""
        if self._fixed:
            return self._loaded[1], self._loaded[2]
        with self._lock:
            current = index_store.current_generation(self.folder)
            if self._loaded is None or self._loaded[0] != current:
                index = backends.load(self.folder, self.models.embedder.name, self.models.settings.storage())
                retrievers = retrievers_for(index, self.models.embedder, self.models.settings) if len(index) else {}
                self._loaded = (current, index, retrievers)
            return self._loaded[1], self._loaded[2]

    def answer_key(self, question: str, history: list[dict], mode: str, top_k: int) -> tuple:
        """What a final answer depends on besides the models and settings (fixed for a
        collection): the live generation, so any ingest or removal invalidates it."""
        generation = "fixed" if self._fixed else index_store.current_generation(self.folder)
        return generation, mode, top_k, question, tuple((m.get("role"), str(m.get("content"))) for m in history)

    def cached_answer(self, key: tuple) -> Answer | None:
        with self._lock:
            found = self._answers.get(key)
            if found is not None:
                self._answers.move_to_end(key)
            return found

    def remember_answer(self, key: tuple, answer: Answer) -> None:
        with self._lock:
            self._answers[key] = answer
            while len(self._answers) > ANSWER_CACHE_SIZE:
                self._answers.popitem(last=False)

    def term_weights(self):
        """The live generation's term rarity (rag.citations.Rarity) for the citation
        check; None for an empty collection."""
        _, retrievers = self.snapshot()
        return retrievers["bm25"].term_weights() if "bm25" in retrievers else None

    def search(self, query: str, k: int, mode: str | None = None) -> tuple[list[Hit], dict]:
        """The top `k` hits for `query` under `mode`, and milliseconds per stage."""
        t = time.perf_counter()
        _, retrievers = self.snapshot()
        load_ms = _ms(t)
        mode = mode or self.models.settings.mode
        reranker = self.models.reranker if mode == "rerank" else None
        hits, timings = search(retrievers, query, k, mode, self.models.settings, reranker)
        return hits, {"load_ms": load_ms, **timings}


def search(retrievers: dict, query: str, k: int, mode: str, settings: Settings, reranker: Reranker | None = None) -> tuple[list[Hit], dict]:
    """One search over ready retrievers ({"bm25": ..., "dense": ...}); shared by the
    app, the CLI and the evaluation harness so that what is measured is what runs."""
    check_choice("mode", mode, MODES)
    timings: dict[str, float] = {}
    if not retrievers:
        return [], timings
    t = time.perf_counter()
    if mode in ("bm25", "dense"):
        hits = retrievers[mode].search(query, k)
        hits = [h.with_score(h.score, **{f"{mode}_rank": i + 1, f"{mode}_score": h.score}) for i, h in enumerate(hits)]
        timings["retrieve_ms"] = _ms(t)
        return hits, timings
    depth = max(k, settings.rerank_depth) if reranker is not None else k
    hybrid = HybridRetriever(retrievers, depth=settings.depth, fusion=settings.fusion, rrf_k=settings.rrf_k, weights=[settings.bm25_weight, settings.dense_weight])
    hits = hybrid.search(query, depth)
    timings["retrieve_ms"] = _ms(t)
    if reranker is not None:
        t = time.perf_counter()
        hits = rerank(reranker, query, hits, settings.rerank_depth, settings.rerank_weight)
        timings["rerank_ms"] = _ms(t)
    return hits[:k], timings


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def ask(collection: Collection, question: str, history: list[dict] | None = None, *, mode: str | None = None, top_k: int | None = None) -> Iterator[tuple[str, object]]:
    """Answer `question`, streaming events (`mode` and `top_k` override the settings
    for this question, as the app's per-session choices do):

    ("status", str) progress in words; ("token", str) answer text as generated;
    ("draft", str) after each token: the answer so far, with links and images the
    sources do not hold removed (what a browser may render while the answer streams);
    ("answer", Answer) last, with verified citations, timings and models; its timing
    line goes to the "sourced.timings" log (SOURCED_LOG).
    """
    s = collection.models.settings
    for kind, value in _answer(collection, question, history, mode, top_k):
        if kind == "answer":
            timings_log.info(timing_line(value, mode or s.mode, top_k or s.top_k))
        yield kind, value


def _answer(collection: Collection, question: str, history: list[dict] | None, mode: str | None, top_k: int | None) -> Iterator[tuple[str, object]]:
    s = collection.models.settings
    question = question.strip()
    if not question:
        raise ValueError("the question is empty; type a question about your documents")
    if len(question) > s.max_question_chars:
        raise ValueError(f"the question is {len(question):,} characters long; the limit is {s.max_question_chars:,}. Ask something shorter, or upload long text as a document")
    t_total = time.perf_counter()
    key = collection.answer_key(question, history or [], mode or s.mode, top_k or s.top_k)
    cached = collection.cached_answer(key)
    if cached is not None:
        answer = replace(cached, timings_ms={"cache_ms": _ms(t_total), "total_ms": _ms(t_total)}, notes=[*cached.notes, "answered from the cache: the same question on the unchanged collection"])
        yield "draft", answer.text
        yield "answer", answer
        return
    timings: dict[str, float] = {}
    models = collection.models

    t = time.perf_counter()
    query = rewrite(question, history or []) if history else question
    timings["rewrite_ms"] = _ms(t)
    if query != question:
        yield "status", f"searching for: {query}"

    hits, search_timings = collection.search(query, top_k or s.top_k, mode)
    timings.update({k: v for k, v in search_timings.items() if k != "load_ms"})
    answer = Answer(question=question, text="", answerable=False, citations=[], hits=hits, query=query, models=models.describe())

    def refuse(reason: str) -> Iterator[tuple[str, object]]:
        answer.text = NOT_IN_DOCUMENTS + (" The closest passages are listed below." if hits else " No documents are indexed yet.")
        answer.notes.append(reason)
        timings["total_ms"] = _ms(t_total)
        answer.timings_ms = timings
        collection.remember_answer(key, answer)
        yield "token", answer.text
        yield "draft", answer.text
        yield "answer", answer

    verdict = gate.decide(query, hits, **gate.options(s, models.adapter_answers))
    if not verdict.answerable:
        yield from refuse(verdict.reason)
        return

    generator = models.generator  # loaded only for a question the documents can answer
    prompt = answer_prompt(question, hits, generator, s.n_ctx, s.max_tokens, s.source_tokens)
    # the adapter answers with one of its sources' own lines, and refuses when it is sure (rag.verbatim)
    refuse_at = verbatim.REFUSE_AT if s.refuse_at is None else s.refuse_at
    weights = collection.term_weights()
    similarity = evidence.embedding_similarity(models.embedder) if (mode or s.mode) != "bm25" else None  # keyword search alone loads no embedder
    best = cache(lambda: evidence.best(hits, *evidence.ranking(query, hits, weights, similarity)))  # for the adapter now, else only for a fallback
    choices = None
    if prompt_style(generator) == "adapter":  # the evidence is ranked before the adapter writes: it answers with the best
        t = time.perf_counter()
        found, share = best()
        timings["evidence_ms"] = _ms(t)
        if found is not None:
            answer.evidence_p = share
            answer_at = verbatim.ANSWER_AT if s.answer_at is None else s.answer_at
            if share < answer_at:  # no sentence stands out: whichever the adapter wrote would likely be wrong
                yield from refuse(f"no sentence of the passages stands out as the answer (the best evidence's probability {share:.2f} is below {answer_at:.2f})")
                return
        choices = verbatim.choices_for(prompt, NOT_IN_DOCUMENTS, refuse_at, [(found.n, found.text)] if found else None)
    t = time.perf_counter()
    pieces: list[str] = []
    for piece in generate(generator, prompt, max_tokens=s.max_tokens, deadline_s=s.deadline_s, choices=choices):
        if not pieces:
            timings["first_token_ms"] = _ms(t)
        pieces.append(piece)
        yield "token", piece
        yield "draft", citations.strip_foreign_links("".join(pieces), hits)
    timings["generate_ms"] = _ms(t)
    raw = answer.raw = "".join(pieces).strip()

    t = time.perf_counter()
    assemble(answer, raw, question, weights, choices.decision if choices else None, lambda: evidence.citation(hits, best()[0]) if best()[0] else None)
    timings["cite_ms"] = _ms(t)
    timings["total_ms"] = _ms(t_total)
    answer.timings_ms = timings
    if timings["generate_ms"] < 1000 * s.deadline_s:  # an answer cut short by the deadline is not kept
        collection.remember_answer(key, answer)
    yield "answer", answer


def assemble(answer: Answer, raw: str, question: str, weights=None, decision: verbatim.Decision | None = None,
             best_quote: Callable[[], Citation | None] | None = None) -> Answer:
    """Fill `answer` from what the model wrote, once the gate found the passages
    relevant: the sentences a source supports, with verified citations, lead; what no
    source supports goes to `answer.unsupported`, never into the text. When no sentence
    is supported (or the model found nothing), the answer is the best evidence quoted
    verbatim (`best_quote`; default rag.evidence.quote without embeddings), marked
    `fallback="quote"`; without passages, the refusal.

    A refusal is trusted only when it was decided by its probability (`decision`, the
    adapter's verbatim decoding, rag.verbatim); a greedy refusal is not: trusting the
    adapter's greedy refusals answered 30% of answerable questions (docs/EVAL.md)."""
    hits = answer.hits
    answer.refusal_p = decision.refusal_p if decision is not None else None
    if decision is not None and decision.refused:
        answer.text, answer.answerable = NOT_IN_DOCUMENTS + " The closest passages are listed below.", False
        answer.notes.append(f"the model is sure the passages do not answer it (refusal probability {decision.refusal_p:.2f})")
        return answer
    if decision is not None and decision.refusal_p is not None:
        answer.notes.append(f"the model's refusal probability {decision.refusal_p:.2f} is below its threshold: it answers")
    if raw and not raw.startswith(NOT_IN_DOCUMENTS.rstrip(".")):
        checked = citations.check(citations.strip_foreign_links(raw, hits), hits, question, weights)
        answer.unsupported, answer.notes = checked.unsupported, [*answer.notes, *checked.notes]
        if checked.citations:
            answer.text, answer.citations, answer.answerable = checked.text, checked.citations, True
            return answer
    else:
        answer.notes.append("the model found no answer in the passages")
    found = best_quote() if best_quote else evidence.quote(question, hits, weights)
    if found is None:
        answer.text, answer.answerable = NOT_IN_DOCUMENTS + " The closest passages are listed below.", False
        return answer
    answer.text, answer.citations, answer.answerable, answer.fallback = f"“{' '.join(found.quote.split())}” [{found.n}]", [found], True, "quote"
    answer.notes.append("no generated sentence is supported by the passages: the answer quotes the best evidence instead")
    return answer


def answer_once(collection: Collection, question: str, history: list[dict] | None = None, **kw) -> Answer:
    """`ask` without streaming: the final Answer."""
    final = None
    for kind, value in ask(collection, question, history, **kw):
        if kind == "answer":
            final = value
    return final


def log_timings_to(path: str | Path) -> None:
    """Append each answer's timing line (rag.render.timing_line) to the file `path`
    (SOURCED_LOG), with the time it was written."""
    handler = logging.FileHandler(Path(path).expanduser(), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    timings_log.addHandler(handler)
    timings_log.setLevel(logging.INFO)
    timings_log.propagate = False
