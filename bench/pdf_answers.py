"""Answers from real PDFs: hand-written questions and the words a right answer holds -> a section of docs/EVAL.md.

    .venv/bin/python bench/pdf_answers.py      # about 4 min cold (indexing), 2 min warm

The cases (rag/eval/pdf_answers.jsonl) are 35 questions over five public documents (the
first questions of rag/eval/multiturn.jsonl's conversations; --data DIR/pdfs holds the
files, README.md "Evaluation data"), each with the file that answers it, a short answer
written by hand and the words a right answer holds (`must`: SQuAD-normalised, whole
words, as rag.eval's answer accuracy counts a gold answer). Three systems on the same
index, in one run: the bundled LLM with the answering adapter (as shipped), the same
LLM without it, and the extractive baseline (the answer's evidence, rag.evidence.best,
behind the same gate, no LLM). Answer rate; answer accuracy (answered); citation
precision (a cited passage is from the case's file and holds the words); right answers
of all the questions. Nothing here was trained or tuned on these questions.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.pipeline import ingest as ingest_files  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from rag import evidence  # noqa: E402
from rag.eval.answers import answer_accuracy, answer_text, extractive_answer  # noqa: E402
from rag.pipeline import Collection, Models, answer_once  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

CASES = ROOT / "rag" / "eval" / "pdf_answers.jsonl"


def holds(text: str, words: list[str]) -> bool:
    """Whether `text` holds every one of `words`, each as answer accuracy counts a gold
    answer (SQuAD-normalised, whole words; pure)."""
    return all(answer_accuracy(text, [w]) for w in words)


def score(rows: list[dict]) -> dict:
    """Answer rate, answer accuracy, citation precision and right answers of all, from
    rows of {"answered", "right", "cites", "good"} (pure)."""
    answered = [r for r in rows if r["answered"]]
    cites = sum(r["cites"] for r in answered)
    return {
        "answer_rate": len(answered) / max(len(rows), 1),
        "accuracy": sum(r["right"] for r in answered) / max(len(answered), 1),
        "citation_precision": sum(r["good"] for r in answered) / cites if cites else 0.0,
        "right_of_all": sum(r["right"] for r in answered) / max(len(rows), 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_folder.add_argument(ap)
    ap.add_argument("--out", default=str(ROOT / "docs" / "EVAL.md"))
    args = ap.parse_args()
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    data = data_folder.check(ap, args.data, [f"pdfs/{name}" for name in sorted({c["source"] for c in cases})])
    go_offline_if_unreachable()
    settings = Settings.from_env()
    adapter = Models(settings)
    if not adapter.generator.adapter:
        ap.error("no answering adapter is in use (SOURCED_LLM_ADAPTER / SOURCED_LLM): this compares it with the base model")
    folder = Path(settings.cache) / "pdf-answers-index"
    t0 = time.perf_counter()
    ingest_files(sorted({data / "pdfs" / c["source"] for c in cases}), folder, adapter.embedder, **settings.ingest_options())
    base = Models(settings.replace(llm_adapter="none"), embedder=adapter.embedder, reranker=adapter.reranker, reranker_reason=adapter.reranker_reason)
    systems = {"adapter": Collection(folder, adapter), "base": Collection(folder, base)}
    rows: dict[str, list[dict]] = {"adapter": [], "base": [], "extractive": []}
    weights = systems["adapter"].term_weights()
    similarity = evidence.embedding_similarity(adapter.embedder)
    from tqdm import tqdm

    for case in tqdm(cases, desc="questions", unit="q"):
        for name, collection in systems.items():
            a = answer_once(collection, case["question"])
            chunks = {h.chunk.chunk_id: h.chunk for h in a.hits}
            cited = [chunks[c.chunk_id] for c in a.citations]
            rows[name].append({"answered": a.answerable, "right": a.answerable and holds(answer_text(a.text), case["must"]),
                               "cites": len(cited), "good": sum(c.source == case["source"] and holds(c.text, case["must"]) for c in cited)})
        hits = a.hits
        quote, ok, cid = extractive_answer(case["question"], hits, settings, weights, similarity)
        chunk = next((h.chunk for h in hits if h.chunk.chunk_id == cid), None)
        rows["extractive"].append({"answered": ok, "right": ok and holds(quote, case["must"]), "cites": int(ok),
                                   "good": bool(chunk and chunk.source == case["source"] and holds(chunk.text, case["must"]))})
    minutes = (time.perf_counter() - t0) / 60
    scores = {name: score(r) for name, r in rows.items()}
    labels = [("answer rate", "answer_rate"), ("answer accuracy (answered)", "accuracy"), ("citation precision", "citation_precision"), ("right answers, of all questions", "right_of_all")]
    table = ["| | LLM + answering adapter (as shipped) | base LLM, quoted fallback | extractive baseline |", "|---|---|---|---|",
             *(f"| {label} | " + " | ".join(f"{scores[name][key]:.3f}" for name in rows) + " |" for label, key in labels)]
    print("\n".join(table))
    docs = sorted({c["source"] for c in cases})
    body = [
        "## Answers from real PDFs (bench/pdf_answers.py)",
        "",
        f"{len(cases)} hand-written questions (`rag/eval/pdf_answers.jsonl`) over {len(docs)} public documents ({', '.join(docs)}), "
        f"each with the words a right answer holds; the same index for all three, {adapter.describe().get('llm', '')}, "
        f"{minutes:.0f} minutes on this machine. Citation precision: a cited passage is from the question's file and holds those words.",
        "",
        *table,
    ]
    sections.write(Path(args.out), "bench/pdf_answers.py", body)
    print(f"section written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
