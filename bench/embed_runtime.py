"""Embedder runtimes compared (SOURCED_EMBEDDER_RUNTIME): PyTorch fp32 against ONNX
Runtime fp32 and int8, exported locally from the bundled MiniLM (ingest.embedder_onnx).

    .venv/bin/python bench/embed_runtime.py             # docs/BENCH.md and docs/EVAL.md sections (~10-15 min cold)
    .venv/bin/python bench/embed_runtime.py --no-eval   # speed only (~3 min)

Speed: every chunk of the 400-page manual, embedded as ingest embeds (shortest first,
groups of ingest.pipeline.EMBED_BATCH), the runtimes in turn for --rounds rounds so
that other jobs on the machine slow them alike; the median round is reported, with
the end-to-end ingest of the manual (embedder already loaded) and the cosine of each
runtime's vectors to torch's. Quality: `python -m rag eval` nDCG@10 on SciFact and
squad-a, dense and hybrid, per runtime (the corpus vectors of each runtime are cached
per embedder name, so the first run embeds ~6k passages per ONNX runtime).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ingest  # noqa: E402,F401  (sets OMP_WAIT_POLICY before torch loads)
from ingest.embedder import RUNTIMES, SentenceTransformerEmbedder  # noqa: E402
from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.settings import Settings  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

MANUAL = "pdfs/irs-irm-2.3.59-400p.pdf"
DATASETS = ("scifact", "squad-a")
# ONNX fp32 vectors equal torch's (cosine 1.0000 in the speed table), so quality is
# measured for int8 only: each runtime embeds ~6k passages the first time.
EVAL_RUNTIMES = ("torch", "onnx-int8")
MODES = ("dense", "hybrid")
MAX_LOSS = 0.005  # the nDCG@10 a faster default may cost, on every dataset and mode (issue 17)


def export_seconds() -> float:
    """A fresh export of the bundled MiniLM (fp32 + int8) into a temporary cache."""
    from ingest.embedder_onnx import ensure_export
    from ingest.models import DEFAULT_EMBEDDER, resolve

    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        ensure_export(resolve(DEFAULT_EMBEDDER, "SOURCED_EMBEDDER"), cache)
        return time.perf_counter() - t


def speed(manual: Path, cache: str, rounds: int) -> tuple[dict, int]:
    """Per runtime: chunks/s of each round, end-to-end ingest seconds, cosine to torch."""
    from ingest import index as store
    from ingest import pipeline
    from ingest.pipeline import EMBED_BATCH

    embedders = {rt: SentenceTransformerEmbedder(runtime=rt, cache=cache) for rt in RUNTIMES}
    for e in embedders.values():
        e.embed(["warm up"])  # loading (and a first export) is not the chunks' cost
    out = {rt: {"rounds": []} for rt in RUNTIMES}
    with tempfile.TemporaryDirectory() as d:  # an uncounted first ingest: parser, detector and file caches warm for all
        pipeline.ingest([manual], Path(d) / "idx", embedders["onnx-int8"])
    texts = None
    for rt, e in embedders.items():
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            report = pipeline.ingest([manual], Path(d) / "idx", e)
            out[rt]["ingest_s"], out[rt]["embed_s"] = time.perf_counter() - t, report.timings.get("embed", 0.0)
            if texts is None:
                texts = sorted((c.indexed_text for c in store.load(Path(d) / "idx", e.name).chunks), key=len)
    vectors = {}
    for _ in range(rounds):
        for rt, e in embedders.items():
            t = time.perf_counter()
            vectors[rt] = np.vstack([e.embed(texts[i : i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)])
            out[rt]["rounds"].append(len(texts) / (time.perf_counter() - t))
    for rt in RUNTIMES:
        cos = (vectors[rt] * vectors["torch"]).sum(axis=1)
        out[rt].update(cos_min=float(cos.min()), cos_mean=float(cos.mean()), chunks_s=statistics.median(out[rt]["rounds"]))
    return out, len(texts)


def ndcg(data: Path, runtime: str, dataset_name: str) -> dict[str, float]:
    """nDCG@10 per mode, as `python -m rag eval --dataset DIR --mode MODE` computes it,
    in one process so that both modes share the questions' vectors."""
    from ingest.embedder import embedder_from
    from rag.eval.datasets import load_dataset
    from rag.eval.retrieval import corpus_index, evaluate, stored_corpus

    settings = Settings.from_env().replace(embedder_runtime=runtime)
    dataset = load_dataset(data / dataset_name, "test")
    embedder = embedder_from(settings)
    index = stored_corpus(corpus_index(dataset, embedder, settings.cache, progress=False), settings, f"{dataset.name}-test")
    return {mode: evaluate(dataset, index, embedder, settings, mode)["ndcg@10"] for mode in MODES}


