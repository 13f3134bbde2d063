"""The verbatim evidence that best answers a question: the sentence of the retrieved
passages a small learned scorer ranks first (pure).

Each sentence of each passage is a candidate, scored by a linear function of its
FEATURES: how much of the question's tf-idf mass it holds (idf², rag.citations, so a
sentence sharing the rare words "Denver Broncos" beats one sharing "team"), how its
passage ranked, its embedding's similarity to the question's, how many of the
question's word pairs it holds in order ("annual leave"), and whether it holds what
the question asks for (a year for "when", a number for "how many", a name the
question does not give for "who"/"where"). The WEIGHTS were fitted as a conditional
logit (a softmax over one question's candidates; McFadden 1974) on questions of the
training half of squad-a's articles (rag.tune.evidence, bench/fit_evidence.py): the
label is "holds a gold answer". Cross-validated there, the first sentence holds one
0.779 of the time, against 0.723 for the top passage's sentence with most question
mass, the rule it replaces, 0.771 without the word pairs and 0.759 without the
embedding similarity (docs/EVAL.md). A sentence that overlapping chunks of one file
repeat, or that a chunk's edge cut a piece of, is one candidate (`originals`): its
copies' shares are summed.

The answer's evidence (`best`) is that sentence, joined by its neighbour in the same
passage when the scorer is torn between the two (the second choice, with at least
SECOND_AT of the first's share): the answer often follows the sentence that names its
subject ("This led to hundreds of places of worship. Most of them were destroyed in
1944."). Used as the answer's fallback (shown as a quote, never as the model's words),
as the line the answering adapter may write (rag.verbatim), and alone as the
extractive baseline of rag.eval.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ingest.chunking import sentence_spans
from ingest.lexical import tokenize

from .types import Citation, Hit

# question -> texts -> each text's cosine similarity to the question (unit embeddings)
Similarity = Callable[[str, list[str]], np.ndarray]

FEATURES = ("mass", "is_max", "inv_rank", "top_passage", "passage_z", "cos", "when_year", "count_number",
            "who_name", "where_name", "novel_words", "words", "first_sentence", "bigrams")

# Fitted by bench/fit_evidence.py (rag.tune.evidence.fit, L2 1.0) on 1,500 questions of
# the training half of squad-a's articles; docs/EVAL.md has the cross-validated table.
WEIGHTS = {"mass": 3.023, "is_max": 0.723, "inv_rank": -0.431, "top_passage": 0.258, "passage_z": 0.976, "cos": 4.855, "when_year": 1.627,
           "count_number": 1.117, "who_name": 1.507, "where_name": 0.395, "novel_words": -0.459, "words": 0.678, "first_sentence": -0.397,
           "bigrams": 1.894}

# The share, relative to the best sentence's, at which the second choice joins it in the
# answer's evidence when it is the best one's neighbour (`best`). Chosen on the training
# half of squad-a's articles (bench/fit_evidence.py; docs/EVAL.md, "The evidence
# sentence"): on 494 questions neither the WEIGHTS nor the adapter saw, the evidence
# alone at the answer share 0.5, 10% of answers took two sentences, the answer rate
# rose from 0.836 to 0.874, answer accuracy from 0.872 to 0.884, and citation
# precision fell from 0.964 to 0.951.
SECOND_AT = 0.2

_WHEN = re.compile(r"\b(when|what year|which year|what century|what decade|what date|what day|what month)\b", re.I)
_COUNT = re.compile(r"\b(how many|how much|what percentage|what percent|how large|how long|how old|how far|how big|how high|what number|how fast)\b", re.I)
_WHO = re.compile(r"\b(who|whom|whose)\b", re.I)
_WHERE = re.compile(r"\bwhere\b", re.I)
_YEAR = re.compile(r"\b(1\d{3}|20\d{2})s?\b")
_DIGIT = re.compile(r"\d")
_NAME = re.compile(r"(?<!^)(?<![.!?]\s)\b[A-Z][a-z]+")  # a capitalised word that does not begin the sentence


@dataclass(frozen=True)
class Candidate:
    """One sentence of the passages: `n` is its passage's rank (the answer's [n]),
    `start:end` its place in the passage's text."""

    n: int
    start: int
    end: int
    text: str


