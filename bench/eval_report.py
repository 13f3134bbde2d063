"""Retrieval quality report: every mode, fusion method, weight and depth on real judged data.

    .venv/bin/python bench/eval_report.py            # writes docs/EVAL.md (about 35 min cold, 15 warm)

Datasets come from the folder given as --data (BEIR layout; README.md, "Evaluation
data"). Corpus embeddings are cached under SOURCED_CACHE, so a second run only
searches. Every number in docs/EVAL.md comes from this script; nothing is typed in
by hand except the published reference figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from rag.eval.datasets import load_dataset  # noqa: E402
from rag.eval.retrieval import corpus_index, evaluate  # noqa: E402
from rag.pipeline import Models  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

DATASETS = ["scifact", "cranfield", "squad-a", "dbpedia-entity-5k"]  # BM25-friendly and dense-friendly collections alike
PUBLISHED = {  # nDCG@10 from ../shared/data/README.md
    "scifact": {"bm25": "0.665–0.687", "dense": "0.645", "rerank": "0.688 (BM25 top-100 + ms-marco cross-encoder)"},
}
FUSIONS = [  # (label, settings overrides)
    ("adaptive (weights per query)", dict(fusion="adaptive")),
    ("z-score, 1:1", dict(fusion="zscore", bm25_weight=1.0, dense_weight=1.0)),
    ("RRF k=60, 1:1", dict(fusion="rrf", rrf_k=60)),
    ("RRF k=10, 1:1", dict(fusion="rrf", rrf_k=10)),
    ("RRF k=60, bm25 0.3 / dense 0.7", dict(fusion="rrf", rrf_k=60, bm25_weight=0.3, dense_weight=0.7)),
    ("RRF k=60, bm25 0.7 / dense 0.3", dict(fusion="rrf", rrf_k=60, bm25_weight=0.7, dense_weight=0.3)),
    ("min-max, 0.5 / 0.5", dict(fusion="minmax", bm25_weight=0.5, dense_weight=0.5)),
    ("min-max, bm25 0.3 / dense 0.7", dict(fusion="minmax", bm25_weight=0.3, dense_weight=0.7)),
    ("z-score, 0.5 / 0.5", dict(fusion="zscore", bm25_weight=0.5, dense_weight=0.5)),
    ("z-score, bm25 0.3 / dense 0.7", dict(fusion="zscore", bm25_weight=0.3, dense_weight=0.7)),
]
DEPTHS = [10, 30, 100, 300]
METRICS = ["ndcg@10", "recall@10", "recall@100", "mrr@10", "ms_per_query"]


def row(label: str, r: dict, extra: str = "") -> str:
    return f"| {label} | " + " | ".join(f"{r[m]:.4f}" if m != "ms_per_query" else f"{r[m]:.1f}" for m in METRICS) + f" | {extra} |"


HEADER = "| | nDCG@10 | Recall@10 | Recall@100 | MRR@10 | ms/query | note |\n|---|---|---|---|---|---|---|"


def fusion_label(s: Settings) -> str:
    if s.fusion == "adaptive":
        return "adaptive (z-score, weights per query: rag.fusion.adaptive_weights)"
    if s.fusion == "rrf":
        return f"RRF k={s.rrf_k}, weights bm25 {s.bm25_weight} / dense {s.dense_weight}"
    return f"{'z-score' if s.fusion == 'zscore' else 'min-max'} normalised scores, weights bm25 {s.bm25_weight} / dense {s.dense_weight}"


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def dataset_section(data: Path, name: str, base: Settings, models: Models, lines: list[str], summary: dict) -> None:
    ds = load_dataset(data / name)
    t = time.perf_counter()
    index = corpus_index(ds, models.embedder, base.cache)
    print(f"{name}: {len(ds.corpus)} docs, {len(ds.queries)} queries, index ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    pub = PUBLISHED.get(name, {})
    lines += [f"## {name}", "", f"{len(ds.corpus):,} documents, {len(ds.queries):,} test queries with judgements.", "", "### Modes", "", HEADER]
    results = {}
    for mode in ("bm25", "dense", "hybrid"):
        results[mode] = evaluate(ds, index, models.embedder, base, mode, progress=True)
        lines.append(row(mode if mode != "hybrid" else "hybrid (default)", results[mode], f"published: {pub[mode]}" if mode in pub else ""))
    reranker = models.reranker
    if reranker is not None:
        r = evaluate(ds, index, models.embedder, base, "rerank", reranker=reranker, progress=True)
        lines.append(row(f"hybrid + rerank ({reranker.name})", r, f"published: {pub.get('rerank', '')}"))
    else:
        lines.append(f"| hybrid + rerank | – | – | – | – | – | not run: {models.reranker_reason} |")
    best_single = max(results["bm25"]["ndcg@10"], results["dense"]["ndcg@10"])
    summary[name] = (results["bm25"]["ndcg@10"], results["dense"]["ndcg@10"], results["hybrid"]["ndcg@10"], results["hybrid"]["ndcg@10"] - best_single)
    lines += ["", "### Fusion (all with depth 100 per retriever)", "", HEADER]
    for label, overrides in FUSIONS:
        lines.append(row(label, evaluate(ds, index, models.embedder, base.replace(**overrides), "hybrid")))
    lines += ["", "### Candidate depth per retriever (default fusion)", "", HEADER]
    for depth in DEPTHS:
        lines.append(row(f"depth {depth}", evaluate(ds, index, models.embedder, base.replace(depth=depth), "hybrid")))
    lines.append("")


def ann_section(lines: list[str], n: int = 200_000, queries: int = 300, seed: int = 0) -> None:
    """Flat vs HNSW on a synthetic clustered collection shaped like MiniLM vectors."""
    from ingest.index import build_dense
    from rag.eval.metrics import overlap_at_k

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, 384)).astype(np.float32)
    vectors = centres[rng.integers(0, 2000, n)] + 0.6 * rng.standard_normal((n, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    q = centres[rng.integers(0, 2000, queries)] + 0.6 * rng.standard_normal((queries, 384)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    out = {}
    for kind in ("flat", "hnsw"):
        t = time.perf_counter()
        index = build_dense(vectors, kind)
        build_s = time.perf_counter() - t
        times = []
        ids = []
        for v in q:
            t = time.perf_counter()
            _, i = index.search(v[None, :], 10)
            times.append(1000 * (time.perf_counter() - t))
            ids.append(list(i[0]))
        out[kind] = (build_s, float(np.percentile(times, 50)), float(np.percentile(times, 95)), ids)
    recall = float(np.mean([overlap_at_k(a, e) for a, e in zip(out["hnsw"][3], out["flat"][3])]))
    from ingest.index import HNSW_EF_SEARCH, HNSW_M

    lines += [
        "## Dense search: exact vs ANN at 200k vectors",
        "",
        f"{n:,} synthetic unit vectors (384-d, 2,000 Gaussian clusters, like sentence embeddings), {queries} queries, top 10, one query at a time.",
        f"HNSW: M={HNSW_M}, efSearch={HNSW_EF_SEARCH}; chosen automatically above `SOURCED_ANN_THRESHOLD` (50,000) vectors.",
        "",
        "| index | build s | p50 ms | p95 ms | recall@10 vs exact |",
        "|---|---|---|---|---|",
        f"| Flat (exact, baseline) | {out['flat'][0]:.1f} | {out['flat'][1]:.2f} | {out['flat'][2]:.2f} | 1.0000 |",
        f"| HNSW (default above threshold) | {out['hnsw'][0]:.1f} | {out['hnsw'][1]:.2f} | {out['hnsw'][2]:.2f} | {recall:.4f} |",
        "",
    ]


def lexical_section(data: Path, lines: list[str], n: int = 100_000, queries: int = 50, seed: int = 0) -> None:
    """rank-bm25 (reference) vs the sparse-matrix BM25 that serves queries, same statistics."""
    import json

    from rank_bm25 import BM25Okapi

    from ingest.lexical import bm25_scores, bm25_weights, term_counts, tokenize

    sentences = []
    for name in ("scifact", "squad-a"):
        with open(data / name / "corpus.jsonl", encoding="utf-8") as f:
            for line in f:
                sentences += [s for s in json.loads(line)["text"].split(". ") if len(s) > 40]
    rng = np.random.default_rng(seed)
    docs = [" ".join(sentences[j] for j in rng.integers(0, len(sentences), 4)) for _ in range(n)]
    tokens = [tokenize(d) for d in docs]
    qs = [tokenize(sentences[j])[:6] for j in rng.integers(0, len(sentences), queries)]
    t = time.perf_counter()
    reference = BM25Okapi(tokens)
    ref_build = time.perf_counter() - t
    t = time.perf_counter()
    vocab: dict[str, int] = {}
    weights = bm25_weights(term_counts(tokens, vocab))
    our_build = time.perf_counter() - t
    ref_ms, our_ms, max_diff = [], [], 0.0
    for q in qs:
        t = time.perf_counter()
        a = reference.get_scores(q)
        ref_ms.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        b = bm25_scores(weights, vocab, q)
        our_ms.append(1000 * (time.perf_counter() - t))
        max_diff = max(max_diff, float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-6))))
    lines += [
        "## Lexical search speed at 100k chunks",
        "",
        f"{n:,} synthetic chunks of 4 real sentences (SciFact + SQuAD), {queries} queries of up to 6 terms; scoring every chunk.",
        "",
        "| BM25 implementation | build s | p50 ms | p95 ms |",
        "|---|---|---|---|",
        f"| rank-bm25 `BM25Okapi.get_scores` (reference) | {ref_build:.1f} | {np.percentile(ref_ms, 50):.1f} | {np.percentile(ref_ms, 95):.1f} |",
        f"| Sourced sparse term matrix (serves queries) | {our_build:.1f} | {np.percentile(our_ms, 50):.1f} | {np.percentile(our_ms, 95):.1f} |",
        "",
        f"Largest relative score difference between the two over all queries and chunks: {max_diff:.1e} (float32 rounding).",
        "",
    ]


ANSWER_ROWS = [  # (label, key of rag.eval.answers' summaries)
    ("answer accuracy (answered; holds a gold answer, SQuAD-normalised, as ALCE)", "answer_accuracy"),
    ("citation precision (cited passage is the gold one or holds a gold answer)", "citation_precision"),
    ("answer rate (answerable questions)", "answer_rate"),
    ("token F1 (answered)", "f1"),
    ("token F1 (all questions; a refusal scores 0)", "f1_all"),
    ("exact match (answered)", "exact_match"),
    ("refusal rate (same questions against SciFact's corpus)", "refusal_rate_unanswerable"),
]
ANSWER_SYSTEMS = [  # (column, path in the result): the pipeline as shipped, each model's two fallbacks, the baseline
    ("LLM + answering adapter, quoted fallback (as shipped)", ("llm",)),
    ("LLM + answering adapter, refusal fallback", ("llm_refusal_fallback",)),
    ("base LLM, quoted fallback", ("base", "llm")),
    ("base LLM, refusal fallback", ("base", "llm_refusal_fallback")),
    ("extractive baseline", ("extractive",)),
]


def answers_section(data: Path, lines: list[str], base: Settings, limit: int = 200, result: dict | None = None) -> None:
    """`rag eval-answers --compare-base` on the held-out half of squad-a's articles:
    the LLM with the answering adapter, the base model without it (with each
    fallback) and the extractive baseline, on the same questions in one run
    (`result`: that command's --json output, when it was already run)."""
    from rag.eval.answers import run

    r = result or run(data / "squad-a", data / "scifact", base, limit, articles="test", compare_base=True)
    cell = lambda v: "–" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))  # noqa: E731

    def at(path: tuple[str, ...]) -> dict | None:
        d = r
        for k in path:
            d = d.get(k) if isinstance(d, dict) else None
        return d

    adapter = r["models"].get("llm_adapter")
    # without an adapter the top-level run is the base model's
    paths = ANSWER_SYSTEMS if adapter else [(label, path[1:] if path[0] == "base" else path) for label, path in ANSWER_SYSTEMS[2:]]
    systems = [(label, at(path)) for label, path in paths if at(path) is not None]
    timed = lambda key: " | ".join(f"{d[key]:.0f}" if d.get(key) is not None else "–" for _, d in systems)  # noqa: E731
    lines += [
        "## Answers: SQuAD questions, cited",
        "",
        f"`python -m rag eval-answers --dataset DATA/squad-a --unanswerable DATA/scifact --articles test --limit {r['questions']} --compare-base` (DATA: the benchmarks' `--data` folder):",
        f"{r['questions']} questions of the held-out half of squad-a's articles (rag.eval.datasets.article_half: the 24 titles ordered by SHA-1, the second 12;",
        "no training may use them: the answering adapter was trained on questions of the first 12), taken from each article in turn, asked of the squad-a",
        f"corpus and again of the SciFact corpus (where none is answerable). LLM `{r['models']['llm']}`" + (f" with the answering adapter `{adapter}` (assets/answerer-lora.md)" if adapter else " (no adapter)") + ",",
        f"behind the evidence gate ({', '.join(f'{k}={v}' for k, v in r['gate'].items())}; threshold={r.get('gate_with_adapter', r['gate']['threshold'])} before the adapter, calibrated with its refusals). The verifier (rag.citations) keeps only sentences a cited span supports;",
        "when none is left, or the base model refuses relevant passages, the pipeline quotes the answer's evidence (rag.evidence.best: the sentence its learned scorer ranks first, or that one and its neighbour), labelled as a quote.",
        "The adapter writes that evidence with its source number, or refuses before writing when its share is below the calibrated ANSWER_AT, and refuses when its refusal's probability reaches the calibrated threshold (rag.verbatim; that refusal is kept).",
        "The refusal-fallback columns score the same answers with the quotes counted as refusals.",
        "The extractive baseline is that quote alone, no LLM.",
        "",
        "| | " + " | ".join(label for label, _ in systems) + " |",
        "|---|" + "---|" * len(systems),
        *[f"| {label} | " + " | ".join(cell(d[k]) for _, d in systems) + " |" for label, k in ANSWER_ROWS],
        f"| median time to first token, ms | {timed('median_first_token_ms')} |",
        f"| median evidence ranking before generation, ms | {timed('median_evidence_ms')} |",
        f"| median total per answer, ms | {timed('median_total_ms')} |",
        "",
    ]
    for label, key in (("adapter", ("fallback_only",)), ("base model", ("base", "fallback_only"))) if adapter else (("base model", ("fallback_only",)),):
        quoted = at(key)
        if quoted is not None and not quoted["answered"]:
            lines.append(f"Quoted fallbacks of the {label}: none of {r['questions']} answers.")
        elif quoted is not None:
            lines.append(f"Quoted fallbacks of the {label}: {quoted['answered']} of {r['questions']} answers, answer accuracy {cell(quoted['answer_accuracy'])}, citation precision {cell(quoted['citation_precision'])}.")
    lines.append("")


