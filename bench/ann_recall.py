"""Recall of approximate dense indexes against exact search, on real MiniLM vectors:
the evidence docs/SCALE.md's choice of a Milvus index type rests on.

    .venv/bin/python bench/ann_recall.py            # docs/SCALE.md section (~2 min with cached embeddings)

The passages of every benchmark collection (SciFact, DBpedia-Entity 5k, squad-a,
Cranfield) are pooled into one corpus, embedded by the bundled MiniLM as
`rag eval` embeds them (and cached with its vectors), and searched with every
query of those collections. For each index type and parameter, recall@10 is the
mean overlap of its top 10 with exact inner-product search (FLAT). The indexes are
FAISS's, with Milvus's index names and parameters: Milvus builds HNSW, IVF_FLAT,
IVF_SQ8 and IVF_PQ with knowhere, whose IVF family and HNSW are FAISS-derived, so
the recall of a parameter choice carries over, while the speed of a Milvus server
does not (it is not measured here: Milvus Lite searches exactly whatever index it is
given, docs/SCALE.md). The corpus is ~12k passages: at a million, the clusters of
an IVF index hold more vectors each, so nprobe must be checked again on the real
collection (the procedure is the same: sample queries, exact search, overlap).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ingest  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402
from bench_speed import machine  # noqa: E402

DATASETS = ("scifact", "dbpedia-entity-5k", "squad-a", "cranfield")
K = 10
TARGET = 0.95  # recall@10 an approximate index must reach to be chosen (docs/SCALE.md)


def pooled(data: Path, cache: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Corpus vectors of every dataset (cached), query vectors, and a note per dataset."""
    from ingest.embedder import SentenceTransformerEmbedder
    from rag.eval.datasets import load_dataset
    from rag.eval.retrieval import corpus_index

    embedder = SentenceTransformerEmbedder()
    corpora, queries, notes = [], [], []
    for name in DATASETS:
        dataset = load_dataset(data / name)
        index = corpus_index(dataset, embedder, cache)
        texts = [dataset.queries[q] for q in dataset.qrels if q in dataset.queries]
        corpora.append(index.vectors)
        queries.append(embedder.embed(texts, query=True))
        notes.append(f"{name} {len(index.vectors):,} passages, {len(texts):,} queries")
    return np.vstack(corpora).astype(np.float32), np.vstack(queries).astype(np.float32), notes


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each exact top k that the approximate top k found."""
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def candidates(n: int, dim: int):
    """(Milvus index type, parameters, FAISS index factory string, search parameters, bytes per vector)."""
    nlist = 4 * round(math.sqrt(n))
    yield "HNSW", "M 32, efConstruction 80, ef 128", "HNSW32,Flat", {"efSearch": 128, "efConstruction": 80}, 4 * dim + 32 * 2 * 4
    yield "HNSW", "M 32, efConstruction 80, ef 64", "HNSW32,Flat", {"efSearch": 64, "efConstruction": 80}, 4 * dim + 32 * 2 * 4
    for nprobe in (8, 16, 32, 64):
        yield "IVF_FLAT", f"nlist {nlist}, nprobe {nprobe}", f"IVF{nlist},Flat", {"nprobe": nprobe}, 4 * dim
    for nprobe in (16, 32, 64):
        yield "IVF_SQ8", f"nlist {nlist}, nprobe {nprobe}", f"IVF{nlist},SQ8", {"nprobe": nprobe}, dim
    for m in (48, 96):
        for nprobe in (16, 32, 64):
            yield "IVF_PQ", f"nlist {nlist}, m {m}, nbits 8, nprobe {nprobe}", f"IVF{nlist},PQ{m}x8", {"nprobe": nprobe}, m
    for nprobe in (16, 32, 64):
        yield "IVF_PQ + exact re-rank of its top 100", f"nlist {nlist}, m 48, nbits 8, nprobe {nprobe}", f"IVF{nlist},PQ48x8", {"nprobe": nprobe, "refine": 100}, 48


def measure(corpus: np.ndarray, queries: np.ndarray) -> list[str]:
    import faiss

    faiss.omp_set_num_threads(1)  # per-query latency as one search thread sees it
    n, dim = corpus.shape
    flat = faiss.IndexFlatIP(dim)
    flat.add(corpus)
    t = time.perf_counter()
    _, exact = flat.search(queries, K)
    flat_ms = 1000 * (time.perf_counter() - t) / len(queries)
    rows = [f"| FLAT (exact) | | 1.000 | {flat_ms:.2f} ms | {4 * dim:,} B | |"]
    built: dict[str, object] = {}
    for kind, label, factory, params, size in candidates(n, dim):
        key = factory + str(params.get("efConstruction", ""))
        if key not in built:
            index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
            if "efConstruction" in params:
                index.hnsw.efConstruction = params["efConstruction"]
            index.train(corpus)
            index.add(corpus)
            built[key] = index
        index = built[key]
        if "efSearch" in params:
            index.hnsw.efSearch = params["efSearch"]
        if "nprobe" in params:
            faiss.extract_index_ivf(index).nprobe = params["nprobe"]
        t = time.perf_counter()
        if "refine" in params:  # Milvus's refine: re-score the approximate top candidates with the raw vectors
            _, ids = index.search(queries, params["refine"])
            found = np.array([row[np.argsort(-(corpus[row] @ q))[:K]] for row, q in zip(ids, queries)])
        else:
            _, found = index.search(queries, K)
        ms = 1000 * (time.perf_counter() - t) / len(queries)
        r = recall(found, exact)
        note = "raw vectors kept for the re-rank" if "refine" in params else ""
        rows.append(f"| {kind} | {label} | {r:.3f} {'✅' if r >= TARGET else '❌'} | {ms:.2f} ms | {size:,} B | {note} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "SCALE.md"))
    parser.add_argument("--cache", default="", help="embedding cache (default: SOURCED_CACHE, as rag eval)")
    data_folder.add_argument(parser)
    args = parser.parse_args(argv)
    data = data_folder.check(parser, args.data, [f"{d}/corpus.jsonl" for d in DATASETS])
    from ingest.models import go_offline_if_unreachable
    from ingest.settings import Settings

    go_offline_if_unreachable()
    started = time.strftime("%Y-%m-%d %H:%M %Z")
    corpus, queries, notes = pooled(data, Path(args.cache or Settings().cache))
    rows = measure(corpus, queries)
    body = [
        "## Recall of approximate indexes on real vectors (bench/ann_recall.py)",
        "",
        "    python bench/ann_recall.py",
        "",
        f"{started}; {machine()}. {len(corpus):,} MiniLM passage vectors ({'; '.join(notes)}), {len(queries):,} queries;",
        f"recall@10 against exact search (✅: ≥ {TARGET}); search time per query on one thread; memory per vector as the index holds it.",
        "",
        "| index | parameters | recall@10 | search per query | memory per vector | |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        __doc__.split("\n\n", 2)[2].strip(),
    ]
    print("\n".join(body))
    sections.write(Path(args.out), "bench/ann_recall.py", body)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
