"""Training data for the retrievers, made from the collection itself.

An `Example` is a question, the chunk that answers it, and hard negatives. Questions
come from three places, best first:

- judged pairs the user supplies (a BEIR qrels file, or JSONL of question and passage);
- synthetic questions the LLM writes for a chunk (prompts/question_completion.txt);
- inverse cloze (Lee, Chang & Toutanova 2019, ORQA): one sentence of a chunk is the
  query and the rest of the chunk the positive. It needs no model, so it covers every
  chunk on a CPU, and it teaches the encoder the collection's own vocabulary.

Hard negatives follow DPR (Karpukhin et al. 2020): passages that BM25 and the dense
retriever rank high for the question but that are not its positive. Near-duplicates
of the positive (an overlapping chunk of the same page, a passage sharing most of its
words, one holding the cloze sentence itself) are excluded: they are usually relevant
too, and training against them teaches the model to separate equals.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from ingest.chunking import sentence_spans
from ingest.lexical import tokenize
from ingest.types import Chunk

ORIGINS = ("judged", "llm", "cloze")
CLOZE_MIN_WORDS = 6  # a query sentence needs this many content words to point somewhere
CLOZE_KEEP = 0.1  # ORQA keeps the sentence in its passage 10% of the time, so exact matches still count
DUPLICATE_JACCARD = 0.6  # passages sharing this share of their words are treated as the same passage


@dataclass(frozen=True)
class Example:
    """One training question. `positive_text` replaces the chunk's text when set (a
    cloze positive is the chunk without its query sentence)."""

    query: str
    positive_id: str
    origin: str
    positive_text: str = ""
    negative_ids: tuple[str, ...] = ()


def save_examples(examples: Iterable[Example], path: str | Path) -> None:
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")
    tmp.replace(path)


def load_examples(path: str | Path) -> list[Example]:
    with open(path, encoding="utf-8") as f:
        return [Example(**{**d, "negative_ids": tuple(d["negative_ids"])}) for d in map(json.loads, f) if d]


# ---------------------------------------------------------------- questions


def cloze_examples(chunks: list[Chunk], rng: random.Random, keep: float = CLOZE_KEEP) -> list[Example]:
    """One inverse-cloze example per chunk that has a sentence worth asking with."""
    out = []
    for chunk in chunks:
        spans = [(s, e) for s, e in sentence_spans(chunk.text) if len(tokenize(chunk.text[s:e])) >= CLOZE_MIN_WORDS]
        if not spans:
            continue
        s, e = rng.choice(spans)
        query = " ".join(chunk.text[s:e].split())
        rest = chunk.text if rng.random() < keep or len(spans) == 1 and s == 0 else chunk.text[:s] + chunk.text[e:]
        if len(tokenize(rest)) < CLOZE_MIN_WORDS:
            continue
        positive = f"{chunk.section}\n{rest.strip()}" if chunk.section else rest.strip()
        out.append(Example(query, chunk.chunk_id, "cloze", positive_text=positive))
    return out


_QUESTION = re.compile(r"^\s*(.{10,300}?\?)")


def clean_question(raw: str, passage: str) -> str | None:
    """The first question in a model's output, or None when it is unusable: no
    question mark, under 4 words, sharing no content word with the passage, or
    copying a whole sentence of it."""
    m = _QUESTION.match(raw.replace("\n", " "))
    if not m:
        return None
    question = " ".join(m.group(1).split())
    words = set(tokenize(question))
    if len(question.split()) < 4 or not words & set(tokenize(passage)):
        return None
    if question.rstrip("?").lower() in passage.lower():
        return None
    return question


def llm_examples(chunks: list[Chunk], ask: Callable[[str], str], *, should_stop: Callable[[], bool] = lambda: False, on_each: Callable[[], None] = lambda: None) -> list[Example]:
    """One synthetic question per chunk, written by `ask(passage) -> model output`
    (see rag.tune.stages for the prompt), until `should_stop()` says the time is up."""
    out = []
    for chunk in chunks:
        if should_stop():
            break
        question = clean_question(ask(chunk.text), chunk.text)
        if question:
            out.append(Example(question, chunk.chunk_id, "llm"))
        on_each()
    return out


def judged_from_jsonl(path: str | Path, chunks: list[Chunk]) -> list[Example]:
    """Judged pairs from JSONL lines {"question": ..., "passage": ...} (or "chunk_id"):
    a passage is matched to the chunk that contains it, else the chunk sharing most of
    its words.

    Raises:
        ValueError: a line without a question, or naming a chunk the index lacks.
    """
    by_id = {c.chunk_id: c for c in chunks}
    token_sets = [set(tokenize(c.text)) for c in chunks]
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path} line {number}: not a JSON object ({e})") from None
            if not isinstance(d, dict):
                raise ValueError(f"{path} line {number}: not a JSON object")
            question = str(d.get("question") or "").strip()
            if not question:
                raise ValueError(f"{path} line {number}: no \"question\"")
            if "chunk_id" in d:
                if d["chunk_id"] not in by_id:
                    raise ValueError(f"{path} line {number}: chunk_id {d['chunk_id']!r} is not in the index")
                out.append(Example(question, d["chunk_id"], "judged"))
                continue
            passage = " ".join(str(d.get("passage", "")).split())
            if not passage:
                raise ValueError(f"{path} line {number}: give \"passage\" (its text) or \"chunk_id\"")
            found = next((c for c in chunks if passage in " ".join(c.text.split())), None)
            if found is None:
                words = set(tokenize(passage))
                best = max(range(len(chunks)), key=lambda i: len(words & token_sets[i]), default=None)
                found = chunks[best] if best is not None else None
            if found is not None:
                out.append(Example(question, found.chunk_id, "judged"))
    return out


# ---------------------------------------------------------------- hard negatives


def near_duplicate(a: Chunk, b: Chunk, query: str = "") -> bool:
    """True when `b` should not serve as a negative for a question whose positive is `a`."""
    if a.chunk_id == b.chunk_id:
        return True
    same_text = a.doc_id == b.doc_id and a.page == b.page and a.section == b.section  # offsets are into one page's (section's) text
    if same_text and a.start < b.end and b.start < a.end:
        return True  # overlapping chunks share sentences
    if query and " ".join(query.split()) in " ".join(b.text.split()):
        return True  # a cloze sentence repeated elsewhere is that passage's sentence too
    wa, wb = set(tokenize(a.text)), set(tokenize(b.text))
    return bool(wa | wb) and len(wa & wb) / len(wa | wb) >= DUPLICATE_JACCARD


def with_negatives(examples: list[Example], rankings: list[list[str]], chunks: dict[str, Chunk], n: int, rng: random.Random, relevant: dict[str, set[str]] | None = None) -> list[Example]:
    """Attach up to `n` hard negatives to each example, drawn at random from its
    ranking (chunk ids, best first) after dropping the positive, its near-duplicates
    and every chunk `relevant[query]` judges relevant. Sampling instead of taking the
    very top spreads training over the confusable passages, not only the hardest."""
    out = []
    for example, ranking in zip(examples, rankings):
        positive = chunks[example.positive_id]
        judged = (relevant or {}).get(example.query, set())
        pool = [cid for cid in ranking if cid not in judged and not near_duplicate(positive, chunks[cid], example.query if example.origin == "cloze" else "")]
        out.append(replace(example, negative_ids=tuple(rng.sample(pool, min(n, len(pool))))))
    return out


def split_heldout(examples: list[Example], fraction: float, rng: random.Random, limit: int = 300) -> tuple[list[Example], list[Example]]:
    """Hold out the questions of a random `fraction` of the positive chunks (at most
    `limit` questions): a held-out passage is never a training positive, so the
    before/after comparison is not a test on the training set. Cloze examples are
    never held out (their positives are cut passages)."""
    askable = sorted({e.positive_id for e in examples if e.origin != "cloze"})
    rng.shuffle(askable)
    chosen = set(askable[: round(len(askable) * fraction)])
    heldout = [e for e in examples if e.positive_id in chosen and e.origin != "cloze"][:limit]
    kept = {id(e) for e in heldout}
    train = [e for e in examples if id(e) not in kept and e.positive_id not in chosen]
    return train, heldout
