"""The page view's speed and how often it finds the quote, on the shared PDFs.

    .venv/bin/python bench/pageview.py            # prints the table, writes its section of docs/BENCH.md

For each PDF, pages spread over the document are loaded as ingest loads them (pypdf)
and chunked as ingest chunks them; each chunk's longest sentence stands in for a
cited quote (citations quote a sentence of their chunk). `rag.pageview.locate` then
shows each page as the app does: "first" is a page rendered for the first time in a
tab (pdfium renders it, reads its text layer and boxes, the quote is aligned, the
view's HTML is written); "cached" is the same page again with another quote (the
app's per-tab LRU). Target: a page in under 300 ms once rendered. "located" counts
the quotes of which at least half the characters were found in pdfium's text (they
get a highlight); the rest are shown without one.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.chunking import chunk_pages  # noqa: E402
from ingest.loaders import load  # noqa: E402
from ingest.sessions import UPLOADS  # noqa: E402
from rag.pageview import PageCache, locate, quote_span, target  # noqa: E402
from rag.render import render_page_view  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

PDFS = ["federal-register-2020-17221.pdf", "irs-irm-2.3.59-400p.pdf"]
TARGET_MS = 300


def longest_sentence(text: str, limit: int = 300) -> str:
    sentence = max(re.split(r"(?<=[.!?;:])\s+", text), key=len)
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0]


def ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000


def bench_pdf(path: Path, n_pages: int) -> dict:
    pages = load(path)
    doc_id = hashlib.sha256(path.read_bytes()).hexdigest()
    chunks = chunk_pages(pages, doc_id)
    numbers = sorted({c.page for c in chunks})
    step = max(1, len(numbers) // n_pages)
    sample = numbers[::step][:n_pages]
    first, cached, kb, fractions = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / UPLOADS).mkdir()
        shutil.copyfile(path, Path(folder) / UPLOADS / f"{doc_id}.pdf")
        cache = PageCache()
        for number in sample:
            on_page = [c for c in chunks if c.page == number]
            for i, chunk in enumerate(on_page):
                quote = longest_sentence(chunk.text)
                t = time.perf_counter()
                view = locate(chunks, target(chunk.chunk_id, *quote_span(chunk, quote)), Path(folder), cache)
                html = render_page_view(view)
                (cached if view.cached else first).append(ms(t))
                if i == 0:
                    kb.append(len(html) / 1024)
                fractions.append(view.found)
    return {"file": path.name, "pages": len({p.page for p in pages}), "sampled": len(sample), "first": first, "cached": cached, "kb": kb, "fractions": fractions}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_folder.add_argument(ap)
    ap.add_argument("--pages", type=int, default=8, help="pages sampled per PDF (default 8)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "BENCH.md"), help="the report whose section this script owns")
    args = ap.parse_args(argv)
    data = data_folder.check(ap, args.data, [f"pdfs/{name}" for name in PDFS])
    results = [bench_pdf(data / "pdfs" / name, args.pages) for name in PDFS]

    def p(values: list[float], q: float) -> str:
        return f"{statistics.quantiles(values, n=100)[int(q) - 1]:.0f}" if len(values) > 1 else (f"{values[0]:.0f}" if values else "–")

    lines = [
        "## Page view (the cited page, quote highlighted)",
        "",
        f"    python bench/pageview.py --pages {args.pages}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}. "
        "Milliseconds per citation clicked, server side (render, align, boxes, HTML); target: under "
        f"{TARGET_MS} ms once a page is rendered.",
        "",
        "| PDF | pages (sampled) | first render p50 / max | cached p50 / p95 / max | HTML per view | quotes located (≥ 50 % of characters) | median share found |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        located = sum(f >= 0.5 for f in r["fractions"])
        lines.append(
            f"| {r['file']} | {r['pages']} ({r['sampled']}) | {statistics.median(r['first']):.0f} / {max(r['first']):.0f} ms | "
            f"{statistics.median(r['cached']):.0f} / {p(r['cached'], 95)} / {max(r['cached']):.0f} ms | {statistics.median(r['kb']):.0f} KB | "
            f"{located} of {len(r['fractions'])} | {statistics.median(r['fractions']):.0%} |"
        )
    lines += ["", __doc__.split("\n\n", 2)[2].strip()]
    print("\n".join(lines))
    sections.write(Path(args.out), "bench/pageview.py", lines)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
