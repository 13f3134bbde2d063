"""python -m rag {search,ask,eval} ... (see DESIGN.md for the contract)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from ingest.settings import ANN_KINDS, FUSIONS, MODES


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.add_argument("--embedder", help="embedding model: local path or Hugging Face id (SOURCED_EMBEDDER)")
    p.add_argument("--reranker", help="cross-encoder: local path, Hugging Face id, or 'none' (SOURCED_RERANKER)")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")


def parser() -> argparse.ArgumentParser:
    from .eval.datasets import ARTICLE_HALVES  # light: the split's names, one place

    ap = argparse.ArgumentParser(prog="python -m rag", description="Search and ask questions over a Sourced index.")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("search", help="ranked passages for a query")
    s.add_argument("query")
    s.add_argument("--index", required=True, metavar="DIR")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--mode", choices=MODES)
    _common(s)
    a = sub.add_parser("ask", help="a cited answer to a question")
    a.add_argument("question")
    a.add_argument("--index", required=True, metavar="DIR")
    a.add_argument("--history", metavar="FILE", help='JSON list of {"role": "user"|"assistant", "content": ...}')
    a.add_argument("--mode", choices=MODES)
    a.add_argument("--llm", help="GGUF file, REPO_ID/FILE.gguf, or the bundled model (SOURCED_LLM)")
    _common(a)
    e = sub.add_parser("eval", help="retrieval metrics on a BEIR-layout dataset")
    e.add_argument("--dataset", required=True, metavar="DIR", help="folder with corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv")
    e.add_argument("--mode", choices=MODES)
    e.add_argument("--split", default="test")
    e.add_argument("--limit", type=int, help="evaluate only the first N queries")
    e.add_argument("--fusion", choices=FUSIONS, help="SOURCED_FUSION")
    e.add_argument("--rrf-k", type=int, help="SOURCED_RRF_K")
    e.add_argument("--depth", type=int, help="candidates per retriever (SOURCED_DEPTH)")
    e.add_argument("--bm25-weight", type=float, help="SOURCED_BM25_WEIGHT")
    e.add_argument("--dense-weight", type=float, help="SOURCED_DENSE_WEIGHT")
    e.add_argument("--ann", choices=ANN_KINDS, help="SOURCED_ANN")
    e.add_argument("--rerank-weight", type=float, help="the reranker's share against the fused score, 0-1 (SOURCED_RERANK_WEIGHT)")
    _common(e)
    ea = sub.add_parser("eval-answers", help="answer quality (EM, F1, citation precision, refusals) on SQuAD-style data")
    ea.add_argument("--dataset", required=True, metavar="DIR", help="folder with corpus.jsonl, queries.jsonl, qa.jsonl and qrels/")
    ea.add_argument("--unanswerable", metavar="DIR", help="a BEIR-layout dataset whose corpus does not cover the questions (SciFact for SQuAD): each question is asked of it too, and the refusal rate is measured there; without it, no refusal run (refusal_rate_unanswerable: null)")
    ea.add_argument("--limit", type=int, default=200)
    ea.add_argument("--offset", type=int, default=0, help="skip the first N questions (calibration uses others than evaluation)")
    ea.add_argument("--articles", choices=ARTICLE_HALVES, default="all", help="all questions in file order, or those of one half of the articles (train/test, split by rag.eval.datasets.article_half; taken from each article in turn)")
    ea.add_argument("--mode", choices=MODES)
    ea.add_argument("--llm", help="GGUF file, REPO_ID/FILE.gguf, or the bundled model (SOURCED_LLM)")
    ea.add_argument("--adapter", help="the LLM's GGUF LoRA: auto (the answering adapter with the bundled model), none, or a path (SOURCED_LLM_ADAPTER)")
    ea.add_argument("--compare-base", action="store_true", help="with an adapter in use, also run the same questions without it (under \"base\" in --json)")
    _common(ea)
    t = sub.add_parser("tune", help="train the dense encoder and a reranker on an index's own passages")
    where = t.add_mutually_exclusive_group(required=True)
    where.add_argument("--index", metavar="DIR", help="the index to tune; it is re-embedded when the tuned encoder is better")
    where.add_argument("--dataset", metavar="DIR", help="a BEIR-layout dataset instead (judged pairs from qrels/SPLIT.tsv); evaluate with `rag eval`")
    t.add_argument("--split", default="train", help="with --dataset: the qrels split to train on")
    t.add_argument("--pairs", metavar="FILE", help='JSONL of judged pairs: {"question": ..., "passage": ...} or {"question": ..., "chunk_id": ...}')
    t.add_argument("--minutes", type=float, default=30.0, help="time budget for the whole run (default 30)")
    t.add_argument("--llm-questions", type=int, help="chunks that get an LLM-written question (default 200 with --index, 0 with --dataset)")
    t.add_argument("--no-cloze", action="store_true", help="no inverse-cloze questions")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    t.add_argument("--llm", help="the LLM that writes questions (SOURCED_LLM)")
    _common(t)
    ta = sub.add_parser("tune-answerer", help="train the answering adapter (a LoRA) for the bundled LLM on a SQuAD-style dataset's training half")
    ta.add_argument("--dataset", required=True, metavar="DIR", help="folder with corpus.jsonl and qa.jsonl (with \"title\": only the training half of the articles is used)")
    ta.add_argument("--unanswerable", metavar="DIR", help="a BEIR-layout dataset the questions are not about (SciFact for SQuAD): questions its passages pass through the gate become refusal examples")
    ta.add_argument("--questions", type=int, default=1600, help="training questions (default 1600: about an hour on 2 CPU cores)")
    ta.add_argument("--minutes", type=float, help="stop at a checkpoint after this long; the same command resumes")
    ta.add_argument("--out", metavar="FILE.gguf", help="where the GGUF LoRA goes (default: assets/answerer-lora.gguf, the one the app loads)")
    ta.add_argument("--work", metavar="DIR", help="examples and checkpoints (default: under the cache)")
    ta.add_argument("--seed", type=int, default=0)
    ta.add_argument("--llm", help="the GGUF model to train for (SOURCED_LLM; default the bundled model)")
    _common(ta)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from ingest.errors import IngestError
    from ingest.models import ModelUnavailableError, go_offline_if_unreachable
    from ingest.settings import Settings

    try:
        if args.command == "eval":
            return _eval(args)
        if args.command == "eval-answers":
            return _eval_answers(args)
        if args.command == "tune":
            return _tune(args)
        if args.command == "tune-answerer":
            return _tune_answerer(args)
        if not Path(args.index).exists():
            raise ValueError(f"no index at {args.index}; create one with `python -m ingest FILES --index {args.index}`")
        from .pipeline import Collection, Models, collection_settings

        settings = collection_settings(Settings.from_env(embedder=args.embedder, reranker=args.reranker, mode=args.mode, llm=getattr(args, "llm", None)), args.index)
        go_offline_if_unreachable()
        if settings.log:
            from .pipeline import log_timings_to

            log_timings_to(settings.log)

        collection = Collection(args.index, Models(settings))
        if args.command == "search":
            return _search(collection, args)
        return _ask(collection, args)
    except (IngestError, ModelUnavailableError, ValueError, OSError) as e:  # OSError: FileNotFoundError too
        print(f"error: {e}", file=sys.stderr)
        return 1


def _eval(args) -> int:
    from ingest.models import go_offline_if_unreachable
    from ingest.settings import Settings

    from .eval.datasets import load_dataset
    from .eval.retrieval import corpus_index, evaluate, stored_corpus
    from .pipeline import Models

    settings = Settings.from_env(
        embedder=args.embedder, reranker=args.reranker, fusion=args.fusion, rrf_k=args.rrf_k, depth=args.depth,
        bm25_weight=args.bm25_weight, dense_weight=args.dense_weight, ann=args.ann, rerank_weight=args.rerank_weight,
    )
    mode = args.mode or "hybrid"
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1; got --limit {args.limit}")
    go_offline_if_unreachable()
    dataset = load_dataset(args.dataset, args.split)
    models = Models(settings)
    index = stored_corpus(corpus_index(dataset, models.embedder, settings.cache, progress=sys.stderr.isatty() or not args.json), settings, f"{dataset.name}-{args.split}")
    reranker = models.reranker if mode == "rerank" else None
    if mode == "rerank" and reranker is None:
        print(f"note: {models.reranker_reason}", file=sys.stderr)
    result = evaluate(dataset, index, models.embedder, settings, mode, reranker=reranker, limit=args.limit)
    result["split"] = args.split
    result["backend"] = settings.backend
    result["settings"] = {k: getattr(settings, k) for k in ("fusion", "rrf_k", "depth", "bm25_weight", "dense_weight", "rerank_depth", "rerank_weight")}
    result["models"] = {"embedder": models.embedder.name, "reranker": reranker.name if reranker else None}
    if args.json:
        print(json.dumps(result))
    else:
        for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10", "ms_per_query"):
            print(f"{key:>12}  {result[key]}")
    return 0


def _eval_answers(args) -> int:
    from ingest.models import go_offline_if_unreachable
    from ingest.settings import Settings

    from .eval.answers import run

    settings = Settings.from_env(embedder=args.embedder, reranker=args.reranker, mode=args.mode, llm=args.llm, llm_adapter=args.adapter)
    if args.limit < 1:
        raise ValueError(f"--limit must be at least 1; got --limit {args.limit}")
    go_offline_if_unreachable()
    if args.unanswerable is None:
        print("note: no --unanswerable DIR given; the refusal rate on unanswerable questions is not measured", file=sys.stderr)
    elif not Path(args.unanswerable).is_dir():
        raise ValueError(f"--unanswerable {args.unanswerable} is not a folder; give a BEIR-layout dataset the questions are not about, or leave the flag out")
    result = run(args.dataset, args.unanswerable, settings, args.limit, args.offset, progress=not args.json or sys.stderr.isatty(), articles=args.articles, compare_base=args.compare_base)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"LLM {result['models']['llm']}, adapter {result['models']['llm_adapter'] or 'none'}")
        for system in ("llm", "llm_refusal_fallback", "fallback_only", "extractive"):
            print(system, json.dumps(result[system]))
        for system, summary in result.get("base", {}).items():
            print(f"base model, {system}", json.dumps(summary))
    return 0


def _tune(args) -> int:
    from ingest.models import go_offline_if_unreachable
    from ingest.settings import Settings

    from .tune import TuneOptions, tune_dataset, tune_index

    if args.minutes <= 0:
        raise ValueError(f"--minutes must be positive; got --minutes {args.minutes}")
    settings = Settings.from_env(embedder=args.embedder, reranker=args.reranker, llm=args.llm)
    llm_questions = args.llm_questions if args.llm_questions is not None else (200 if args.index else 0)
    # with --dataset the real test split judges the result, so less is held out of training
    options = TuneOptions(time_budget_s=60 * args.minutes, llm_questions=llm_questions, cloze=not args.no_cloze, heldout=0.2 if args.index else 0.1, seed=args.seed, device=args.device)
    go_offline_if_unreachable()
    progress = sys.stderr.isatty() or not args.json
    if args.index:
        if not Path(args.index).exists():
            raise ValueError(f"no index at {args.index}; create one with `python -m ingest FILES --index {args.index}`")
        report = tune_index(args.index, settings, options, pairs=args.pairs, progress=progress)
    else:
        report = tune_dataset(args.dataset, args.split, settings, options, pairs=args.pairs, progress=progress)
    if args.json:
        print(json.dumps(report))
    else:
        print(_tune_summary(report))
    return 0


def _tune_answerer(args) -> int:
    import ingest

    if ingest.OMP_WAIT_DEFAULTED and "torch" not in sys.modules:
        # training holds both cores alone: spinning OpenMP threads are faster here
        # (measured: 2.6 s per example against 3.7 with passive waiting)
        os.environ["OMP_WAIT_POLICY"] = "ACTIVE"
    from ingest.models import BUNDLED_ADAPTER, go_offline_if_unreachable
    from ingest.settings import Settings

    from .tune.adapter import AdapterConfig
    from .tune.answerer import run

    if args.questions < 1:
        raise ValueError(f"--questions must be at least 1; got --questions {args.questions}")
    if args.minutes is not None and args.minutes <= 0:
        raise ValueError(f"--minutes must be positive; got --minutes {args.minutes}")
    for folder in filter(None, (args.dataset, args.unanswerable)):
        if not Path(folder).is_dir():
            raise ValueError(f"no dataset folder at {folder}")
    go_offline_if_unreachable()
    settings = Settings.from_env(embedder=args.embedder, reranker=args.reranker, llm=args.llm)
    report = run(args.dataset, args.unanswerable, settings, out=args.out or BUNDLED_ADAPTER, work=args.work, limit=args.questions, minutes=args.minutes, config=AdapterConfig(seed=args.seed), progress=not args.json)
    if args.json:
        print(json.dumps(report))
    elif report["status"] == "paused":
        print(f"paused: {report['note']} (work folder {report['work']})")
    else:
        t = report["training"]
        print(f"adapter: {args.out or BUNDLED_ADAPTER} ({report['adapter_bytes'] / 2**20:.1f} MB), {t['examples']} examples {report['data']['kinds']}, {t['steps']} steps in {t['seconds'] / 60:.0f} min; loss {t['loss_first_steps'][0]} -> {t['loss_last_steps'][-1]}")
        print("evaluate it with: python -m rag eval-answers --articles test ...; SOURCED_LLM_ADAPTER=none turns it off")
    return 0


def _tune_summary(report: dict) -> str:
    from .tune import verdict

    lines = [f"training questions: {report['examples']}", f"work folder: {report['folder']}"]
    for label, key in (("before", "heldout_before"), ("after", "heldout_after")):
        for mode, m in report.get(key, {}).items():
            lines.append(f"held-out {label:<6} {mode:<7} nDCG@10 {m['ndcg@10']:.3f}  Recall@10 {m['recall@10']:.3f}")
    lines.append(verdict(report))
    lines.append(f"tuned encoder: {report['embedder']}\ntrained reranker: {report['reranker']}")
    lines.append(f"{report['seconds']['total']:.0f} s in all: {report['seconds']}")
    return "\n".join(lines)


def _search(collection, args) -> int:
    from .types import hit_json

    if args.k < 1:
        raise ValueError(f"--k must be at least 1; got --k {args.k}")
    hits, timings = collection.search(args.query, args.k, args.mode)
    models = collection.models
    if models.reranker is None and (args.mode or models.settings.mode) == "rerank":
        print(f"note: {models.reranker_reason}", file=sys.stderr)
    if args.json:
        out = {"query": args.query, "mode": args.mode or models.settings.mode, "hits": [hit_json(h, i + 1) for i, h in enumerate(hits)], "timings_ms": {k: round(v, 2) for k, v in timings.items()}, "models": models.describe()}
        print(json.dumps(out, ensure_ascii=False))
    else:
        for i, h in enumerate(hits, start=1):
            print(f"{i:>2}. {h.score:8.4f}  {h.chunk.source} p.{h.chunk.page}  {' '.join(h.chunk.text.split())[:100]}")
    return 0


def _ask(collection, args) -> int:
    from .pipeline import ask

    history = []
    if args.history:
        history = json.loads(Path(args.history).read_text(encoding="utf-8"))
        if not isinstance(history, list) or not all(isinstance(m, dict) and "content" in m for m in history):
            raise ValueError(f"{args.history} must hold a JSON list of {{\"role\", \"content\"}} messages")
    final = None
    for kind, value in ask(collection, args.question, history, mode=args.mode):
        if kind == "token" and not args.json:
            print(value, end="", flush=True)
        elif kind == "status" and not args.json:
            print(f"[{value}]", file=sys.stderr)
        elif kind == "answer":
            final = value
    if collection.models.reranker is None:
        print(f"note: {collection.models.reranker_reason}", file=sys.stderr)
    if args.json:
        print(json.dumps(final.to_json(), ensure_ascii=False))
    else:
        from .render import QUOTE_LABEL, UNSUPPORTED_LABEL

        print("\n\n" + (QUOTE_LABEL + "\n" if final.fallback == "quote" else "") + final.text)
        for c in final.citations:
            print(f"  [{c.n}] {c.source}, page {c.page}{' (OCR)' if c.ocr else ''}: \"{c.quote}\"")
        if final.unsupported:
            print(UNSUPPORTED_LABEL)
            for sentence in final.unsupported:
                print(f"  - {sentence}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