def splice_answers(path: Path, body: list[str]) -> None:
    """Replace the answers section of an existing report (from its heading to the next
    "## ") with `body`, leaving every other section as the last full run wrote it."""
    old = path.read_text(encoding="utf-8")
    start = old.index("## Answers: SQuAD questions, cited")
    end = old.find("\n## ", start + 1)
    path.write_text(old[:start] + "\n".join(body).rstrip("\n") + "\n" + (old[end:] if end >= 0 else ""), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "EVAL.md"))
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--skip-answers", action="store_true", help="leave out the answer evaluation (about 8 minutes)")
    ap.add_argument("--answers-only", metavar="JSON", nargs="?", const="", help="rewrite only the answers section of --out (from a saved `rag eval-answers --articles test --json` output, or by running it)")
    data_folder.add_argument(ap)
    args = ap.parse_args()
    data = data_folder.check(ap, args.data, [*args.datasets, "scifact", "squad-a"])  # the answer and lexical sections read these two
    go_offline_if_unreachable()
    base = Settings.from_env()
    if args.answers_only is not None:
        import json

        body: list[str] = []
        answers_section(data, body, base, result=json.loads(Path(args.answers_only).read_text()) if args.answers_only else None)
        splice_answers(Path(args.out), body)
        print("\n".join(body))
        return 0
    models = Models(base)
    t0 = time.perf_counter()
    lines: list[str] = []
    summary: dict = {}
    for name in args.datasets:
        dataset_section(data, name, base, models, lines, summary)
    if not args.skip_answers:
        answers_section(data, lines, base)
    ann_section(lines)
    lexical_section(data, lines)
    head = [
        "# Evaluation: retrieval and answers",
        "",
        "Produced by `.venv/bin/python bench/eval_report.py` — do not edit by hand.",
        f"Run on {time.strftime('%Y-%m-%d')}, {machine()}; {time.perf_counter() - t0:.0f} s in all.",
        f"Embedder `{models.embedder.name}`; default hybrid = {fusion_label(base)}, depth {base.depth} per retriever.",
        "ms/query includes embedding the query (batched: its measured mean cost per query). Timings share the",
        "machine with whatever else ran; compare rows within one run, not across runs.",
        "",
        "## Summary (nDCG@10)",
        "",
        "| dataset | BM25 | dense | hybrid | hybrid − best single |",
        "|---|---|---|---|---|",
        *[f"| {n} | {b:.4f} | {d:.4f} | {h:.4f} | {g:+.4f} |" for n, (b, d, h, g) in summary.items()],
        "",
    ]
    text = "\n".join(head + lines) + sections.kept(Path(args.out), ["bench/fusion_report.py", "bench/multilingual.py", "bench/tune_report.py", "bench/multiturn.py", "bench/embed_runtime.py", "bench/backend_parity.py", "bench/calibrate_refusal.py", "bench/fit_evidence.py", "bench/pdf_answers.py", "bench/adapter_choice.py"])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
