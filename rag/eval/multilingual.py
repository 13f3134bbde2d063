"""A judged retrieval set in languages the embedder does not know: passages of the
Debian Reference manual's German and French translations, and our own questions.

The manual (Debian packages debian-reference-de / debian-reference-fr, GPL-2+,
Osamu Aoki) ships its chapters as DocBook HTML. `html_blocks` reads one chapter into
prose paragraphs under their heading path, leaving out the table of contents, code
listings (<pre>), tables and navigation; `passages` packs the paragraphs of each
section into passages of roughly 40-200 words. The questions
(rag/eval/multilingual.jsonl) name their answer by an *anchor*, a short verbatim
substring of the passage, so the repository holds our questions and not the manual:
`resolve_anchors` turns anchors into judgements against whatever build of the text.

All pure functions: text in, data out; bench/multilingual.py does the I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

LANGS = ("de", "fr")
MIN_WORDS, MAX_WORDS = 40, 200
ANCHOR_WORDS = (5, 15)
QUESTIONS = Path(__file__).with_name("multilingual.jsonl")

# <div class="..."> whose contents are not prose: tables, the table of contents,
# lists of tables, page navigation.
SKIP_DIVS = frozenset({"toc", "table", "informaltable", "list-of-tables", "navheader", "navfooter"})
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5}


@dataclass(frozen=True)
class Block:
    """One prose paragraph and the headings it sits under (chapter first)."""

    path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    id: str
    lang: str
    question: str
    anchor: str


def normalise(text: str) -> str:
    """Whitespace collapsed (also the non-breaking spaces French puts before ':' '?' '!')."""
    return " ".join(text.split())


def fold(text: str) -> str:
    """The form anchors are matched in: whitespace collapsed, case folded, typographic
    apostrophes as plain ones (the French text mixes ’ and ')."""
    return normalise(text).casefold().replace("\u2019", "'").replace("\u2018", "'")


def words(text: str) -> int:
    return len(text.split())


class _Chapter(HTMLParser):
    """Collects <p> text and section headings, skipping <pre> and the SKIP_DIVS."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.path: list[tuple[int, str]] = []
        self.divs = 0
        self.skip_from: int | None = None  # div depth at which a skipped div opened
        self.pre = 0
        self.p: list[str] | None = None
        self.heading: tuple[int, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            self.divs += 1
            classes = set((dict(attrs).get("class") or "").split())
            if self.skip_from is None and classes & SKIP_DIVS:
                self.skip_from = self.divs
        elif tag == "pre":
            self.pre += 1
        elif self.skip_from is not None or self.pre:
            return
        elif tag in HEADINGS and "title" in (dict(attrs).get("class") or "").split():
            self.heading = (HEADINGS[tag], [])
        elif tag == "p" and self.heading is None:
            self.p = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self.skip_from == self.divs:
                self.skip_from = None
            self.divs -= 1
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in HEADINGS and self.heading is not None:
            level, parts = self.heading
            self.heading = None
            self.path = [(lv, t) for lv, t in self.path if lv < level] + [(level, normalise("".join(parts)))]
        elif tag == "p" and self.p is not None:
            text = normalise("".join(self.p))
            self.p = None
            if text:
                self.blocks.append(Block(tuple(t for _, t in self.path), text))

    def handle_data(self, data: str) -> None:
        if self.skip_from is not None or self.pre:
            return
        if self.heading is not None:
            self.heading[1].append(data)
        elif self.p is not None:
            self.p.append(data)


def html_blocks(html: str) -> list[Block]:
    """The prose paragraphs of one DocBook HTML chapter, in reading order."""
    parser = _Chapter()
    parser.feed(html)
    parser.close()
    return parser.blocks


_SENTENCE_END = re.compile(r"(?<=[.!?:;])\s+")


def split_long(text: str, max_words: int = MAX_WORDS) -> list[str]:
    """Cut a paragraph over `max_words` at sentence ends into pieces of at most `max_words`
    (a single sentence longer than that is cut between words)."""
    if words(text) <= max_words:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        tokens = sentence.split()
        while len(tokens) > max_words:
            pieces += [" ".join(current)] if current else []
            current = []
            pieces.append(" ".join(tokens[:max_words]))
            tokens = tokens[max_words:]
        if current and len(current) + len(tokens) > max_words:
            pieces.append(" ".join(current))
            current = []
        current += tokens
    return pieces + ([" ".join(current)] if current else [])


def passage_id(lang: str, text: str) -> str:
    """A stable id from the passage's own text (so it survives a rebuild that adds or
    drops other passages): the language, then 12 hex digits of its SHA-1."""
    return f"{lang}-{hashlib.sha1(normalise(text).encode('utf-8')).hexdigest()[:12]}"


def passages(blocks: list[Block], lang: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS) -> list[Passage]:
    """Pack consecutive paragraphs of one section into passages of min_words..max_words.

    A passage never crosses a heading. A section's short remainder joins the passage
    before it when that stays within max_words, and is dropped otherwise (a lone
    sentence under a heading is no passage to judge). Identical texts are kept once.

    Raises:
        ValueError: min_words and max_words out of order, naming both.
    """
    if not 0 < min_words <= max_words:
        raise ValueError(f"need 0 < min_words <= max_words; got min_words={min_words}, max_words={max_words}")
    out: list[tuple[tuple[str, ...], str]] = []

    def flush(path: tuple[str, ...], current: list[str]) -> None:
        text = " ".join(current)
        if words(text) >= min_words:
            out.append((path, text))
        elif text and out and out[-1][0] == path and words(out[-1][1]) + words(text) <= max_words:
            out[-1] = (path, out[-1][1] + " " + text)

    current: list[str] = []
    path: tuple[str, ...] = ()
    for block in blocks:
        if block.path != path:
            flush(path, current)
            current, path = [], block.path
        for piece in split_long(block.text, max_words):
            if current and words(" ".join(current)) + words(piece) > max_words:
                flush(path, current)
                current = []
            current.append(piece)
            if words(" ".join(current)) >= min_words:
                flush(path, current)
                current = []
    flush(path, current)
    seen: dict[str, Passage] = {}
    for p, text in out:
        pid = passage_id(lang, text)
        if pid in seen and seen[pid].text != text:
            raise ValueError(f"passage id collision: {pid} for two different texts")
        seen.setdefault(pid, Passage(pid, " > ".join(p), text))
    return list(seen.values())


def parse_questions(lines: list[str]) -> list[Question]:
    """One JSON object per line: id, lang, question, anchor (blank lines ignored).

    Raises:
        ValueError: a line that is not such an object, an unknown language, a repeated
            id, an anchor outside ANCHOR_WORDS words, or a question holding its anchor.
    """
    out: list[Question] = []
    ids: set[str] = set()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            q = Question(str(row["id"]), str(row["lang"]), normalise(row["question"]), normalise(row["anchor"]))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"line {n}: not a question object ({e}): {line[:80]!r}") from None
        low, high = ANCHOR_WORDS
        if q.lang not in LANGS:
            raise ValueError(f"line {n}: lang must be one of {LANGS}; got {q.lang!r}")
        if q.id in ids:
            raise ValueError(f"line {n}: id {q.id!r} repeated")
        if not low <= words(q.anchor) <= high:
            raise ValueError(f"line {n}: anchor must be {low}-{high} words; got {words(q.anchor)} in {q.anchor!r}")
        if fold(q.anchor) in fold(q.question):
            raise ValueError(f"line {n}: question {q.id} holds its anchor verbatim")
        ids.add(q.id)
        out.append(q)
    return out


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    return parse_questions(path.read_text(encoding="utf-8").splitlines())


class AnchorNotFoundError(ValueError):
    """An anchor that no passage contains: the question cannot be judged."""


def resolve_anchors(questions: list[Question], corpus: list[Passage]) -> dict[str, dict[str, int]]:
    """qrels: each question -> every passage holding its anchor (relevance 1).

    Matching ignores case, runs of whitespace and the apostrophe's typography (`fold`),
    nothing else: the anchor is verbatim.

    Raises:
        AnchorNotFoundError: naming every question whose anchor matches nothing.
    """
    texts = [(p.id, fold(p.text)) for p in corpus]
    qrels: dict[str, dict[str, int]] = {}
    missing = []
    for q in questions:
        anchor = fold(q.anchor)
        hits = {pid: 1 for pid, text in texts if anchor in text}
        if hits:
            qrels[q.id] = hits
        else:
            missing.append(f"{q.id} ({q.anchor!r})")
    if missing:
        raise AnchorNotFoundError(f"{len(missing)} anchor(s) match no passage: " + "; ".join(missing))
    return qrels
