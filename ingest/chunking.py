"""Sentence-aware, overlapping chunks of pages (pure functions).

Why these sizes: dense passage retrieval work (Karpukhin et al. 2020) found ~100-word
passages give focused vectors; all-MiniLM-L6-v2 reads at most 256 word pieces (about
180 English words), so a longer chunk's tail is invisible to dense search. The
default of 160 words with a 40-word overlap keeps a sentence that straddles a
boundary whole in at least one chunk. Text dense with numbers and codes runs to
more word pieces per word, so given the embedder's token counter, chunks are also
capped at its input limit: then every word is visible to dense search.

Every chunk is also bounded in characters, whatever the text: a 10 MB "word" or a
page of CJK text with no spaces is cut into pieces, so neither a chunk nor a call to
the tokenizer can grow with the file (a one-line 50 MB upload once drove the app to
8 GB inside a single tokenizer call).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator

from .types import Chunk, Page

DEFAULT_CHUNK_WORDS = 160
DEFAULT_OVERLAP_WORDS = 40
DEFAULT_CHUNK_CHARS = 2000  # 160 English words run to ~1,000; only odd text meets this cap
WORD_PIECE_CHARS = 48  # longer runs of non-space are cut into parts of this size

# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) when
# whitespace and an upper-case letter, digit or opening quote follow, except after an
# abbreviation ("e.g. Church", "et al. (2020)"); a blank line or a line starting with a
# list marker also ends one.
_SENTENCE_END = re.compile(
    r"""(?<=[.!?])["')\]]*\s+(?=["'(\[]?[A-Z0-9])"""
    r"|\n\s*\n"
    r"|\n(?=\s*(?:[-*•]|\d+[.)])\s)"
)
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|vs|cf|approx|max|min|figs?|eqs?|dr|mr|mrs|ms|jr|pp|ca|al)\.$", re.I)
_WORD = re.compile(r"\S+")
Counter = Callable[[str], int]  # text -> number of tokens (the embedder's tokenizer)


def validate(size: int, overlap: int) -> None:
    """Raise ValueError naming the values when chunk parameters make no sense."""
    if size < 10:
        raise ValueError(f"chunk size must be at least 10 words; got size={size}")
    if overlap < 0 or overlap >= size:
        raise ValueError(f"overlap must be between 0 and the chunk size; got overlap={overlap}, size={size}")


def iter_sentences(text: str) -> Iterator[tuple[int, int]]:
    """Character spans of the sentences of `text`, leading/trailing space excluded,
    one at a time (a 10 MB text need not hold a million spans at once)."""
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        if text[m.start() - 1 : m.start()] == "." and _ABBREVIATION.search(text, max(pos, m.start() - 8), m.start()):
            continue
        yield from _trimmed(text, pos, m.start())
        pos = m.end()
    yield from _trimmed(text, pos, len(text))


