"""Sentence-aware, overlapping chunks of pages (pure functions).

Why these sizes: dense passage retrieval work (Karpukhin et al. 2020) found ~100-word
passages give focused vectors; all-MiniLM-L6-v2 reads at most 256 word pieces (about
180 English words), so a longer chunk's tail is invisible to dense search. The
default of 160 words with a 40-word overlap keeps a sentence that straddles a
boundary whole in at least one chunk. Text dense with numbers and codes runs to
more word pieces per word, so given the embedder's token counter, chunks are also
capped at its input limit: then every word is visible to dense search.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable

from .types import Chunk, Page

DEFAULT_CHUNK_WORDS = 160
DEFAULT_OVERLAP_WORDS = 40

# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) when
# whitespace and an upper-case letter, digit or opening quote follow; a blank line or
# a line starting with a list marker also ends one.
_SENTENCE_END = re.compile(
    r"""(?<=[.!?])["')\]]*\s+(?=["'(\[]?[A-Z0-9])"""
    r"|\n\s*\n"
    r"|\n(?=\s*(?:[-*•]|\d+[.)])\s)"
)
_WORD = re.compile(r"\S+")
Counter = Callable[[str], int]  # text -> number of tokens (the embedder's tokenizer)


def validate(size: int, overlap: int) -> None:
    """Raise ValueError naming the values when chunk parameters make no sense."""
    if size < 10:
        raise ValueError(f"chunk size must be at least 10 words; got size={size}")
    if overlap < 0 or overlap >= size:
        raise ValueError(f"overlap must be between 0 and the chunk size; got overlap={overlap}, size={size}")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, leading/trailing space excluded."""
    spans, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for s, e in spans:
        piece = text[s:e]
        ls = len(piece) - len(piece.lstrip())
        rs = len(piece.rstrip())
        if rs > ls:
            out.append((s + ls, s + rs))
    return out


def _units(text: str, size: int, count: Counter | None, max_tokens: int | None) -> list[tuple[int, int, int, int]]:
    """Sentences as (start, end, words, tokens). A sentence longer than `size` words,
    or than `max_tokens` by `count`, is cut at word boundaries into even parts, so
    that no unit exceeds a chunk. Without `count`, tokens are reported as 0."""
    units = []
    for s, e in sentence_spans(text):
        words = list(_WORD.finditer(text, s, e))
        tokens = count(text[s:e]) if count else 0
        parts = max(math.ceil(len(words) / size), math.ceil(tokens / max_tokens) if count and max_tokens else 1)
        step = math.ceil(len(words) / parts)
        for i in range(0, len(words), step):
            part = words[i : i + step]
            piece = text[part[0].start() : part[-1].end()]
            units.append((part[0].start(), part[-1].end(), len(part), count(piece) if count and parts > 1 else tokens))
    return units


def chunk_text(
    text: str,
    size: int = DEFAULT_CHUNK_WORDS,
    overlap: int = DEFAULT_OVERLAP_WORDS,
    count: Counter | None = None,
    max_tokens: int | None = None,
) -> list[tuple[int, int]]:
    """Pack whole sentences into spans of at most `size` words (and, given a token
    `count`, at most `max_tokens` tokens: the embedder's input limit).

    Each next span starts at the latest sentence boundary that repeats at most
    `overlap` words of the previous span (and always moves forward). No span is
    emitted that the previous one already covers entirely.
    """
    validate(size, overlap)
    token_cap = max_tokens if count and max_tokens else math.inf
    units = _units(text, size, count, max_tokens)
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        words, tokens, j = 0, 0, i
        while j < len(units) and words + units[j][2] <= size and (j == i or tokens + units[j][3] <= token_cap):
            words += units[j][2]
            tokens += units[j][3]
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j == len(units):
            break
        back, k = 0, j
        while k - 1 > i and back + units[k - 1][2] <= overlap:
            back += units[k - 1][2]
            k -= 1
        i = k
    return spans


def chunk_id(doc_id: str, page: int, start: int) -> str:
    """Stable, readable id: the same content always yields the same ids."""
    return f"{doc_id[:12]}-p{page}-{start}"


def chunk_pages(
    pages: Iterable[Page],
    doc_id: str,
    size: int = DEFAULT_CHUNK_WORDS,
    overlap: int = DEFAULT_OVERLAP_WORDS,
    count: Counter | None = None,
    max_tokens: int | None = None,
) -> list[Chunk]:
    """Chunk every page separately, so every chunk has exactly one page to cite."""
    chunks = []
    seen: set[str] = set()
    for page in pages:
        for start, end in chunk_text(page.text, size, overlap, count, max_tokens):
            cid = chunk_id(doc_id, page.page, start)
            n = 1
            while cid in seen:  # Markdown sections of one page each start at offset 0
                n += 1
                cid = f"{chunk_id(doc_id, page.page, start)}-{n}"
            seen.add(cid)
            chunks.append(Chunk(cid, doc_id, page.source, page.page, start, end, page.text[start:end], page.section))
    return chunks