def speed_lines(result: dict, n: int, export_s: float, rounds: int) -> list[str]:
    base = result["torch"]
    lines = [
        f"Every chunk of the 400-page manual ({n}), embedded as ingest does (shortest first, groups of 16), "
        f"the runtimes in turn, median of {rounds} rounds; the end-to-end ingest runs once per runtime after an uncounted warm-up ingest; load average {os.getloadavg()[0]:.1f} at the end on nproc {os.cpu_count()}. "
        f"Exporting the bundled MiniLM to ONNX (fp32 + int8, once, into SOURCED_CACHE/models/onnx): {export_s:.0f} s.",
        "",
        "| SOURCED_EMBEDDER_RUNTIME | chunks/s (median; each round) | × torch | ingest of the manual, end to end (embed) | cosine to torch (min / mean) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for rt, r in result.items():
        each = ", ".join(f"{x:.1f}" for x in r["rounds"])
        lines.append(
            f"| {rt} | {r['chunks_s']:.1f} ({each}) | ×{r['chunks_s'] / base['chunks_s']:.2f} | {r['ingest_s']:.1f} s ({r['embed_s']:.1f} s) | "
            f"{r['cos_min']:.4f} / {r['cos_mean']:.4f} |"
        )
    return lines


def eval_lines(scores: dict) -> list[str]:
    rts = EVAL_RUNTIMES
    lines = [
        "nDCG@10 as `SOURCED_EMBEDDER_RUNTIME=RUNTIME python -m rag eval --dataset DIR --mode MODE --json` computes it, on every test "
        "question; Δ against torch in the same run. ONNX fp32 is not listed: its vectors equal torch's (cosine 1.0000, docs/BENCH.md). "
        f"A faster runtime becomes the default only if it loses at most {MAX_LOSS} nDCG@10 on every row.",
        "",
        "| dataset | mode | " + " | ".join(f"{rt}" for rt in rts) + " | " + " | ".join(f"Δ {rt}" for rt in rts[1:]) + " |",
        "| --- | --- | " + " | ".join("---" for _ in rts) + " | " + " | ".join("---" for _ in rts[1:]) + " |",
    ]
    worst = {rt: 0.0 for rt in rts[1:]}
    for (dataset, mode), by_rt in scores.items():
        deltas = {rt: by_rt[rt] - by_rt["torch"] for rt in rts[1:]}
        for rt, d in deltas.items():
            worst[rt] = min(worst[rt], d)
        lines.append(f"| {dataset} | {mode} | " + " | ".join(f"{by_rt[rt]:.4f}" for rt in rts) + " | " + " | ".join(f"{d:+.4f}" for d in deltas.values()) + " |")
    lines.append("")
    for rt, w in worst.items():
        verdict = "within" if -w <= MAX_LOSS else "more than"
        lines.append(f"- {rt}: worst loss {-w:.4f} nDCG@10, {verdict} the {MAX_LOSS} allowed.")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    data_folder.add_argument(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-eval", action="store_true", help="measure speed only")
    parser.add_argument("--no-speed", action="store_true", help="measure nDCG only")
    parser.add_argument("--bench", type=Path, default=ROOT / "docs" / "BENCH.md")
    parser.add_argument("--eval-doc", type=Path, default=ROOT / "docs" / "EVAL.md")
    args = parser.parse_args(argv)
    needs = [MANUAL] + ([] if args.no_eval else list(DATASETS))
    data = data_folder.check(parser, args.data, needs)
    go_offline_if_unreachable()
    if not args.no_speed:
        export_s = export_seconds()
        result, n = speed(data / MANUAL, Settings.from_env().cache, args.rounds)
        lines = speed_lines(result, n, export_s, args.rounds)
        print("\n".join(lines))
        sections.write(args.bench, "bench/embed_runtime.py", ["## Embedder runtimes: torch, ONNX fp32, ONNX int8 (bench/embed_runtime.py)", "", *lines])
    if args.no_eval:
        return 0
    scores = {}
    for dataset in DATASETS:
        by_rt = {rt: ndcg(data, rt, dataset) for rt in EVAL_RUNTIMES}
        for mode in MODES:
            scores[dataset, mode] = {rt: by_rt[rt][mode] for rt in EVAL_RUNTIMES}
            print(dataset, mode, scores[dataset, mode], flush=True)
    lines = eval_lines(scores)
    print("\n".join(lines))
    sections.write(args.eval_doc, "bench/embed_runtime.py", ["## The embedder runtime's cost in nDCG@10 (bench/embed_runtime.py)", "", *lines])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
