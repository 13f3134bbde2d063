"""Follow-up questions become standalone queries before retrieval.

"and what about the second one?" retrieves nothing useful on its own; the LLM
rewrites it from the (token-bounded) chat history with `prompts/rewrite_*.txt`.
An empty, runaway or failed rewrite falls back to the raw question.
"""

from __future__ import annotations

import logging

import prompts

from .generate import Generator, neutralise

log = logging.getLogger(__name__)

HISTORY_TURNS = 4
MAX_TURN_CHARS = 400


def format_history(history: list[dict], turns: int = HISTORY_TURNS) -> str:
    """The last `turns` messages as 'User: ...' / 'Assistant: ...' lines, each cut short."""
    lines = []
    for m in history[-turns:]:
        role = "User" if m.get("role") == "user" else "Assistant"
        text = " ".join(str(m.get("content", "")).split())
        if len(text) > MAX_TURN_CHARS:
            text = text[:MAX_TURN_CHARS].rsplit(" ", 1)[0] + " …"
        lines.append(f"{role}: {neutralise(text)}")
    return "\n".join(lines)


def rewrite(question: str, history: list[dict], generator: Generator | None, max_tokens: int = 48) -> str:
    """A standalone version of `question`, or `question` itself when there is no history,
    no generator, or the model's rewrite is unusable."""
    if not history or generator is None:
        return question
    prompt = prompts.render("rewrite_completion", history=format_history(history), question=neutralise(question))
    try:
        text = "".join(generator.stream(prompt, max_tokens=max_tokens, stop=["\n", "Conversation:"]))
    except Exception as e:  # the rewrite is an optimisation; answering must go on
        log.warning("query rewrite failed (%s); using the question as asked", e)
        return question
    text = text.strip().strip('"').strip()
    if not text or len(text) > 4 * len(question) + 200:
        return question
    return text
