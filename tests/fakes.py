"""Fast, exact stand-ins for the models, for pipeline tests (real models have their own tests)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator

import numpy as np

from ingest.lexical import tokenize


class HashEmbedder:
    """Bag of stemmed words hashed into `dim` buckets, L2-normalised.

    Texts sharing words get similar vectors, so dense search behaves sensibly on
    tiny corpora, deterministically and in microseconds."""

    name = "fake-hash-embedder"

    def __init__(self, dim: int = 512):
        self.dim = dim

    def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in tokenize(text):
                out[i, int(hashlib.md5(tok.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


class ScriptedGenerator:
    """Answers from a script: the first (pattern, reply) whose pattern occurs in the
    prompt's last question wins; replies stream word by word. Records every prompt."""

    name = "fake-scripted-llm"
    chat = False

    def __init__(self, script: list[tuple[str, str]] | None = None, default: str = "The documents do not say.", adapter: str = ""):
        self.adapter = adapter  # a name here: the prompt style and refusal rule of a model with the answering adapter
        self.script = script or []
        self.default = default
        self.prompts: list = []
        self.choices: list = []  # the rag.verbatim.Choices of each adapter prompt

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, prompt, *, max_tokens: int, stop: list[str], choices=None) -> Iterator[str]:
        self.prompts.append(prompt)
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        questions = re.findall(r"(?:Question|Last question): (.*)", text)
        last = questions[-1] if questions else text
        reply = next((r for pattern, r in self.script if pattern.lower() in last.lower()), self.default)
        if choices is not None:  # the script's refusal stands for one the real decoder was sure of
            self.choices.append(choices)
            if reply == choices.refusal:
                choices.decision.refusal_p, choices.decision.refused = 1.0, True
        for i, word in enumerate(reply.split(" ")[:max_tokens]):
            yield word if i == 0 else " " + word


class QuestionWriter:
    """A stand-in for the LLM that writes training questions (rag.tune): it asks about
    the passage's last word (real Gemma is tested in test_llm)."""

    name, chat = "fake-question-writer", False

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, prompt: str, *, max_tokens: int, stop: list[str], choices=None) -> Iterator[str]:
        passage = re.findall(r"Passage: (.*)", prompt)[-1]
        yield f"What does the guide say about {passage.split()[-1].strip('.')}?"


class FakeReranker:
    """Scores each text with `score_of(text)`, by default its length in characters, so
    the order it imposes is known in advance. Records every (query, texts) it is asked."""

    name = "fake-reranker"

    def __init__(self, score_of: Callable[[str], float] = len):
        self.score_of = score_of
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, query: str, texts: list[str]) -> list[float]:
        self.calls.append((query, list(texts)))
        return [float(self.score_of(t)) for t in texts]


# Gate thresholds belong to an embedder (docs/GATE.md calibrates MiniLM's). Hashed bags of
# words give lower cosines for a related pair and ~0 for an unrelated one; this is theirs.
HASH_GATE = {"gate_threshold": 0.15}
