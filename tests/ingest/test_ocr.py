"""ingest.ocr: the CER function, reading order, options, and scanned PDFs read by OCR."""

from __future__ import annotations

import random

import numpy as np
import pytest

from ingest import ocr


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