def candidates(hits: Sequence[Hit]) -> list[Candidate]:
    """Every sentence of every passage, in rank and document order (a passage without
    a sentence break is one candidate)."""
    out = []
    for n, hit in enumerate(hits, start=1):
        text = hit.chunk.text
        for s, e in sentence_spans(text) or [(0, len(text))]:
            if text[s:e].strip():
                out.append(Candidate(n, s, e, text[s:e]))
    return out


def mass(asked: set[str], sentence: str, weights: Mapping[str, float] | None = None) -> float:
    """The question's terms (`asked`, ingest.lexical tokens) that `sentence` holds, by
    their tf-idf mass (idf²; 1 for a term without a weight)."""
    return sum((weights[t] if weights and t in weights else 1.0) ** 2 for t in asked & set(tokenize(sentence)))


def pairs(tokens: Sequence[str]) -> set[tuple[str, str]]:
    """The adjacent pairs of a token sequence."""
    return set(zip(tokens, tokens[1:]))


def features(question: str, cands: Sequence[Candidate], passage_scores: Sequence[float], cosines: Sequence[float] | None = None,
             weights: Mapping[str, float] | None = None) -> np.ndarray:
    """(len(cands), len(FEATURES)): each candidate's features, several relative to the
    question's other candidates. `passage_scores[n-1]` is passage n's retrieval score;
    `cosines` the candidates' similarity to the question (None: all 0, which a
    softmax over one question's candidates ignores)."""
    if not cands:
        return np.zeros((0, len(FEATURES)))
    asked_tokens = tokenize(question)
    asked, asked_pairs = set(asked_tokens), pairs(asked_tokens)
    total = max(mass(asked, " ".join(asked), weights), 1e-9)
    m = np.array([mass(asked, c.text, weights) for c in cands]) / total
    cos = np.zeros(len(cands)) if cosines is None else np.asarray(cosines, dtype=np.float64)
    scores = np.asarray(passage_scores, dtype=np.float64)
    z = (scores - scores.max()) / (scores.std() + 1e-6)
    asks = {"when": bool(_WHEN.search(question)), "count": bool(_COUNT.search(question)), "who": bool(_WHO.search(question)), "where": bool(_WHERE.search(question))}
    rows, seen = [], set()
    for c, mi, ci in zip(cands, m, cos):
        words = tokenize(c.text)
        named = any(t not in asked for w in _NAME.findall(c.text) for t in tokenize(w)[:1])
        rows.append([mi, float(mi >= m.max() - 1e-9), 1.0 / c.n, float(c.n == 1), z[c.n - 1], ci,
                     float(asks["when"] and bool(_YEAR.search(c.text))), float(asks["count"] and bool(_DIGIT.search(c.text))),
                     float(asks["who"] and named), float(asks["where"] and named),
                     np.log1p(len(set(words) - asked)), np.log1p(len(c.text.split())), float(c.n not in seen),
                     len(asked_pairs & pairs(words)) / max(len(asked_pairs), 1)])
        seen.add(c.n)
    return np.array(rows)


def scores(x: np.ndarray, weights: Mapping[str, float] = WEIGHTS) -> np.ndarray:
    """Each candidate's score: its features (rows of `x`) weighted by `weights`."""
    return x @ np.array([weights[f] for f in FEATURES]) if len(x) else np.zeros(0)


def ranking(question: str, hits: Sequence[Hit], term_weights: Mapping[str, float] | None = None, similarity: Similarity | None = None,
            scorer: Mapping[str, float] = WEIGHTS) -> tuple[list[Candidate], np.ndarray]:
    """The passages' sentences, best answer first (ties keep rank and document order),
    and each one's share: the scorer's probability that it is the one that answers
    (its softmax over the question's candidates, the model it was fitted as);
    `scorer`: the scorer's weights (a fit that is not yet WEIGHTS)."""
    cands = candidates(hits)
    if not cands:
        return [], np.zeros(0)
    cosines = similarity(question, [c.text for c in cands]) if similarity else None
    p = shares(scores(features(question, cands, [h.score for h in hits], cosines, term_weights), scorer))
    kept = originals(hits, cands)
    merged = np.zeros(len(cands))
    np.add.at(merged, kept, p)
    order = [i for i in np.argsort(-merged, kind="stable") if kept[i] == i]
    return [cands[i] for i in order], merged[order]


