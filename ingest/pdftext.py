"""Repair the artefacts of PDF text extraction, before chunking: pure functions over pages.

A text layer holds things a reader of the page does not read as prose, and that the
indexes would otherwise match and quote:

- running headers and footers, repeated on most pages ("47699 Federal Register /
  Vol. 85 ..."; "Official - Subject to Final Review") and bare page numbers;
- line-number gutters: "1 2 3 ... 25" down the margin of a court transcript, which
  come out as a run of lone numbers or as a number before every line;
- letter-spaced words, where a drop capital or wide tracking splits "The" into "T he".

Each rule is conservative: text is removed only on evidence from the whole document
(a line repeated at the top or bottom of at least half the pages; numbers that count
1, 2, 3 down consecutive lines), and a split word is joined only when the joined word
occurs elsewhere in the same document more often than the fragment does. What is
removed is returned with the page it came from, so a caller can log it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

ZONE_LINES = 3  # lines at the top and at the bottom of a page where headers and footers live
MIN_REPEAT_PAGES = 2  # a one-page document has no running header to detect
KEY_WORDS = 6  # words of a line that identify it as a running header (see key)
MIN_GUTTER_RUN = 5  # lone numbers counting 1, 2, 3, ... down at least this many lines
MIN_PREFIX_RUN = 10  # "N text" lines counting up from 1: a numbered list is rarely this long
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*")
_LONE_NUMBER = re.compile(r"^\s*(\d{1,3})\s*$")
_NUMBERED_LINE = re.compile(r"^\s*(\d{1,3})(?:\s+(.*))?$")
_PAGE_NUMBER = re.compile(r"^\W*(?:page\s+)?(\d{1,4})(?:\s+of\s+\d+)?\W*$", re.IGNORECASE)
# a capital letter alone (not the words "A" and "I", not an initial "J.") and a lower-case fragment
_SPLIT_WORD = re.compile(r"(?<![\w.])([B-HJ-Z]) ([a-z]{2,})\b")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Removed:
    """A line taken out of `page` (1-based index into the pages given), and why."""

    page: int
    line: str
    why: str


def repair(texts: list[str]) -> tuple[list[str], list[Removed]]:
    """The pages' texts with running headers/footers, page numbers and line-number
    gutters removed and letter-spaced words joined; plus what was removed.

    Pages keep their order and count; a page may become empty (a page that held
    only a header), which callers treat like any page without text.
    """
    removed: list[Removed] = []
    texts = strip_running_lines(texts, removed)
    # numbers before lines are a gutter only where most pages have them: one page of a
    # numbered list (a table of contents) keeps its numbers
    numbered = sum(bool(_counting_runs(t.split("\n"), _NUMBERED_LINE, MIN_PREFIX_RUN, from_one=True)) for t in texts)
    prefix = numbered >= max(1, math.ceil(sum(1 for t in texts if t.strip()) / 2))
    texts = [strip_gutter(t, i + 1, removed, prefix=prefix) for i, t in enumerate(texts)]
    vocabulary = word_counts(texts)
    return [join_split_words(t, vocabulary) for t in texts], removed


def mask(line: str) -> str:
    """The line with every number (also "2.3.59.1", "12-12-2022") as "#" and spaces
    collapsed: a header that carries the page or section number masks to one string."""
    return " ".join(_NUMBER.sub("#", line).split())


def _zone(lines: list[str]) -> set[int]:
    """Indexes of the first and last ZONE_LINES non-empty lines."""
    return set(_sides(lines))


def _sides(lines: list[str]) -> dict[int, str]:
    """{index: "top" or "bottom"} of the first and last ZONE_LINES non-empty lines."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return {**{i: "bottom" for i in filled[-ZONE_LINES:]}, **{i: "top" for i in filled[:ZONE_LINES]}}


