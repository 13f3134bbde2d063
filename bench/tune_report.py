"""Before/after tables for `rag tune` on real judged data -> a section of docs/EVAL.md.

    .venv/bin/python bench/tune_report.py               # about 2 hours on 2 cores
    .venv/bin/python bench/tune_report.py --runs scifact

Each run tunes on the corpus of a dataset under --data DIR (`rag.tune.tune_dataset`,
the same code as `python -m rag tune --dataset`) and evaluates on its test queries,
which training never sees: the untuned encoder, the tuned one, and the trained cross-encoder
reranking either's hybrid top candidates. squad-a is split by article: questions
of half the articles train, the other half's are the test. The section between
the markers in docs/EVAL.md is replaced; bench/eval_report.py keeps it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.embedder import SentenceTransformerEmbedder  # noqa: E402
from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from rag.eval.datasets import load_dataset  # noqa: E402
from rag.eval.retrieval import corpus_index, evaluate  # noqa: E402
from rag.pipeline import Models  # noqa: E402
from rag.rerank import CrossEncoderReranker  # noqa: E402
from rag.tune import TuneOptions, tune_dataset  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

RUNS = {  # name: (label, dataset, train split or None for synthetic questions only, LLM questions, test queries)
    "scifact": ("SciFact: its train qrels + inverse-cloze questions", "scifact", "train", 0, None),
    "cranfield": ("Cranfield: synthetic questions only (LLM + inverse cloze)", "cranfield", None, 200, None),
    "squad-synthetic": ("squad-a by article: synthetic questions only (LLM + inverse cloze)", "squad-a-by-article", None, 200, 500),
    "squad-judged": ("squad-a by article: judged questions of half the articles + inverse cloze", "squad-a-by-article", "train", 0, 500),
}
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10", "ms_per_query")


def squad_by_article(data: Path, cache: Path) -> Path:
    """squad-a with qrels/train.tsv (questions of every other article, by title) and
    qrels/test.tsv (the rest), written once under the cache, never into the repo."""
    out = cache / "datasets" / "squad-a-by-article"
    if (out / "qrels" / "test.tsv").exists():
        return out
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name in ("corpus.jsonl", "queries.jsonl"):
        (out / name).write_bytes((data / "squad-a" / name).read_bytes())
    qa = [json.loads(line) for line in open(data / "squad-a" / "qa.jsonl", encoding="utf-8")]
    train_titles = set(sorted({q["title"] for q in qa})[0::2])
    for split, wanted in (("train", True), ("test", False)):
        rows = [f"{q['id']}\t{q['context_id']}\t1\n" for q in qa if (q["title"] in train_titles) == wanted]
        (out / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows), encoding="utf-8")
    return out


def one_run(data: Path, name: str, settings: Settings, minutes: float, reuse: bool = False) -> list[str]:
    label, dataset, split, llm_questions, limit = RUNS[name]
    folder = squad_by_article(data, Path(settings.cache)) if dataset == "squad-a-by-article" else data / dataset
    options = TuneOptions(time_budget_s=60 * minutes, llm_questions=llm_questions, heldout=0.1)
    report = tune_dataset(folder, split or "none", settings, options, progress=True)
    saved = Path(settings.cache) / "tuned" / f"report-{name}.json"
    old = json.loads(saved.read_text()) if reuse and saved.exists() else None
    if old and old.get("rows_weight", old["tune"]["rerank_weight"]) == report["rerank_weight"]:  # same models, same weight: same test rows
        return _section(label, report, old["tune"], [tuple(r) for r in old["rows"]], minutes, settings, saved)
    test = load_dataset(folder, "test")
    base = Models(settings).embedder
    tuned = SentenceTransformerEmbedder(report["embedder"])
    reranker = CrossEncoderReranker(report["reranker"])
    weight = report["rerank_weight"]
    mixed = replace(settings, rerank_weight=weight)
    rows = []
    for who, embedder in (("untuned", base), ("tuned", tuned)):
        index = corpus_index(test, embedder, settings.cache, progress=True)
        for mode in ("dense", "hybrid", "rerank"):
            r = evaluate(test, index, embedder, mixed, mode, reranker=reranker if mode == "rerank" else None, limit=limit)
            what = {"dense": "dense", "hybrid": "hybrid", "rerank": f"hybrid + trained reranker (weight {weight})"}[mode]
            rows.append((f"{who} encoder, {what}", r))
    return _section(label, report, old["tune"] if old else report, rows, minutes, settings, saved)


def _section(label: str, report: dict, timing: dict, rows: list, minutes: float, settings: Settings, saved: Path) -> list[str]:
    """The markdown for one run; `timing` is the report of the run that trained (with
    --reuse, an earlier one: a rerun reuses every stage and times nothing)."""
    weight = report["rerank_weight"]
    baseline = rows[1][1]["ndcg@10"]
    n_queries = rows[0][1]["queries"]
    seconds = timing["seconds"]
    training = timing["training"]
    lines = [
        f"### {label}",
        "",
        f"Training questions: {report['examples']} (held out: {report['examples']['heldout']}). "
        f"`rag tune` took {seconds['total'] / 60:.1f} min in all (budget {minutes:.0f} min): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items() if k != "total")
        + f", encoder training {training['biencoder']['seconds']:.0f} s ({training['biencoder']['steps']} of {training['biencoder']['planned_steps']} planned steps), "
        f"reranker training {training['cross-encoder']['seconds']:.0f} s ({training['cross-encoder']['steps']} of {training['cross-encoder']['planned_steps']} steps); bf16 {training['biencoder']['bf16']}.",
        "",
        f"Test: {n_queries} queries of the test split, never trained on. Reranking reads the fused top {settings.rerank_depth} and mixes",
        f"its scores with the fused ones at the weight calibrated on the held-out questions ({weight}; by weight: {report['rerank_calibration'].get('ndcg@10_by_weight')}).",
        f"Held-out check ({report['examples']['heldout']} questions; adopt when the nDCG@10 gain exceeds its standard error): "
        f"encoder {_verdict(report['adopt_embedder'], report.get('encoder_versus_untuned'))}, "
        f"reranker {_verdict(report['adopt_reranker'], report['rerank_calibration'].get('versus_hybrid'))}.",
        "",
        "| | nDCG@10 | Δ vs untuned hybrid | Recall@10 | Recall@100 | MRR@10 | ms/query |",
        "|---|---|---|---|---|---|---|",
        *[f"| {who} | {r['ndcg@10']:.4f} | {r['ndcg@10'] - baseline:+.4f} | {r['recall@10']:.4f} | {r['recall@100']:.4f} | {r['mrr@10']:.4f} | {r['ms_per_query']:.0f} |" for who, r in rows],
        "",
    ]
    saved.write_text(json.dumps({"tune": timing, "rows": rows, "rows_weight": weight}, indent=1))
    return lines


def _verdict(adopted: bool, check: dict | None) -> str:
    detail = f" (gain {check['gain']:+.4f} ± {check['standard_error']:.4f})" if check else ""
    return ("adopted" if adopted else "not adopted") + detail


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", nargs="*", default=list(RUNS), choices=list(RUNS))
    ap.add_argument("--minutes", type=float, default=30.0, help="time budget of each tuning run")
    ap.add_argument("--out", default=str(ROOT / "docs" / "EVAL.md"))
    ap.add_argument("--reuse", action="store_true", help="keep the saved test evaluations of models already trained when the reranker weight is unchanged (redo the held-out check and the text)")
    data_folder.add_argument(ap)
    args = ap.parse_args()
    data = data_folder.check(ap, args.data, ["squad-a" if RUNS[r][1] == "squad-a-by-article" else RUNS[r][1] for r in args.runs])
    go_offline_if_unreachable()
    settings = replace(Settings.from_env(), reranker="none")
    t0 = time.perf_counter()
    body = [
        "## Tuning on the collection (`rag tune`)",
        "",
        "Produced by `.venv/bin/python bench/tune_report.py` — do not edit by hand.",
        f"Run on {time.strftime('%Y-%m-%d')}; the untuned rows are the same run's baseline.",
        "Every row shows the tuned models whether or not the held-out check would adopt them; a collection",
        "tuned with `rag tune --index` uses only what its check adopts, and keeps the untuned rows otherwise.",
        "",
    ]
    for i, name in enumerate(args.runs, start=1):
        body += one_run(data, name, settings, args.minutes, args.reuse)
        done = "" if i < len(args.runs) else " (complete)"
        sections.write(Path(args.out), "bench/tune_report.py", body + [f"_{i} of {len(args.runs)} runs, {time.perf_counter() - t0:.0f} s{done}._", ""])
    print("\n".join(body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