def originals(hits: Sequence[Hit], cands: Sequence[Candidate]) -> list[int]:
    """For each candidate, the index of the one it is a copy of (itself if none): the
    same sentence in another passage of the same file (overlapping chunks repeat their
    edges), or a piece of it that a chunk's edge cut off ("... the FAA also proposes
    to"). The copy's share is its original's: one sentence, one probability, instead of
    two halves that each look unsure. The original is the longer text, then the
    better-ranked passage's (pure)."""
    texts = [" ".join(c.text.split()) for c in cands]
    docs = [hits[c.n - 1].chunk.doc_id for c in cands]
    cut = [not hits[c.n - 1].chunk.text[: c.start].strip() or not hits[c.n - 1].chunk.text[c.end :].strip() for c in cands]
    out = list(range(len(cands)))
    for j in range(len(cands)):
        for i in sorted(range(len(cands)), key=lambda i: (-len(texts[i]), i)):
            if i != j and docs[i] == docs[j] and cands[i].n != cands[j].n and (
                    (texts[i] == texts[j] and i < j) or (cut[j] and len(texts[i]) > len(texts[j]) and texts[j] in texts[i])):
                out[j] = i
                break
    return out


def ranked(question: str, hits: Sequence[Hit], term_weights: Mapping[str, float] | None = None, similarity: Similarity | None = None) -> list[Candidate]:
    """The passages' sentences, best answer first (ranking without the shares)."""
    return ranking(question, hits, term_weights, similarity)[0]


def shares(s: np.ndarray) -> np.ndarray:
    """Scores as probabilities over one question's candidates (a softmax)."""
    if not len(s):
        return np.zeros(0)
    e = np.exp(s - s.max())
    return e / e.sum()


def best(hits: Sequence[Hit], cands: Sequence[Candidate], p: np.ndarray, second_at: float = SECOND_AT) -> tuple[Candidate | None, float]:
    """The answer's evidence from a ranking (`cands`, best first, and their shares `p`):
    the best sentence, or the best and the second together, as one Candidate spanning
    both, when the second is its neighbour in the same passage (nothing but space
    between them) with at least `second_at` of its share; and its share (the two's
    sum). (None, 0.0) without candidates."""
    if not len(cands):
        return None, 0.0
    first = cands[0]
    if len(cands) > 1 and p[1] >= second_at * p[0] and cands[1].n == first.n:
        a, b = sorted((first, cands[1]), key=lambda c: c.start)
        text = hits[first.n - 1].chunk.text
        if not text[a.end : b.start].strip():
            return Candidate(first.n, a.start, b.end, text[a.start : b.end]), float(p[0] + p[1])
    return first, float(p[0])


def quote(question: str, hits: Sequence[Hit], term_weights: Mapping[str, float] | None = None, similarity: Similarity | None = None) -> Citation | None:
    """The answer's evidence (`best`) as a Citation of its passage; None without passages."""
    found, _ = best(hits, *ranking(question, hits, term_weights, similarity))
    return citation(hits, found) if found else None


def citation(hits: Sequence[Hit], candidate: Candidate) -> Citation:
    """`candidate` (a sentence of `hits`) as a Citation [n] of its passage."""
    chunk = hits[candidate.n - 1].chunk
    return Citation(candidate.n, chunk.source, chunk.page, candidate.text, chunk.chunk_id, chunk.ocr)


def embedding_similarity(embedder) -> Similarity:
    """A Similarity from an ingest.embedder.Embedder (unit vectors: dot = cosine)."""

    def similarity(question: str, texts: list[str]) -> np.ndarray:
        return embedder.embed(texts) @ embedder.embed([question], query=True)[0] if texts else np.zeros(0)

    return similarity
