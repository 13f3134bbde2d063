"""Fusion robustness: does hybrid search beat the better of its two halves everywhere? -> a section of docs/EVAL.md.

    .venv/bin/python bench/fusion_report.py          # about 10 min on 2 cores (embeddings cached)

For each collection: BM25 alone, dense alone, and every fusion Sourced offers (the
adaptive default, z-score and min-max at 1:1, z-score leaning on dense, RRF), each
through the product's own `search()` with depth 100 per retriever, no reranker; the
last column is the default's nDCG@10 minus the better single retriever's. The
collections are of both kinds: SciFact, Cranfield and squad-a, where BM25 is as strong
as MiniLM or stronger, and DBpedia-Entity 5k, where dense search is clearly better
(--data DIR holds them in the BEIR layout; README.md, "Evaluation data"). With
`--multilingual DIR` (the folders bench/multilingual.py builds; default: its output
under SOURCED_CACHE) the German and French sets are added: languages the default
embedder does not know.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ingest  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)
from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from rag.eval.datasets import load_dataset  # noqa: E402
from rag.eval.retrieval import corpus_index, evaluate  # noqa: E402
from rag.pipeline import Models  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

COLLECTIONS = ["scifact", "cranfield", "squad-a", "dbpedia-entity-5k"]
MULTILINGUAL = ["debian-reference-de", "debian-reference-fr"]
VARIANTS = [  # (label, settings overrides); the first is the default
    ("adaptive (default)", dict(fusion="adaptive")),
    ("z-score 1:1", dict(fusion="zscore", bm25_weight=1.0, dense_weight=1.0)),
    ("z-score 0.3/0.7", dict(fusion="zscore", bm25_weight=0.3, dense_weight=0.7)),
    ("min-max 1:1", dict(fusion="minmax", bm25_weight=1.0, dense_weight=1.0)),
    ("RRF k=60", dict(fusion="rrf", rrf_k=60, bm25_weight=1.0, dense_weight=1.0)),
]


def measure(folder: Path, base: Settings, models: Models) -> dict[str, dict]:
    ds = load_dataset(folder)
    index = corpus_index(ds, models.embedder, base.cache)
    out = {"queries": len(ds.queries), "passages": len(ds.corpus)}
    for mode in ("bm25", "dense"):
        out[mode] = evaluate(ds, index, models.embedder, base, mode, progress=True)
    for label, overrides in VARIANTS:
        out[label] = evaluate(ds, index, models.embedder, base.replace(**overrides), "hybrid", progress=True)
    return out


def table(results: dict[str, dict]) -> list[str]:
    labels = [label for label, _ in VARIANTS]
    lines = [
        "| collection | queries | BM25 | dense | " + " | ".join(labels) + " | default − best single |",
        "|---|---|---|---|" + "---|" * len(labels) + "---|",
    ]
    for name, r in results.items():
        best = max(r["bm25"]["ndcg@10"], r["dense"]["ndcg@10"])
        cells = [f"{r[label]['ndcg@10']:.4f}" for label in labels]
        lines.append(f"| {name} | {r['queries']:,} | {r['bm25']['ndcg@10']:.4f} | {r['dense']['ndcg@10']:.4f} | " + " | ".join(cells) + f" | {r[labels[0]]['ndcg@10'] - best:+.4f} |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "EVAL.md")
    data_folder.add_argument(ap)
    ap.add_argument("--multilingual", type=Path, default=None, metavar="DIR", help="folder of bench/multilingual.py's sets (default: SOURCED_CACHE/multilingual; skipped when absent)")
    args = ap.parse_args()
    data = data_folder.check(ap, args.data, COLLECTIONS)
    go_offline_if_unreachable()
    base = Settings.from_env()
    models = Models(base)
    multilingual = args.multilingual or Path(base.cache) / "multilingual"
    t0 = time.perf_counter()
    results = {name: measure(data / name, base, models) for name in COLLECTIONS}
    foreign = {name: measure(multilingual / name, base, models) for name in MULTILINGUAL if (multilingual / name / "corpus.jsonl").exists()}
    body = [
        "## Fusion robustness",
        "",
        f"Produced by `.venv/bin/python bench/fusion_report.py` on {time.strftime('%Y-%m-%d')} ({time.perf_counter() - t0:.0f} s); nDCG@10, depth 100",
        f"per retriever, no reranker, embedder `{models.embedder.name}`. The rule: the default hybrid must beat the better of BM25 and dense",
        "search, or at least not fall below it; a fixed mix cannot, because the better half differs by collection (DBpedia's best fixed z-score",
        "mix, dense 0.85, is still below dense alone, while that mix costs SciFact 0.045).",
        "",
        *table(results),
        "",
        "What the adaptive default decides, per query and without judgements (rag.fusion.adaptive_weights):",
        "- a query holding a term that is rare in the collection (idf above 0.55 of log N: at 5,000 passages, fewer than about 45 hold it) is a",
        "  literal that BM25 pins down: each ranking is weighted by how far its top hit stands out from the rest of its list;",
        "- a query of common words only is about meaning: 0.1 BM25 / 0.9 dense;",
        "- a query in a language the embedder does not know (ingest.language; MiniLM knows English) is ranked by BM25 alone.",
        "",
        "How the constants were chosen, and what that means for these numbers: per-query signals were first tried one at a time on all four",
        "collections at once (each ranking's standout, the overlap of the two top 10s, the top dense cosine, query length, the rarest term's",
        "idf); only the rarest term separated the queries where BM25 drags a mix down, and the threshold (0.55) and the common-word weight (0.9)",
        "were then picked on these same four collections. A per-query logistic mix of all the signals, fitted on three collections and tested",
        "on the fourth, never beat dense on DBpedia (0.45-0.49 against 0.511). So the table is a fit on its own data, with DBpedia's 40 judged queries the",
        "thinnest part of it; a tuned collection checks the choice on its own held-out questions (`rag tune` calibrates fusion, below).",
        "The price of adapting: on the three BM25-friendly collections the old equal z-score mix is 0.004-0.014 higher than the default.",
    ]
    if foreign:
        body += [
            "",
            "Languages the embedder does not know (bench/multilingual.py's German and French sets; MiniLM is English-only):",
            "",
            *table(foreign),
            "",
            "BM25 analyses each passage in its detected language (Snowball stemmer and stop words; French BM25 was 0.706 with the English",
            "rules), and the adaptive default ranks a question in a language the embedder does not know by BM25 alone. That is safe, not",
            "always best: on the German set an equal z-score mix gains 0.03 over BM25 (MiniLM still matches shared technical words), on the",
            "French set it loses 0.04. A multilingual embedder (README, Swap models) is the way to get dense search's gain in these languages.",
        ]
    body += [
        "",
        "`rag tune` also calibrates fusion: on its held-out questions it compares the adaptive default with fixed z-score mixes (BM25 0.7 … 0.1)",
        "and RRF, and a collection adopts another fusion only when it beats the default by more than its standard error, the same noise rule",
        "as the tuned encoder and reranker.",
    ]
    sections.write(args.out, "bench/fusion_report.py", body)
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
