"""ingest.ocr: the CER function, reading order, options, and scanned PDFs read by OCR."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ingest import loaders, ocr
from ingest.errors import LoadError
from ingest.settings import Settings

from ..fakes import HashEmbedder
from ..pdfgen import write_pdf, write_scanned_pdf

SENTENCE = "The kestrel boiler must be descaled every ninety days with citric acid."


def _dp(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_edit_distance_agrees_with_the_textbook_table_on_random_strings():
    rng = random.Random(15)
    for _ in range(500):
        a = "".join(rng.choice("ab c") for _ in range(rng.randint(0, 70)))
        b = "".join(rng.choice("abd ") for _ in range(rng.randint(0, 70)))
        assert ocr.edit_distance(a, b) == _dp(a, b), (a, b)


def test_cer_counts_edits_per_reference_character_after_whitespace_normalisation():
    assert ocr.cer("the  cat\nsat", "the cat sat") == 0.0
    assert ocr.cer("the bat sat", "the cat sat") == pytest.approx(1 / 11)
    assert ocr.cer("", "abcd") == 1.0
    assert ocr.cer("", "") == 0.0 and ocr.cer("x", "") == 1.0


def _box(x0, x1, y0, y1):
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=float)


def test_rapidocr_boxes_are_read_column_by_column():
    # two columns of two lines under a full-width title; rapidocr returns them top to bottom
    boxes = [_box(0, 900, 0, 30), _box(0, 400, 60, 90), _box(500, 900, 62, 92), _box(0, 400, 100, 130), _box(500, 580, 101, 131), _box(600, 900, 100, 130)]
    txts = ["Title", "left one", "right one", "left two", "right", "two"]
    assert ocr._lines(boxes, txts) == ["Title", "left one", "left two", "right one", "right two"]


def test_options_are_validated_with_the_value_named():
    with pytest.raises(ValueError, match="ocr_langs=.*english"):
        Settings.from_env({"SOURCED_OCR_LANGS": "english"})
    with pytest.raises(ValueError, match="ocr must be one of"):
        Settings.from_env({"SOURCED_OCR": "abbyy"})
    s = Settings.from_env({"SOURCED_OCR_LANGS": "eng+deu", "SOURCED_OCR_MAX_PAGES": "3"})
    assert s.ingest_options()["ocr"] == ocr.OcrOptions("auto", "eng+deu", 3)


def test_languages_are_checked_against_what_is_installed(monkeypatch):
    monkeypatch.setattr(ocr, "tesseract_langs", lambda: {"eng"})
    assert "no language data for deu" in ocr.check(ocr.OcrOptions("tesseract", "eng+deu"))
    assert ocr.check(ocr.OcrOptions("tesseract", "eng")) is None
    assert "does not read" in ocr.check(ocr.OcrOptions("rapidocr", "jpn"))
    monkeypatch.setattr(ocr, "tesseract_langs", lambda: set())
    assert "tesseract: not installed" in ocr.check(ocr.OcrOptions("tesseract", "eng"))


def test_rapidocr_language_table_matches_its_bundled_model():
    import yaml
    from importlib.resources import files

    pytest.importorskip("rapidocr")
    routes = yaml.safe_load((files("rapidocr") / "default_models.yaml").read_text())
    supported = set(routes["model_routes"]["_defs"]["ppocrv6_langs"])
    assert set(ocr.RAPIDOCR_LANGS.values()) <= supported, set(ocr.RAPIDOCR_LANGS.values()) - supported


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    d = tmp_path_factory.mktemp("scan")
    text = write_pdf(d / "text.pdf", [SENTENCE, "Page two: the warranty lasts four years from the date of purchase.", "A third page."])
    return write_scanned_pdf(d / "scan.pdf", text.read_bytes())


def test_a_scan_over_the_ocr_budget_is_refused_not_cut(scanned):
    with pytest.raises(LoadError, match=r"3 scanned pages to OCR; the limit is 2 \(SOURCED_OCR_MAX_PAGES\)"):
        loaders.load(scanned, ocr=ocr.OcrOptions(max_pages=2))


def test_a_scan_with_ocr_off_is_refused_with_what_to_do(scanned):
    with pytest.raises(LoadError, match="no text layer .*OCR is turned off"):
        loaders.load(scanned, ocr=ocr.OcrOptions(engine="off"))


def test_a_scan_with_no_engine_installed_says_what_to_install(scanned, monkeypatch):
    monkeypatch.setattr(ocr, "_PROBLEMS", {"rapidocr": lambda langs: "not installed (pip install rapidocr onnxruntime)", "tesseract": lambda langs: "not installed (apt-get install tesseract-ocr)"})
    monkeypatch.setattr(ocr, "engine", lambda options: (_ for _ in ()).throw(ocr.OcrUnavailable("none here")))
    with pytest.raises(LoadError, match="no text layer .*OCR cannot run here .*apt-get install tesseract-ocr"):
        loaders.load(scanned)


@pytest.mark.slow  # loads rapidocr's models and OCRs three pages (seconds)
def test_a_scanned_pdf_is_indexed_through_ocr_and_its_chunks_say_so(scanned, tmp_path):
    from ingest import index as store
    from ingest.pipeline import ingest

    seen = []
    report = ingest([scanned], tmp_path / "idx", HashEmbedder(), progress=lambda f, m: seen.append(m))
    assert report.skipped == [] and report.added[0]["pages"] == 3
    chunks = store.load(tmp_path / "idx", HashEmbedder().name).chunks
    assert chunks and all(c.ocr for c in chunks)
    page1 = " ".join(c.text for c in chunks if c.page == 1)
    assert ocr.cer(page1, SENTENCE) < 0.05, page1
    assert "OCR of scan.pdf: page 3 of 3" in seen, seen


def test_the_callers_limits_stop_a_long_parse_and_leave_no_child(scanned):
    from ingest import sandbox
    from ingest.errors import IngestCancelled

    with pytest.raises(LoadError, match="time allowed for indexing ran out"):
        sandbox.load(scanned, stop=lambda: True)

    def cancelled():
        raise IngestCancelled("indexing stopped: the session ended")

    with pytest.raises(IngestCancelled):
        sandbox.load(scanned, stop=cancelled)


def test_the_cli_says_at_start_when_scanned_pages_cannot_be_read(monkeypatch):
    from ingest.__main__ import ocr_problem

    monkeypatch.setattr(ocr, "_PROBLEMS", {"rapidocr": lambda langs: "not installed", "tesseract": lambda langs: "not installed (apt-get install tesseract-ocr)"})
    assert ocr_problem(Settings()).startswith("note: scanned PDF pages will not be read: rapidocr: not installed; tesseract: not installed")
    assert ocr_problem(Settings(ocr="tesseract")).startswith("error: OCR cannot run as set (SOURCED_OCR=tesseract")
    assert ocr_problem(Settings(ocr="off")) == ""


def test_a_page_is_cropped_to_its_ink_and_a_page_without_ink_is_skipped():
    from PIL import Image, ImageDraw

    page = Image.new("L", (1000, 1400), 250)
    ImageDraw.Draw(page).rectangle((300, 500, 420, 530), fill=20)
    assert ocr.crop_to_ink(page).size == (121 + 80, 31 + 80)
    assert ocr.crop_to_ink(Image.new("L", (1000, 1400), 128)) is None


@pytest.mark.slow  # OCRs three pages in the sandbox (seconds)
def test_the_sandbox_allows_time_for_each_ocred_page_and_reports_it(scanned, monkeypatch):
    import time

    from ingest import sandbox

    seen = []
    t = time.monotonic()
    pages = sandbox.load(scanned, timeout_s=1, progress=lambda done, total: seen.append((done, total)))
    assert time.monotonic() - t > 1, "the OCR outlasted the parse limit, so the per-page allowance was used"
    assert [p.ocr for p in pages] == [True, True, True] and seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    monkeypatch.setattr(sandbox, "OCR_SECONDS_PER_PAGE", 0.0)
    with pytest.raises(LoadError, match=r"parsing and 3 page\(s\) of OCR took longer than 1 s"):
        sandbox.load(scanned, timeout_s=1)
