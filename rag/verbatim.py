"""Verbatim answers from the answering adapter: decoding held to the sources' own words.

The adapter was trained to answer with one clause-run of one source, verbatim, ending
with that source's number ("... in Santa Clara, California [2]."), or with the refusal
(rag.tune.grounded). Left free, it sometimes strays from the source text, and it
refuses too often: most answers and the refusal begin with "The", and wherever the
model is unsure which sentence holds the answer, greedy decoding picks the refusal
(docs/EVAL.md). So the decoder is given the lines the adapter may write: the answer's
evidence (rag.evidence.best: the sentence it ranks first, or that one and its
neighbour), whole, with its source's number, and the refusal; what the model decides
is whether to refuse. Before the first token,
the model's probability of the refusal (normalised over the allowed tokens) decides:
it refuses only at REFUSE_AT or above. Then at each step only a token that continues
one of the lines is allowed and the likeliest is taken (greedy inside a token trie).

Pure except `Decoder.__call__`'s numpy: no model here; rag.generate tokenises the lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ingest.chunking import sentence_spans

# The refusal's probability at which the adapter's refusal is trusted. Calibrated on
# questions of the training half of squad-a's articles the adapter was not trained on
# and those questions asked of SciFact (bench/calibrate_refusal.py, docs/EVAL.md).
REFUSE_AT = 0.95

# The share the answer's evidence (rag.evidence.best) needs for the adapter to answer
# with it: below, no sentence stands out and the answer is the refusal.
# Calibrated with REFUSE_AT (bench/calibrate_refusal.py, docs/EVAL.md).
ANSWER_AT = 0.45

# Where a long sentence may be cut: after a comma, semicolon or colon (the clauses
# the adapter's targets were cut to, rag.tune.grounded.target_sentence).
CLAUSE = re.compile(r"(?<=[,;:])\s+")
_SOURCE_LINE = re.compile(r"Source \[(\d+)\] \(.*?\): ")


def with_citation(sentence: str, n: int) -> str:
    """The answer line: the sentence without its closing stop, the marker, a stop."""
    return f"{sentence.rstrip().rstrip('.!?…').rstrip()} [{n}]."


def prompt_sources(prompt: str) -> dict[int, str]:
    """Source number -> the text the prompt shows for it (its last block of sources,
    after any worked example)."""
    block = prompt.rsplit("\n\n", 1)[-1]
    out = {}
    for line in block.split("\n"):
        m = _SOURCE_LINE.match(line)
        if m:
            out[int(m.group(1))] = line[m.end() :]
    return out


def sentences(text: str) -> list[str]:
    """The sentences of a source as the prompt shows it ("…" marks text that
    rag.generate.focus left out: no sentence runs across it)."""
    pieces = (p.strip() for s, e in sentence_spans(text) or [(0, len(text))] for p in text[s:e].split("…"))
    return [p for p in pieces if p]


def answer_lines(sources: dict[int, str], min_words: int = 3) -> list[str]:
    """Every line the adapter may answer with: each run of whole clauses of each
    sentence of each source (of at least `min_words` words), with the source's
    number, once each, in source order."""
    out: dict[str, None] = {}
    for n, text in sources.items():
        for sentence in sentences(text):
            clauses = CLAUSE.split(sentence)
            for lo in range(len(clauses)):
                for hi in range(lo, len(clauses)):
                    span = " ".join(clauses[lo : hi + 1]).rstrip(",;:").strip()
                    if len(span.split()) >= min_words:
                        out[with_citation(span, n)] = None
    return list(out)


def trie(sequences: list[list[int]]) -> dict:
    """Token trie: each node maps a next token to its child node; {} ends a sequence."""
    root: dict = {}
    for seq in sequences:
        node = root
        for token in seq:
            node = node.setdefault(token, {})
    return root


@dataclass
class Decision:
    """What the decoder decided, for the answer's notes and the calibration."""

    refusal_p: float | None = None  # the refusal's probability before the first token (Decoder.weigh); None: not weighed
    refused: bool = False


