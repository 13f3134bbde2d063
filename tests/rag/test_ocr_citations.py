"""Text read by OCR is marked wherever it is cited: Citation.ocr, the CLI's JSON, the app's sources."""

from ingest.types import Chunk
from rag.citations import verify
from rag.render import cite_links, render_sources
from rag.types import Answer, Hit


def _hit(ocr: bool, n: int) -> Hit:
    text = "The kestrel boiler must be descaled every ninety days with citric acid." if n == 1 else "The warranty lasts four years from purchase."
    return Hit(Chunk(f"c{n}", "d", "scan.pdf", n, 0, len(text), text, ocr=ocr), 1.0)


def test_a_citation_of_ocr_text_says_so_and_one_of_a_text_layer_does_not():
    hits = [_hit(True, 1), _hit(False, 2)]
    text, citations, _ = verify("Descale it every ninety days with citric acid [1]. The warranty lasts four years [2].", hits)
    by_n = {c.n: c for c in citations}
    assert by_n[1].ocr is True and by_n[1].to_json()["ocr"] is True
    assert by_n[2].ocr is False and by_n[2].to_json()["ocr"] is False
    answer = Answer("q", text, True, citations, hits)
    sources = render_sources(answer)
    assert sources.count('class="ocr"') == 1 and ">OCR</span>" in sources
    assert "page 1 (OCR):" in cite_links(answer) and "page 2 (OCR)" not in cite_links(answer)
