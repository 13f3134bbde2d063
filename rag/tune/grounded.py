"""Grounded-QA examples for the answering adapter, in the exact prompt the app builds.

Each example is a question, the passages Sourced's own search returns for it (the
gold passage among the hard distractors the search ranks beside it, their order
shuffled in half of the examples so the answer is not always in source [1]), and
the one-line answer the adapter should write:

- answerable: the sentence of the passage that holds a gold answer, verbatim as the
  prompt shows it (trimmed to its clauses around the answer when long), ending with
  that source's number: "... in Santa Clara, California [2]." A verbatim sentence is
  what the citation check (rag.citations) can confirm, and what a reader can find;
- unanswerable, the refusal sentence (NOT_IN_DOCUMENTS):
  - "removed": the gold passage and every passage holding a gold answer left out;
  - "elsewhere": the question asked of a collection it is not about (SciFact's
    abstracts for SQuAD's questions), kept wherever the gate lets it through to
    the model: only those reach the model in the app, and refusing them is the
    model's part of the refusal rate rag.eval measures;
  - "hidden": the gold passage is there but the prompt's focused excerpt of it
    (rag.generate.focus) left the answer out: the model cannot see it, so it must
    not pretend to.

Only the training half of the articles is used (rag.eval.datasets.article_half).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

from .. import gate
from ..eval.answers import QA, normalise_answer
from ..generate import NOT_IN_DOCUMENTS, answer_prompt
from ..types import Hit
from ..verbatim import CLAUSE, prompt_sources, sentences, with_citation

MAX_TARGET_WORDS = 32


@dataclass(frozen=True)
class GroundedExample:
    id: str
    prompt: str
    target: str
    kind: str  # "answer" | "removed" | "elsewhere" | "hidden"

    def to_json(self) -> dict:
        return asdict(self)


def holds(text: str, answers: list[str]) -> bool:
    """`text` contains one of the gold answers, SQuAD-normalised, as whole words."""
    have = f" {normalise_answer(text)} "
    return any(a and f" {a} " in have for a in map(normalise_answer, answers))


def target_sentence(text: str, answers: list[str], max_words: int = MAX_TARGET_WORDS) -> str | None:
    """The first sentence of `text` holding a gold answer, verbatim, cut to whole
    clauses around the answer when it is longer than `max_words` words; None when no
    sentence holds one (pure)."""
    for sentence in sentences(text):
        if not holds(sentence, answers):
            continue
        if len(sentence.split()) <= max_words:
            return sentence
        clauses = CLAUSE.split(sentence)
        core = next((i for i, c in enumerate(clauses) if holds(c, answers)), None)
        if core is None:  # the answer spans a clause boundary: keep the sentence whole
            return sentence
        lo = hi = core
        words = lambda a, b: sum(len(c.split()) for c in clauses[a : b + 1])  # noqa: E731
        while True:  # grow towards the sentence's start first: it names the subject
            if lo > 0 and words(lo - 1, hi) <= max_words:
                lo -= 1
            elif hi + 1 < len(clauses) and words(lo, hi + 1) <= max_words:
                hi += 1
            else:
                break
        return " ".join(clauses[lo : hi + 1]).rstrip(",;:")
    return None


def answer_example(qa: QA, hits: list[Hit], prompt: str) -> GroundedExample:
    """The target for a prompt whose sources include `qa`'s gold passage: the gold
    source's answer sentence (or another source's that holds the answer), else the
    refusal ("hidden")."""
    shown = prompt_sources(prompt)
    ids = [h.chunk.chunk_id for h in hits]
    order = sorted(shown, key=lambda n: (ids[n - 1] != qa.context_id, n))
    for n in order:
        sentence = target_sentence(shown[n], qa.answers)
        if sentence is not None:
            return GroundedExample(qa.id, prompt, with_citation(sentence, n), "answer")
    return GroundedExample(qa.id, prompt, NOT_IN_DOCUMENTS, "hidden")


def build(qas: list[QA], own, other, generator, settings, *, removed: float = 0.06, seed: int = 0, progress: bool = False) -> list[GroundedExample]:
    """One example per question of `qas` over the collection `own` (rag.pipeline
    Collection), a share `removed` of them with the answer's passages left out; and
    one more, "elsewhere", for each question that `other` (a collection it is not
    about) passes through the gate. With SQuAD over SciFact that is about 9% of the
    questions and "hidden" about 9%: some 24% of the examples are refusals."""
    from tqdm import tqdm

    rng = random.Random(seed)
    k = settings.top_k
    index, _ = own.snapshot()
    by_id = {c.chunk_id: c for c in index.chunks}
    out = []

    def prompt_for(qa: QA, hits: list[Hit]) -> str:
        return answer_prompt(qa.question, hits, generator, settings.n_ctx, settings.max_tokens, settings.source_tokens, style="adapter")

    for qa in tqdm(qas, desc="training examples", unit="q", disable=not progress):
        if other is not None:
            hits, _ = other.search(qa.question, k)
            if hits and gate.decide(qa.question, hits, **gate.options(settings)).answerable:
                out.append(GroundedExample(qa.id, prompt_for(qa, hits), NOT_IN_DOCUMENTS, "elsewhere"))
        if rng.random() < removed:
            hits, _ = own.search(qa.question, 3 * k)
            hits = [h for h in hits if h.chunk.chunk_id != qa.context_id and not holds(h.chunk.text, qa.answers)][:k]
            if hits:
                out.append(GroundedExample(qa.id, prompt_for(qa, hits), NOT_IN_DOCUMENTS, "removed"))
                continue
        hits, _ = own.search(qa.question, k)
        if qa.context_id not in {h.chunk.chunk_id for h in hits} and qa.context_id in by_id:
            hits = [*hits[: k - 1], Hit(by_id[qa.context_id], 0.0)]
        if rng.random() < 0.5:
            rng.shuffle(hits)
        out.append(answer_example(qa, hits, prompt_for(qa, hits)))
    return out