def _trimmed(text: str, s: int, e: int) -> Iterator[tuple[int, int]]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    if e > s:
        yield s, e


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, leading/trailing space excluded."""
    return list(iter_sentences(text))


def _words(text: str, s: int, e: int, piece: int) -> Iterator[tuple[int, int]]:
    """Word spans in text[s:e]. A run of non-space longer than `piece` characters (a
    10 MB "word", a base64 blob, CJK text without spaces) is cut into `piece`-character
    parts that each count as a word, so no chunk, and no tokenizer call, is unbounded."""
    for m in _WORD.finditer(text, s, e):
        a, b = m.span()
        while b - a > piece:
            yield a, a + piece
            a += piece
        yield a, b


def _parts(text: str, s: int, e: int, piece: int, max_words: int, max_chars: int) -> Iterator[tuple[int, int, int]]:
    """text[s:e] cut at word boundaries into (start, end, words) parts of at most
    `max_words` words and `max_chars` characters."""
    start, end, n = -1, -1, 0
    for a, b in _words(text, s, e, piece):
        if start >= 0 and (n == max_words or b - start > max_chars):
            yield start, end, n
            start, n = -1, 0
        if start < 0:
            start = a
        end, n = b, n + 1
    if start >= 0:
        yield start, end, n


def _units(text: str, size: int, count: Counter | None, max_tokens: int | None, max_chars: int) -> Iterator[tuple[int, int, int, int]]:
    """Sentences as (start, end, words, tokens). A sentence longer than `size` words
    or `max_chars` characters, or than `max_tokens` by `count`, is cut at word
    boundaries into even parts, so that no unit exceeds a chunk; `count` only ever
    sees one such part. Without `count`, tokens are reported as 0."""
    piece = min(WORD_PIECE_CHARS, max_chars)
    for s, e in iter_sentences(text):
        n = sum(1 for _ in _words(text, s, e, piece))
        step = math.ceil(n / max(math.ceil(n / size), math.ceil((e - s) / max_chars)))
        for a, b, w in _parts(text, s, e, piece, step, max_chars):
            tokens = count(text[a:b]) if count else 0
            if not (count and max_tokens and tokens > max_tokens):
                yield a, b, w, tokens
                continue
            for a2, b2, w2 in _parts(text, a, b, piece, math.ceil(w / math.ceil(tokens / max_tokens)), max_chars):
                yield a2, b2, w2, count(text[a2:b2])


class _Lazy:
    """A list filled from an iterator only as far as it is read."""

    def __init__(self, items: Iterator):
        self._items, self._seen = items, []

    def has(self, i: int) -> bool:
        while len(self._seen) <= i:
            item = next(self._items, None)
            if item is None:
                return False
            self._seen.append(item)
        return True

    def __getitem__(self, i: int):
        return self._seen[i]


def chunk_text(
    text: str,
    size: int = DEFAULT_CHUNK_WORDS,
    overlap: int = DEFAULT_OVERLAP_WORDS,
    count: Counter | None = None,
    max_tokens: int | None = None,
    max_chars: int = DEFAULT_CHUNK_CHARS,
    limit: int | None = None,
) -> list[tuple[int, int]]:
    """Pack whole sentences into spans of at most `size` words and `max_chars`
    characters (and, given a token `count`, at most `max_tokens` tokens: the
    embedder's input limit).

    Each next span starts at the latest sentence boundary that repeats at most
    `overlap` words of the previous span, in proportion when a span is cut short by
    characters or tokens (and always moves forward). No span is emitted that the
    previous one already covers entirely. With `limit`, work stops after
    `limit` + 1 spans: enough for the caller to see that the limit is passed.
    """
    validate(size, overlap)
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1; got max_chars={max_chars}")
    token_cap = max_tokens if count and max_tokens else math.inf
    units = _Lazy(_units(text, size, count, max_tokens, max_chars))
    spans: list[tuple[int, int]] = []
    i = 0
    while units.has(i):
        words, tokens, j = 0, 0, i
        while units.has(j) and (
            j == i or (words + units[j][2] <= size and tokens + units[j][3] <= token_cap and units[j][1] - units[i][0] <= max_chars)
        ):
            words += units[j][2]
            tokens += units[j][3]
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if not units.has(j) or (limit is not None and len(spans) > limit):
            break
        back, k, budget = 0, j, overlap * words // size
        while k - 1 > i and back + units[k - 1][2] <= budget:
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
    max_chars: int = DEFAULT_CHUNK_CHARS,
    limit: int | None = None,
) -> list[Chunk]:
    """Chunk every page separately, so every chunk has exactly one page to cite.

    With `limit`, at most `limit` + 1 chunks are made: a caller that allows `limit`
    learns that a file passes it without chunking (and tokenizing) all of it.
    """
    chunks = []
    seen: set[str] = set()
    for page in pages:
        left = None if limit is None else limit - len(chunks)
        for start, end in chunk_text(page.text, size, overlap, count, max_tokens, max_chars, left):
            cid = chunk_id(doc_id, page.page, start)
            n = 1
            while cid in seen:  # Markdown sections of one page each start at offset 0
                n += 1
                cid = f"{chunk_id(doc_id, page.page, start)}-{n}"
            seen.add(cid)
            chunks.append(Chunk(cid, doc_id, page.source, page.page, start, end, page.text[start:end], page.section, ocr=page.ocr))
        if limit is not None and len(chunks) > limit:
            break
    return chunks