@dataclass
class Choices:
    """The lines an answer may be (answer_lines), the refusal, and the lines the
    refusal is weighed against (`pool`; [] : `lines`), for one generation; the
    generator records its `decision` here."""

    lines: list[str]
    refusal: str
    threshold: float = REFUSE_AT
    pool: list[str] = field(default_factory=list)
    decision: Decision = field(default_factory=Decision)


def choices_for(prompt: str, refusal: str, threshold: float = REFUSE_AT, kept: list[tuple[int, str]] | None = None) -> Choices:
    """The Choices of an adapter prompt (prompts/answer_adapter.txt): the lines of the
    `kept` texts whole (source number, text: the pipeline keeps rag.evidence.best's
    evidence, for the adapter picked worse sentences than its ranking when left to choose
    and cut answers off when left to shorten them, assets/answerer-lora.md; None: every
    clause run of every sentence the prompt shows), the refusal weighed against every
    line of the prompt's sources."""
    pool = answer_lines(prompt_sources(prompt))
    if not kept:
        return Choices(pool, refusal, threshold)
    lines = list(dict.fromkeys(with_citation(" ".join(s.split()), n) for n, s in kept))
    return Choices(lines, refusal, threshold, pool)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max())
    return z / z.sum()


class Decoder:
    """A llama.cpp logits processor that keeps greedy decoding inside `answers` (token
    sequences) or `refusal`. It makes every choice itself (one finite logit per call)
    and follows it, so it needs no view of the tokens generated; `end` is forced once a
    sequence is complete.

    The refusal is weighed once, before the first token (`weigh`, from the logits at
    the answer's start and after the refusal's first token): it is taken when its
    probability reaches `threshold`. Otherwise it is out, and its share of a first
    token it has in common with answers ("The") is taken off that token, so the
    refusal cannot draw the answer into sentences that begin like it. Without
    `weigh`, the decoder answers."""

    def __init__(self, answers: list[list[int]], refusal: list[int], end: int, threshold: float = REFUSE_AT, pool: list[list[int]] | None = None, decision: Decision | None = None):
        self.node: dict | None = trie(answers)
        self.pool = trie(pool) if pool else self.node  # the lines the refusal is weighed against
        self.refusal = list(refusal)
        self.end = end
        self.threshold = threshold
        self.step = 0
        self.first_share: dict[int, float] = {}  # first token -> the answers' own share of its probability
        self.decision = decision or Decision()

    def weigh(self, first: np.ndarray, second: np.ndarray) -> None:
        """Decide the refusal from the logits over the vocabulary at the answer's start
        (`first`) and after the refusal's first token (`second`): its probability is
        that of its first token among the allowed first tokens, times that of its second
        among the tokens allowed after the first (an upper bound where later tokens are
        shared with an answer)."""
        r0, r1 = self.refusal[0], self.refusal[1]
        starts = list(dict.fromkeys([*self.pool, r0]))
        p0 = dict(zip(starts, softmax(first[starts])))
        after = self.pool.get(r0, {})
        nexts = list(dict.fromkeys([*after, r1]))
        p1 = dict(zip(nexts, softmax(second[nexts])))
        p = self.decision.refusal_p = float(p0[r0] * p1[r1])
        self.decision.refused = p >= self.threshold or not self.node
        self.first_share = {t: float(v) for t, v in p0.items()}
        self.first_share[r0] -= p

    def choose(self, scores: np.ndarray) -> int:
        """The next token, from the model's logits over the whole vocabulary."""
        if self.decision.refused:
            return self.refusal[self.step] if self.step < len(self.refusal) else self.end
        allowed = list(self.node) if self.node else []
        if not allowed:
            return self.end
        if self.step == 0 and self.first_share:
            return max(allowed, key=lambda t: self.first_share.get(t, 0.0))
        return allowed[int(np.argmax(scores[allowed]))]

    def __call__(self, input_ids, scores: np.ndarray) -> np.ndarray:
        token = self.choose(scores)
        self.node = self.node.get(token) if self.node else None
        self.step += 1
        out = np.full_like(scores, -np.inf)
        out[token] = 0.0
        return out
