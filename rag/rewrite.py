"""Follow-up questions become standalone queries before retrieval.

"and what about the second one?" retrieves nothing useful on its own; the LLM
rewrites it from the (token-bounded) chat history with `prompts/rewrite_*.txt`.
A rewrite is accepted only if it keeps every content word of the question and no
longer refers back ("it", "that", ...). Otherwise (a small model often fails) the
question is joined with the previous user question, which gives retrieval the
missing subject: a crude but dependable standalone query.
"""

from __future__ import annotations

import logging
import re

import prompts

from ingest.lexical import tokenize

from .generate import Generator, neutralise

log = logging.getLogger(__name__)

HISTORY_TURNS = 4
MAX_TURN_CHARS = 400
HISTORY_TOKENS = 384
REFERRING = frozenset("it its itself that this these those them they their there one ones he she him her".split())
_WORDS = re.compile(r"[a-z']+")


def format_history(history: list[dict], turns: int = HISTORY_TURNS, count=None, budget_tokens: int = HISTORY_TOKENS) -> str:
    """The last `turns` messages as 'User: ...' / 'Assistant: ...' lines, each cut
    short, oldest dropped first until the block fits `budget_tokens` (by `count`)."""
    lines = []
    for m in history[-turns:]:
        role = "User" if m.get("role") == "user" else "Assistant"
        text = " ".join(str(m.get("content", "")).split())
        if len(text) > MAX_TURN_CHARS:
            text = text[:MAX_TURN_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"{role}: {neutralise(text)}")
    count = count or (lambda t: len(t.split()))
    while len(lines) > 1 and count("\n".join(lines)) > budget_tokens:
        lines.pop(0)
    return "\n".join(lines)


def refers_back(text: str) -> bool:
    return any(w in REFERRING for w in _WORDS.findall(text.lower()))


def needs_context(question: str) -> bool:
    """Follow-ups that refer back or are too short to stand alone ("And parental leave?")."""
    return refers_back(question) or len(tokenize(question)) < 3


def rewrite(question: str, history: list[dict], generator: Generator | None, max_tokens: int = 48) -> str:
    """A standalone version of `question` for retrieval (the question itself when it
    already stands alone or there is no history)."""
    if not history or not needs_context(question):
        return question
    candidate = _llm_rewrite(question, history, generator, max_tokens) if generator is not None else ""
    if candidate and not needs_context(candidate) and set(tokenize(question)) <= set(tokenize(candidate)):
        return candidate
    previous = next((m.get("content", "") for m in reversed(history) if m.get("role") == "user"), "")
    return f"{question} {' '.join(str(previous).split())[:MAX_TURN_CHARS]}".strip()


def _llm_rewrite(question: str, history: list[dict], generator: Generator, max_tokens: int) -> str:
    prompt = prompts.render("rewrite_completion", history=format_history(history, count=generator.count_tokens), question=neutralise(question))
    try:
        text = "".join(generator.stream(prompt, max_tokens=max_tokens, stop=["\n", "Conversation:"]))
    except Exception as e:  # the rewrite is an optimisation; answering must go on
        log.warning("query rewrite failed (%s); joining the question with the previous one", e)
        return ""
    text = text.strip().strip('"').strip()
    return text if len(text) <= 4 * len(question) + 200 else ""
