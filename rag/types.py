"""The vocabulary of answering: a retrieved hit, a verified citation, an answer."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.types import Chunk


@dataclass(frozen=True)
class Hit:
    """A chunk with its score under one ranking. `scores` keeps each stage's evidence
    (bm25 rank, dense rank, fused score, rerank score) so the UI can explain it."""

    chunk: Chunk
    score: float
    scores: dict = field(default_factory=dict, compare=False)

    def with_score(self, score: float, **evidence) -> "Hit":
        return Hit(self.chunk, float(score), {**self.scores, **evidence})


@dataclass(frozen=True)
class Citation:
    n: int  # the [n] in the answer text
    source: str
    page: int
    quote: str  # verbatim substring of the chunk's text
    chunk_id: str
    ocr: bool = False  # the quote was read by OCR from a scanned page (Chunk.ocr): it may hold misread characters

    def to_json(self) -> dict:
        return {"n": self.n, "source": self.source, "page": self.page, "quote": self.quote, "chunk_id": self.chunk_id, "ocr": self.ocr}


@dataclass
class Answer:
    question: str
    text: str
    answerable: bool
    citations: list[Citation]
    hits: list[Hit]
    query: str = ""
    raw: str = ""  # what the model wrote, before citations were verified
    timings_ms: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # what the model wrote that no source supports: never shown as the answer
    fallback: str = ""  # "quote": no generated sentence was supported, so `text` quotes the best evidence verbatim
    refusal_p: float | None = None  # the answering adapter's probability of refusing (rag.verbatim); None: not weighed
    evidence_p: float | None = None  # the probability that the answer's evidence answers (rag.evidence.best); None: not ranked

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.text,
            "answerable": self.answerable,
            "raw_answer": self.raw,
            "fallback": self.fallback or None,
            "refusal_probability": None if self.refusal_p is None else round(self.refusal_p, 4),
            "evidence_probability": None if self.evidence_p is None else round(self.evidence_p, 4),
            "unsupported": self.unsupported,
            "citations": [c.to_json() for c in self.citations],
            "sources": [hit_json(h, i + 1) for i, h in enumerate(self.hits)],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "models": self.models,
            "notes": self.notes,
        }


def hit_json(hit: Hit, rank: int) -> dict:
    c = hit.chunk
    return {
        "rank": rank,
        "chunk_id": c.chunk_id,
        "source": c.source,
        "page": c.page,
        "section": c.section,
        "text": c.text,
        "score": round(hit.score, 6),
        **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in hit.scores.items()},
    }
