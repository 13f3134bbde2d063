"""The same answers on both storage backends (#17, part 2): SciFact's test queries
through rag.pipeline.search on the local backend (in memory, as `rag eval` runs) and
on Milvus Lite (the same chunks, vectors and analysis loaded into a Milvus
collection, as `SOURCED_BACKEND=milvus python -m rag eval` runs), nDCG@10 per mode.
Writes its own section of docs/EVAL.md (bench/sections.py).

    python bench/backend_parity.py [--data ../shared/data] [--dataset scifact] [--modes bm25 dense hybrid]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import data_folder, sections  # noqa: E402
from ingest.models import go_offline_if_unreachable  # noqa: E402

SCRIPT = "bench/backend_parity.py"
TOLERANCE = 0.01  # nDCG@10 the backends may differ by (the bar)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_folder.add_argument(ap)
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--modes", nargs="+", default=["bm25", "dense", "hybrid"])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "EVAL.md")
    args = ap.parse_args(argv)
    data = data_folder.check(ap, args.data, [args.dataset])
    go_offline_if_unreachable()

    from ingest.settings import Settings
    from rag.eval.datasets import load_dataset
    from rag.eval.retrieval import corpus_index, evaluate, stored_corpus
    from rag.pipeline import Models

    dataset = load_dataset(data / args.dataset, "test")
    local = Settings()
    models = Models(local)
    index = corpus_index(dataset, models.embedder, local.cache)
    milvus = local.replace(backend="milvus")
    t = time.perf_counter()
    stored = stored_corpus(index, milvus, f"{dataset.name}-test-parity")
    load_s = time.perf_counter() - t
    rows = []
    for mode in args.modes:
        a = evaluate(dataset, index, models.embedder, local, mode)
        b = evaluate(dataset, stored, models.embedder, milvus, mode)
        rows.append((mode, a, b))
        print(f"{mode:7s} local {a['ndcg@10']:.4f} ({a['ms_per_query']} ms/q)  milvus {b['ndcg@10']:.4f} ({b['ms_per_query']} ms/q)", flush=True)

    import pymilvus
    import milvus_lite

    lines = [
        "## Storage backends: local and Milvus (SciFact)",
        "",
        f"`python {SCRIPT}`: the {dataset.name} test queries ({rows[0][1]['queries']}) through the same `rag.pipeline.search` on the local",
        f"backend and on Milvus Lite {milvus_lite.__version__} (pymilvus {pymilvus.__version__}), the same {len(index):,} passages, vectors",
        f"({index.embedder}) and analysis; default settings (fusion `{local.fusion}`). Loading the corpus into Milvus Lite took {load_s:.0f} s",
        "(no re-embedding: the vectors are the evaluation's cached ones).",
        "",
        "| mode | nDCG@10 local | nDCG@10 Milvus | difference | Recall@100 local | Recall@100 Milvus | ms/query local | ms/query Milvus |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode, a, b in rows:
        lines.append(f"| {mode} | {a['ndcg@10']:.4f} | {b['ndcg@10']:.4f} | {b['ndcg@10'] - a['ndcg@10']:+.4f} | {a['recall@100']:.4f} | {b['recall@100']:.4f} | {a['ms_per_query']} | {b['ms_per_query']} |")
    within = all(abs(b["ndcg@10"] - a["ndcg@10"]) <= TOLERANCE for _, a, b in rows)
    lines += [
        "",
        f"Every mode is {'within' if within else 'NOT within'} {TOLERANCE} nDCG@10 of the local backend. Dense search is the same exact inner",
        "product on both. BM25 reads the same terms (Sourced's analysis is stored with each chunk, ingest/milvus.py) but Milvus",
        "scores them with Lucene's idf, log(1 + (N - df + 0.5) / (df + 0.5)), where the local backend follows rank-bm25",
        "(no +1; negative idf floored), so BM25 scores, and the z-scores hybrid fusion makes of them, differ a little.",
        "Milvus Lite is pure Python: its per-query times say nothing about a Milvus server.",
    ]
    sections.write(args.out, SCRIPT, lines)
    print(f"wrote its section of {args.out}")
    return 0 if within else 1


if __name__ == "__main__":
    raise SystemExit(main())
