"""Scale: synthetic collections of 100k and 1M chunks loaded into each storage backend
(the local index folders and Milvus Lite), with load time, memory and search latency.

    .venv/bin/python bench/bench_scale.py                   # docs/BENCH.md section (~1 h on 2 cores)
    .venv/bin/python bench/bench_scale.py --sizes 10000 --out /tmp/BENCH.md   # a quick look

Chunks are five consecutive real SciFact sentences (~130 words, from --data) with
random unit vectors, as in bench/bench_speed.py: search cost does not depend on what
the vectors hold, and embedding a million chunks would take days here. Each backend
and size runs in two child processes of its own, so that memory is its own: one
writes the collection through the backend's own `write` (what `python -m ingest`
calls: analysis, BM25 statistics, vectors, the local HNSW graph above
SOURCED_ANN_THRESHOLD, the atomic commit), the other opens it as the app does and
searches it with the real MiniLM embedding each query (SciFact's test queries):
bm25 and dense alone, and hybrid through `rag.pipeline.search` with the default
fusion. Memory is the opening process's resident size (Milvus Lite runs inside it)
minus the same process's before it opened the collection (the embedder loaded).
Each backend is the other's baseline: the local backend is the default, Milvus
Lite is the development stand-in for a Milvus server, whose figures these are not.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ingest  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402
from bench_speed import machine, maxrss_mb, percentiles, sentences  # noqa: E402

BACKENDS = ("local", "milvus")
MODES = ("bm25", "dense", "hybrid")
CHUNKS_PER_DOC = 50


def rss_mb() -> float:
    """This process's resident memory now (VmRSS), in MB; its peak is bench_speed.maxrss_mb."""
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def synthetic(n: int, sents: list[str], dim: int):
    """`n` English chunks of 5 consecutive sentences in documents of 50, random unit vectors."""
    from ingest.types import Chunk

    chunks = []
    for i in range(n):
        start = (i * 3) % (len(sents) - 5)
        text = " ".join(sents[start : start + 5])
        chunks.append(Chunk(f"c{i}", f"d{i // CHUNKS_PER_DOC}", f"doc{i // CHUNKS_PER_DOC}.pdf", 1 + i % CHUNKS_PER_DOC, 0, len(text), text, lang="en"))
    docs = [{"doc_id": f"d{j}", "source": f"doc{j}.pdf"} for j in range((n + CHUNKS_PER_DOC - 1) // CHUNKS_PER_DOC)]
    vectors = np.random.default_rng(n).standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return docs, chunks, vectors


def storage(backend: str, folder: Path):
    from ingest.backends import Storage

    return Storage(backend, str(folder / "milvus.db") if backend == "milvus" else "")


def child_write(backend: str, n: int, folder: Path, data: Path) -> dict:
    """Write an `n`-chunk collection into `folder` through `backend`'s own write."""
    from ingest.backends import LocalBackend
    from ingest.embedder import SentenceTransformerEmbedder
    from ingest.milvus import MilvusBackend

    name = SentenceTransformerEmbedder().name  # the name the opening process's embedder checks
    docs, chunks, vectors = synthetic(n, sentences(data, 60000), 384)
    b = LocalBackend() if backend == "local" else MilvusBackend(storage(backend, folder))
    before = rss_mb()
    t = time.perf_counter()
    b.write(folder, b.load(folder), docs, chunks, vectors, set(), embedder=name)
    seconds = time.perf_counter() - t
    return {"write_s": seconds, "write_peak_mb": maxrss_mb() - before, "disk_mb": folder_mb(folder)}


def child_search(backend: str, n: int, folder: Path, data: Path, queries: int) -> dict:
    """Open `folder` as the app does and time each mode over SciFact's test queries."""
    from ingest import backends
    from ingest.embedder import SentenceTransformerEmbedder
    from ingest.settings import Settings
    from rag.pipeline import search
    from rag.retrievers import retrievers_for

    settings = Settings()
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"], query=True)
    texts = [json.loads(l)["text"] for l in open(data / "scifact" / "queries_test.jsonl", encoding="utf-8")][:queries]
    gc.collect()
    before = rss_mb()
    t = time.perf_counter()
    index = backends.load(folder, embedder.name, storage(backend, folder))
    retrievers = retrievers_for(index, embedder, settings)
    for q in texts[:3]:  # the first searches build what is built lazily (BM25 weights, Lite's term table)
        search(retrievers, q, 5, "hybrid", settings)
    open_s = time.perf_counter() - t
    out = {"open_s": open_s, "serve_mb": rss_mb() - before, "kind": getattr(retrievers["dense"], "kind", "")}
    for mode in MODES:
        samples = []
        for q in texts:
            t = time.perf_counter()
            if mode == "hybrid":
                search(retrievers, q, 5, mode, settings)
            else:
                retrievers[mode].search(q, 100)
            samples.append(time.perf_counter() - t)
        out[mode] = percentiles(samples)
    return out


def run_child(args: list[str], timeout: float) -> dict:
    """One child of this script; its last stdout line is its JSON result."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed after {time.perf_counter() - t:.0f} s:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(backend: str, n: int, w: dict, s: dict) -> str:
    label = {"local": f"local ({s['kind'] or 'flat'})", "milvus": "Milvus Lite (FLAT)"}[backend]
    lat = " | ".join(f"{s[m][0]:.1f} / {s[m][1]:.1f}" for m in MODES)
    return (f"| {label} | {n:,} | {w['write_s']:.0f} s ({n / w['write_s']:,.0f} chunks/s) | {s['open_s']:.1f} s | "
            f"{s['serve_mb']:,.0f} MB | {w['write_peak_mb']:,.0f} MB | {w['disk_mb']:,.0f} MB | {lat} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="collection sizes")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--queries", type=int, default=50, help="SciFact test queries timed per mode")
    parser.add_argument("--work", default="", help="folder for the collections (default: a temporary one, removed after)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one child may take")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCH.md"))
    parser.add_argument("--child", nargs=3, metavar=("STEP", "BACKEND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    data_folder.add_argument(parser)
    args = parser.parse_args(argv)
    data = data_folder.check(parser, args.data, ["scifact/corpus.jsonl", "scifact/queries_test.jsonl"])
    from ingest.models import go_offline_if_unreachable

    go_offline_if_unreachable()
    if args.child:
        step, backend, n = args.child
        fn = child_write if step == "write" else child_search
        extra = () if step == "write" else (args.queries,)
        print(json.dumps(fn(backend, int(n), Path(args.folder), data, *extra)))
        return 0

    started = time.strftime("%Y-%m-%d %H:%M %Z")
    info = machine()
    rows = []
    work = Path(args.work or tempfile.mkdtemp(prefix="sourced-scale-"))
    common = ["--data", str(data), "--queries", str(args.queries)]
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            for backend in args.backends.split(","):
                folder = work / f"{backend}-{n}"
                shutil.rmtree(folder, ignore_errors=True)
                print(f"{backend} {n:,}: writing", file=sys.stderr, flush=True)
                try:
                    w = run_child(["--child", "write", backend, str(n), "--folder", str(folder), *common], args.timeout)
                    print(f"{backend} {n:,}: {w}; searching", file=sys.stderr, flush=True)
                    s = run_child(["--child", "search", backend, str(n), "--folder", str(folder), *common], args.timeout)
                    rows.append(row(backend, n, w, s))
                except (RuntimeError, subprocess.TimeoutExpired) as e:  # a size one backend cannot take is a finding, not the end of the run
                    why = str(e).strip().splitlines()[-1][:300]  # the child's exception, or the timeout
                    rows.append(f"| {backend} | {n:,} | not completed: {why} |" + " |" * 7)
                print(rows[-1], file=sys.stderr, flush=True)
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    info += f", load average {os.getloadavg()[0]:.1f} at the end"
    command = " ".join(["python bench/bench_scale.py", *(argv if argv is not None else sys.argv[1:])])
    body = [
        "## Scale: 100k and 1M chunks on each backend (bench/bench_scale.py)",
        "",
        f"    {command}",
        "",
        f"{started}; {info}. p50 / p95 in ms over {args.queries} SciFact test queries, query embedding included where dense.",
        "",
        "| backend (dense index) | chunks | write (ingest's backend write) | open + first searches | memory to serve | extra memory to write (peak) | on disk | bm25 p50 / p95 | dense p50 / p95 | hybrid p50 / p95 |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        __doc__.split("\n\n", 2)[2].strip(),
    ]
    print("\n".join(body))
    sections.write(Path(args.out), "bench/bench_scale.py", body)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
