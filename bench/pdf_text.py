"""PDF text repair (ingest.pdftext): closer to the page, and no body words lost -> docs/BENCH.md.

    .venv/bin/python bench/pdf_text.py        # about 30 s on 2 cores (the 400-page manual)

For each PDF in --data DIR/pdfs (the team keeps copies in ../shared/data/pdfs) the text
layer is read as ingest reads it (pypdf + clean_text), once as it was before repair
and once through ingest.pdftext.repair. Two checks:

- against an expected text: docling's 5-page sample has docling's markdown of it
  (groundtruth/multi_page.docling.md); markdown syntax is stripped and both sides are
  lower-cased word sequences. Scores: difflib's SequenceMatcher ratio over the word
  sequences (order-aware, 1.0 = identical) and word F1 (bags of words).
- the same on a court-transcript-like PDF made by tests/pdfgen.py from the sample's
  expected text: 25 numbered lines a page under a running header, over a footer
  with the page number; the expected text is that body.
- body words kept: distinct words (letters only, lower-cased) before and after;
  every word lost must be one that occurred only in removed lines. The removed
  lines go to --log (one per line: file, page, why, text) for reading.
"""

from __future__ import annotations

import argparse
import difflib
import io
import logging
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pypdf import PdfReader  # noqa: E402

from ingest.loaders import clean_text  # noqa: E402
from ingest.pdftext import repair  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

GROUNDTRUTH = {"docling-multi_page.pdf": "groundtruth/multi_page.docling.md"}
_WORD = re.compile(r"[^\W\d_]+")
_TOKEN = re.compile(r"\w+")


def markdown_words(markdown: str) -> list[str]:
    """The words of docling's markdown without its syntax (headings, bullets, tables,
    image placeholders, emphasis)."""
    text = re.sub(r"<!--.*?-->", " ", markdown)
    text = re.sub(r"^\s*(#+|[-*+]|\d+\.)\s+", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\s*\|?\s*:?-{3,}.*$", "", text, flags=re.MULTILINE)
    return words(text.replace("|", " ").replace("**", " "))


def words(text: str) -> list[str]:
    return [w.lower() for w in _TOKEN.findall(text)]


def similarity(hyp: list[str], ref: list[str]) -> tuple[float, float]:
    """(SequenceMatcher ratio, word F1) of two word sequences."""
    ratio = difflib.SequenceMatcher(None, hyp, ref, autojunk=False).ratio()
    common = sum((Counter(hyp) & Counter(ref)).values())
    f1 = 2 * common / (len(hyp) + len(ref)) if hyp or ref else 1.0
    return ratio, f1


def transcript(body: list[str], folder: Path) -> Path:
    """A PDF of `body` words laid out like a transcript (see the module docstring)."""
    from tests.pdfgen import wrap, write_pdf

    lines = wrap(body, 60)
    pages = []
    for n, start in enumerate(range(0, len(lines), 25), start=1):
        numbered = [f"{i} {text}" for i, text in enumerate(lines[start : start + 25], start=1)]
        pages.append("\n".join(["Official - Subject to Final Review", *numbered, f"Alderson Reporting Company {n}"]))
    return write_pdf(folder / "transcript.pdf", pages)


def body_words(texts: list[str]) -> set[str]:
    return {w.lower() for t in texts for w in _WORD.findall(t)}


def measure(path: Path, log) -> dict:
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    data = path.read_bytes()
    t = time.perf_counter()
    before = [clean_text(page.extract_text() or "").replace("\f", "\n") for page in PdfReader(io.BytesIO(data)).pages]  # as ingest.loaders.extract_texts
    t_extract = time.perf_counter() - t
    t = time.perf_counter()
    after, removed = repair(before)
    t_repair = time.perf_counter() - t
    for r in removed:
        log.write(f"{path.name}\tp.{r.page}\t{r.why}\t{r.line}\n")
    lost = body_words(before) - body_words(after)
    in_removed = body_words([r.line for r in removed])
    why = Counter(r.why for r in removed)
    return {
        "file": path.name, "pages": len(before), "before": before, "after": after, "removed": len(removed), "why": why,
        "words_before": len(body_words(before)), "words_after": len(body_words(after)), "lost": sorted(lost),
        "lost_body": sorted(lost - in_removed), "ms_repair": 1000 * t_repair, "ms_extract": 1000 * t_extract,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_folder.add_argument(parser)
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "sourced-pdf-text-removed.tsv", help="where the removed lines are listed")
    parser.add_argument("--write", type=Path, default=ROOT / "docs" / "BENCH.md", help="doc to write the section into")
    args = parser.parse_args()
    folder = data_folder.check(parser, args.data, ["pdfs"]) / "pdfs"
    with open(args.log, "w", encoding="utf-8") as log:
        rows = [measure(p, log) for p in sorted(folder.glob("*.pdf"))]
    lines = table(rows, folder)
    print("\n".join(lines))
    print(f"\nremoved lines: {args.log}")
    sections.write(args.write, "bench/pdf_text.py", ["## PDF text repair (bench/pdf_text.py)", "", *lines])
    return 0


def _scores(row: dict, ref: list[str]) -> str:
    r0, f0 = similarity(words("\n".join(row["before"])), ref)
    r1, f1 = similarity(words("\n".join(row["after"])), ref)
    return f"| {row['file']} | {r0:.4f} | {r1:.4f} | {f0:.4f} | {f1:.4f} |"


def table(rows: list[dict], folder: Path) -> list[str]:
    lines = [
        "Running headers/footers, page numbers and line-number gutters removed and letter-split words joined by "
        "`ingest.pdftext.repair`, on the text layer as ingest reads it (pypdf + `clean_text`).",
        "",
        "Against an expected text (docling's markdown of its sample, syntax stripped; lower-cased word sequences): "
        "difflib `SequenceMatcher.ratio` (order-aware) and word F1 (bags of words), before and after repair.",
        "",
        "| file | ratio before | ratio after | word F1 before | word F1 after |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if row["file"] in GROUNDTRUTH:
            ref = markdown_words((folder / GROUNDTRUTH[row["file"]]).read_text(encoding="utf-8"))
            lines.append(_scores(row, ref))
            with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
                made = measure(transcript(ref, Path(tmp)), devnull)
            made["file"] = f"a {made['pages']}-page transcript of its expected text (tests/pdfgen.py)"
            lines.append(_scores(made, ref))
    lines += [
        "",
        "Body words kept: distinct words (letters only, lower-cased) before and after; a lost word that occurred "
        "outside the removed lines would be body text lost (the last column must be 0).",
        "",
        "| file | pages | lines removed (why) | distinct words before | after | lost (all only in removed lines) | lost elsewhere | repair ms |",
        "| --- | ---: | --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for row in rows:
        why = ", ".join(f"{n} {w}" for w, n in row["why"].most_common()) or "none"
        lost = ", ".join(row["lost"][:12]) + (f" … ({len(row['lost'])})" if len(row["lost"]) > 12 else "") if row["lost"] else "none"
        lines.append(f"| {row['file']} | {row['pages']} | {row['removed']} ({why}) | {row['words_before']:,} | {row['words_after']:,} | {lost} | {len(row['lost_body'])} | {row['ms_repair']:.0f} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