def repeated_lines(texts: list[str]) -> set[tuple[str, str]]:
    """("top" or "bottom", key) of lines (see `key`) found in that zone of at least
    half the pages, or of half the odd or half the even pages (books alternate their
    running heads), and of MIN_REPEAT_PAGES: the running headers and footers.

    A line must hold a letter: a line of bare numbers (a section number, a date at
    the top of many pages) is content, and page numbers have their own rule.
    """
    filled = [t for t in texts if t.strip()]
    counts: list[Counter[str]] = [Counter(), Counter(), Counter()]  # all, odd, even pages
    for i, text in enumerate(filled):
        lines = text.split("\n")
        keys = {(side, key(lines[j])) for j, side in _sides(lines).items()}
        counts[0].update(keys)
        counts[1 + i % 2].update(keys)
    sizes = (len(filled), (len(filled) + 1) // 2, len(filled) // 2)
    found = set()
    for seen, size in zip(counts, sizes):
        need = max(MIN_REPEAT_PAGES, math.ceil(size / 2))
        found |= {k for k, n in seen.items() if n >= need and _WORD.search(k[1])}
    return found


def key(line: str) -> str:
    """What makes two header lines the same: their first KEY_WORDS masked words, so
    a footer that extraction ran together with the next line on some pages
    ("... 06AUP1jbell on DSKJ...") still counts as a repeat."""
    return " ".join(mask(line).split()[:KEY_WORDS])


def page_number_lines(texts: list[str]) -> dict[int, int]:
    """{page index: line index} of a bare page number ("12", "- 12 -", "Page 12 of 40")
    at the top or bottom of a page, where the printed number minus the page's position
    is one constant on at least half the pages (so "3" on page 3, "4" on page 4)."""
    candidates: dict[int, list[tuple[int, int]]] = {}
    offsets: Counter[int] = Counter()
    for p, text in enumerate(texts):
        lines = text.split("\n")
        for i in sorted(_zone(lines)):
            m = _PAGE_NUMBER.match(lines[i])
            if m:
                candidates.setdefault(p, []).append((i, int(m.group(1)) - p))
        offsets.update({offset for _, offset in candidates.get(p, [])})
    filled = sum(1 for t in texts if t.strip())
    if not offsets:
        return {}
    offset, n = offsets.most_common(1)[0]
    if n < max(MIN_REPEAT_PAGES, math.ceil(filled / 2)):
        return {}
    return {p: i for p, found in candidates.items() for i, o in found if o == offset}


def strip_running_lines(texts: list[str], removed: list[Removed]) -> list[str]:
    """Remove running headers/footers and page numbers from the pages' top and bottom zones."""
    repeated = repeated_lines(texts)
    numbers = page_number_lines(texts)
    out = []
    for p, text in enumerate(texts):
        lines = text.split("\n")
        sides = _sides(lines)
        keep = []
        for i, line in enumerate(lines):
            if i in sides and (sides[i], key(line)) in repeated:
                removed.append(Removed(p + 1, line, "running header/footer"))
            elif numbers.get(p) == i:
                removed.append(Removed(p + 1, line, "page number"))
            else:
                keep.append(line)
        out.append("\n".join(keep))
    return out


def strip_gutter(text: str, page: int, removed: list[Removed], *, prefix: bool = True) -> str:
    """Remove line numbers: a run of MIN_GUTTER_RUN or more lone numbers counting up
    by one (the gutter read as a column), and, with `prefix`, numbers counting up
    from 1 before MIN_PREFIX_RUN or more consecutive lines (the gutter read beside
    each line)."""
    lines = text.split("\n")
    drop: set[int] = set()
    numbered: set[int] = set()
    for start, end in _counting_runs(lines, _LONE_NUMBER, MIN_GUTTER_RUN, from_one=False):
        drop.update(range(start, end))
    for start, end in _counting_runs(lines, _NUMBERED_LINE, MIN_PREFIX_RUN, from_one=True) if prefix else []:
        numbered.update(i for i in range(start, end) if i not in drop and lines[i].strip())
    if not drop and not numbered:
        return text
    out = []
    for i, line in enumerate(lines):
        if i in drop:
            if line.strip():
                removed.append(Removed(page, line, "line-number gutter"))
        elif i in numbered:
            number, rest = _NUMBERED_LINE.match(line).groups()
            removed.append(Removed(page, number, "line number"))
            if rest:
                out.append(rest)
        else:
            out.append(line)
    return "\n".join(out)


def _counting_runs(lines: list[str], pattern: re.Pattern, min_run: int, *, from_one: bool) -> list[tuple[int, int]]:
    """(start, end) line ranges whose lines match `pattern` with numbers n, n+1, n+2, ...
    (empty lines between them allowed), at least `min_run` numbers long."""
    runs, start, last, count, end = [], None, None, 0, 0
    for i, line in enumerate(lines + ["\x00"]):  # a sentinel closes the last run
        if not line.strip():
            continue
        m = pattern.match(line)
        n = int(m.group(1)) if m else None
        if n is not None and last is not None and n == last + 1:
            last, count, end = n, count + 1, i + 1
            continue
        if start is not None and count >= min_run:
            runs.append((start, end))
        if n is not None and (not from_one or n == 1):
            start, last, count, end = i, n, 1, i + 1
        else:
            start, last, count = None, None, 0
    return runs


def word_counts(texts: list[str]) -> Counter[str]:
    """Lower-cased words of the pages and how often each occurs."""
    return Counter(w.lower() for t in texts for w in _WORD.findall(t))


def join_split_words(text: str, vocabulary: Counter[str]) -> str:
    """"T he" -> "The" where the joined word occurs in the document (twice or more) more
    often than the fragment does: "The" is common and "he" rarer, while "S and" stays,
    since "and" is far more frequent than "sand". "A" and "I" are words, never joined."""

    def join(m: re.Match) -> str:
        joined = (m.group(1) + m.group(2)).lower()
        if vocabulary[joined] >= 2 and vocabulary[joined] > vocabulary[m.group(2)]:
            return m.group(1) + m.group(2)
        return m.group(0)

    return _SPLIT_WORD.sub(join, text)
