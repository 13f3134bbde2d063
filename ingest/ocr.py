"""Read pages that have no text layer (scans) by optical character recognition.

Two engines sit behind one method, `read(image) -> str`:

- **rapidocr** (PyPI `rapidocr` + `onnxruntime`; Apache-2.0, the PP-OCRv6 detection
  and multilingual recognition models ship inside the wheel, so it works offline
  with nothing but `pip install`);
- **tesseract** (Debian `tesseract-ocr` and its language packs, run as a
  subprocess: `tesseract stdin stdout`, no Python wrapper needed).

bench/ocr.py compares them on rendered pages of real PDFs (docs/BENCH.md), which is
how "auto" was chosen. A page is OCRed when it has no extractable text but does hold
an image (ingest.loaders decides; a blank page is not sent to an engine).

Languages are Tesseract's three-letter codes joined by "+" ("eng+deu"), the
`SOURCED_OCR_LANGS` setting; `engine()` checks them against what is installed.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

ENGINES = ("auto", "rapidocr", "tesseract", "off")
# "auto" tries these in order: rapidocr installs from PyPI with its models, and bench/ocr.py
# found the two engines close on quality (docs/BENCH.md).
AUTO_ORDER = ("rapidocr", "tesseract")
DEFAULT_LANGS = "eng"
# A 300-page scan OCRs for many minutes on two cores: over the budget it is refused
# with the reason (like max_pages), never cut to its first pages.
DEFAULT_MAX_PAGES = 50
DPI = 200  # enough for 9-11 pt body text; 300 dpi costs ~2x the time for little gain
BLANK_CONTRAST = 48  # grey levels between a page's darkest and lightest pixel below which it holds no ink
MAX_SIDE_PX = 5000  # a page drawn 200 inches wide is not rendered at 200 dpi
# What the sandbox allows per OCRed page on top of its parse limit: bench/ocr.py measured
# 5-40 s a page on two busy cores, the most for a dense three-column page (docs/BENCH.md).
SECONDS_PER_PAGE = 60.0
_LANG = re.compile(r"^[a-z]{3}(_[a-z]+)?$")
# The Latin-script languages of rapidocr's bundled multilingual PP-OCRv6 recogniser
# (its default_models.yaml, "ppocrv6_langs"), by Tesseract code.
RAPIDOCR_LANGS = {
    "eng": "en", "deu": "de", "fra": "fr", "spa": "es", "ita": "it", "por": "pt", "nld": "nl", "dan": "da",
    "fin": "fi", "swe": "sv", "nor": "no", "pol": "pl", "ces": "cs", "hun": "hu", "ron": "ro", "cat": "ca",
    "hrv": "hr", "slk": "sk", "slv": "sl", "est": "et", "lav": "lv", "lit": "lt", "tur": "tr", "ind": "id",
}


OcrProgress = Callable[[int, int], None]  # (pages done, pages to OCR)


class OcrUnavailable(Exception):
    """No engine can run with these settings; the message says what to install or set."""


@dataclass(frozen=True)
class OcrOptions:
    """What ingest.loaders needs to OCR a PDF; plain values, so they cross the sandbox as JSON."""

    engine: str = "auto"
    langs: str = DEFAULT_LANGS
    max_pages: int = DEFAULT_MAX_PAGES

    def __post_init__(self):
        if self.engine not in ENGINES:
            raise ValueError(f"ocr must be one of {', '.join(ENGINES)}; got ocr={self.engine!r}")
        parse_langs(self.langs)
        if self.max_pages < 0:
            raise ValueError(f"ocr_max_pages must be 0 or more; got ocr_max_pages={self.max_pages}")

    @property
    def enabled(self) -> bool:
        return self.engine != "off" and self.max_pages > 0

    def to_dict(self) -> dict:
        return {"engine": self.engine, "langs": self.langs, "max_pages": self.max_pages}


def parse_langs(langs: str) -> list[str]:
    """["eng", "deu"] from "eng+deu"; ValueError naming the value when malformed."""
    codes = [c.strip() for c in langs.split("+")]
    if not codes or not all(_LANG.match(c) for c in codes):
        raise ValueError(f"ocr_langs must be Tesseract language codes joined by '+', e.g. 'eng' or 'eng+deu'; got ocr_langs={langs!r}")
    return codes


DEFAULT_OCR = OcrOptions()


class Engine(Protocol):
    name: str

    def read(self, image) -> str:
        """The text of a PIL image, lines separated by newlines."""
        ...


class TesseractEngine:
    name = "tesseract"

    def __init__(self, langs: str):
        missing = [c for c in parse_langs(langs) if c not in tesseract_langs()]
        if missing:
            raise OcrUnavailable(
                f"Tesseract has no language data for {', '.join(missing)} (installed: {', '.join(sorted(tesseract_langs())) or 'none'}); "
                f"install tesseract-ocr-{missing[0]} or change SOURCED_OCR_LANGS"
            )
        self.langs = langs

    def read(self, image) -> str:
        import io

        png = io.BytesIO()
        image.save(png, format="PNG")
        # --psm 3: automatic page segmentation (columns found), the default for pages
        done = subprocess.run(["tesseract", "stdin", "stdout", "-l", self.langs, "--psm", "3"], input=png.getvalue(), capture_output=True, timeout=600)
        if done.returncode != 0:
            raise OcrUnavailable(f"tesseract failed (exit code {done.returncode}): {done.stderr.decode('utf-8', 'replace').strip()[-300:]}")
        return done.stdout.decode("utf-8", "replace")


class RapidOcrEngine:
    name = "rapidocr"

    def __init__(self, langs: str):
        unknown = [c for c in parse_langs(langs) if c not in RAPIDOCR_LANGS]
        if unknown:
            raise OcrUnavailable(f"rapidocr's bundled model does not read {', '.join(unknown)}; it reads {', '.join(RAPIDOCR_LANGS)}")
        try:
            from rapidocr import RapidOCR
        except ImportError as e:
            raise OcrUnavailable(f"rapidocr is not installed ({e}); pip install rapidocr onnxruntime") from e
        # "the text detection result is empty" for a page without text is a warning there, not news here
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self._ocr = RapidOCR(params={"Global.log_level": "error"})

    def read(self, image) -> str:
        import numpy as np

        result = self._ocr(np.asarray(image.convert("RGB")))
        if not result.txts:
            return ""
        return "\n".join(_lines(result.boxes, result.txts))


def _lines(boxes, txts) -> list[str]:
    """rapidocr's text boxes in reading order, one line of text per line of the page.

    rapidocr returns boxes top to bottom, so on a two-column page the columns'
    lines interleave. A recursive XY-cut (Nagy & Seth 1984) orders them: a region
    splits at a vertical gutter first (columns), else at a horizontal gap (paragraphs,
    a heading over columns), either wider than half a line; what cannot be split is one
    block, whose boxes at the same height (centres within half a box height) form
    a line read left to right.
    """
    items = [(float(b[:, 0].min()), float(b[:, 0].max()), float(b[:, 1].min()), float(b[:, 1].max()), t) for b, t in zip(boxes, txts)]
    if not items:
        return []
    height = sorted(i[3] - i[2] for i in items)[len(items) // 2]
    return [line for block in _xy_cut(items, max(height, 1.0)) for line in _block_lines(block)]


def _xy_cut(items: list[tuple], height: float) -> list[list[tuple]]:
    for axis in (0, 2):  # (x0, x1): columns first, then (y0, y1): bands
        gap = height / 2  # a column gutter is ~0.7 of a line's height (DPR at 200 dpi), a paragraph gap about one
        parts = _split(items, axis, gap)
        if len(parts) > 1:
            return [block for part in parts for block in _xy_cut(part, height)]
    return [items]


def _split(items: list[tuple], axis: int, gap: float) -> list[list[tuple]]:
    """`items` cut wherever the interval [axis, axis+1] of no item covers a gap wider than `gap`."""
    ordered = sorted(items, key=lambda i: i[axis])
    parts, end = [[ordered[0]]], ordered[0][axis + 1]
    for item in ordered[1:]:
        if item[axis] - end > gap:
            parts.append([])
        parts[-1].append(item)
        end = max(end, item[axis + 1])
    return parts


def _block_lines(block: list[tuple]) -> list[str]:
    lines: list[list[tuple]] = []
    for item in sorted(block, key=lambda i: ((i[2] + i[3]) / 2, i[0])):
        centre, size = (item[2] + item[3]) / 2, item[3] - item[2]
        if lines and abs(centre - lines[-1][-1][5]) < max(size, lines[-1][-1][6]) / 2:
            lines[-1].append((*item, centre, size))
        else:
            lines.append([(*item, centre, size)])
    return [" ".join(i[4] for i in sorted(line, key=lambda i: i[0])) for line in lines]


def tesseract_langs() -> set[str]:
    """Languages the installed Tesseract has data for; empty when it is not installed."""
    if not shutil.which("tesseract"):
        return set()
    try:
        out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.strip() for line in out.splitlines()[1:] if line.strip() and line.strip() != "osd"}


_ENGINES = {"rapidocr": RapidOcrEngine, "tesseract": TesseractEngine}


def engine(options: OcrOptions) -> Engine:
    """The engine `options` ask for ("auto": the first of AUTO_ORDER that can run).

    Raises:
        OcrUnavailable: OCR is off, or no engine can read these languages here.
    """
    if not options.enabled:
        raise OcrUnavailable("OCR is turned off (SOURCED_OCR=off or SOURCED_OCR_MAX_PAGES=0)")
    names = AUTO_ORDER if options.engine == "auto" else (options.engine,)
    reasons = []
    for name in names:
        try:
            return _ENGINES[name](options.langs)
        except OcrUnavailable as e:
            reasons.append(f"{name}: {e}")
    raise OcrUnavailable("; ".join(reasons))


def check(options: OcrOptions) -> str | None:
    """Why no engine can OCR with `options` here, or None; cheap (loads no model), for
    the CLI and the app to say at start."""
    if not options.enabled:
        return None
    names = AUTO_ORDER if options.engine == "auto" else (options.engine,)
    problems = [f"{name}: {problem}" for name in names if (problem := _PROBLEMS[name](options.langs))]
    return "; ".join(problems) if len(problems) == len(names) else None


def _rapidocr_problem(langs: str) -> str | None:
    import importlib.util

    unknown = [c for c in parse_langs(langs) if c not in RAPIDOCR_LANGS]
    if unknown:
        return f"its bundled model does not read {', '.join(unknown)}"
    missing = [m for m in ("rapidocr", "onnxruntime") if importlib.util.find_spec(m) is None]
    return f"{' and '.join(missing)} not installed (pip install rapidocr onnxruntime)" if missing else None


def _tesseract_problem(langs: str) -> str | None:
    installed = tesseract_langs()
    if not installed:
        return "not installed (apt-get install tesseract-ocr, or brew install tesseract)"
    missing = [c for c in parse_langs(langs) if c not in installed]
    return f"no language data for {', '.join(missing)} (installed: {', '.join(sorted(installed))})" if missing else None


_PROBLEMS = {"rapidocr": _rapidocr_problem, "tesseract": _tesseract_problem}


def render(page, dpi: int = DPI):
    """A pypdfium2 page as a greyscale PIL image at `dpi` (smaller for huge pages)."""
    width, height = page.get_size()  # points, 1/72 inch
    scale = min(dpi / 72, MAX_SIDE_PX / max(width, height, 1))
    return page.render(scale=scale, grayscale=True).to_pil()


def ocr_pages(data: bytes, numbers: list[int], make_engine: Callable[[], Engine], progress: OcrProgress | None = None) -> dict[int, str]:
    """{page number: recognised text} for the 1-based `numbers` of the PDF in `data`.

    The engine is made (its models loaded) at the first page with ink on it: a
    blank scanned page costs a render, not a model.

    Raises:
        OcrUnavailable: from `make_engine`.
    """
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(data)
    texts, reader = {}, None
    try:
        for done, n in enumerate(numbers):
            if progress:
                progress(done, len(numbers))
            page = pdf[n - 1]
            image = render(page)
            page.close()
            image = crop_to_ink(image)
            if image is None:
                texts[n] = ""
                continue
            reader = reader or make_engine()
            texts[n] = reader.read(image)
        if progress:
            progress(len(numbers), len(numbers))
    finally:
        pdf.close()
    return texts


def crop_to_ink(image, margin: int = 40):
    """The page image, cropped to the part that holds ink (with `margin` pixels) when
    that is under half the page; None for a page without ink (less than
    BLANK_CONTRAST between its darkest and lightest pixels).

    rapidocr's detector missed a short line alone on a white page ("A third page.")
    and found it once the page was cropped to it; a full page is left whole, since
    cropping it changed how rapidocr scales it and cost accuracy (docling's p.1: CER
    0.003 whole, 0.029 cropped)."""
    from PIL import ImageOps

    low, high = image.getextrema()
    if high - low < BLANK_CONTRAST:
        return None
    box = ImageOps.invert(image).point(lambda v: 255 if v > 255 - (low + high) // 2 else 0).getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    if (right - left) * (bottom - top) > image.width * image.height / 2:
        return image
    return image.crop((max(0, left - margin), max(0, top - margin), min(image.width, right + margin), min(image.height, bottom + margin)))


def image_pages(data: bytes, numbers: list[int]) -> list[int]:
    """Those of `numbers` (1-based) whose page draws at least one image: the pages worth OCR."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pdf = pdfium.PdfDocument(data)
    try:
        found = []
        for n in numbers:
            page = pdf[n - 1]
            if next(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2), None) is not None:
                found.append(n)
            page.close()
        return found
    finally:
        pdf.close()


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate: Levenshtein distance / reference length, after collapsing
    whitespace runs to one space and stripping (so line breaks and column gaps do not
    count). Two empty texts score 0.0; output against an empty reference scores 1.0."""
    hyp, ref = normalise_space(hypothesis), normalise_space(reference)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(hyp, ref) / len(ref)


def normalise_space(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions cost 1).

    Myers' bit-vector algorithm in Hyyrö's formulation for edit distance (Myers 1999,
    "A fast bit-vector algorithm for approximate string matching"; Hyyrö 2003): one
    column of the dynamic-programming table is a pair of len(a)-bit integers, so a
    page against a page (5,000 characters each) takes milliseconds, not 25M steps.
    """
    if not a or not b:
        return len(a) + len(b)
    peq: dict[str, int] = {}
    for i, c in enumerate(a):
        peq[c] = peq.get(c, 0) | (1 << i)
    mask, high = (1 << len(a)) - 1, 1 << (len(a) - 1)
    pv, mv, score = mask, 0, len(a)
    for c in b:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = (ph << 1) | 1
        pv = ((mh << 1) | ~(xv | ph)) & mask
        mv = ph & xv
    return score
