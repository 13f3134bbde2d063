"""Calibrate the evidence gate on data: answerable vs unanswerable questions.

    .venv/bin/python bench/calibrate_gate.py          # prints a table, writes docs/GATE.md

Answerable: SQuAD questions asked of their own corpus (DATA/squad-a, DATA being the
folder given as --data). Unanswerable: the same questions asked of SciFact's corpus
(DATA/scifact), which never covers them.
Calibration uses questions 1000-1999 of qa.jsonl, so the first 200 (used by
`rag eval-answers`) stay held out. For each threshold on each evidence feature the
table gives the answer rate (answerable) and the refusal rate (unanswerable); the
chosen setting maximises their mean (balanced accuracy).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from rag import gate  # noqa: E402
from rag.eval.answers import load_qa  # noqa: E402
from rag.eval.datasets import load_dataset  # noqa: E402
from rag.eval.retrieval import corpus_index  # noqa: E402
from rag.pipeline import Collection, Models  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)


def features(collection: Collection, questions: list[str], k: int) -> np.ndarray:
    rows = []
    for q in questions:
        hits, _ = collection.search(q, k, "hybrid")
        rows.append([gate.query_coverage(q, hits), gate.dense_evidence(hits) or 0.0])
    return np.array(rows)


def sweep(pos: np.ndarray, neg: np.ndarray, grid: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, answer rate on answerable, refusal rate on unanswerable) per threshold."""
    return [(t, float((pos >= t).mean()), float((neg < t).mean())) for t in grid]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_folder.add_argument(ap)
    data = data_folder.check(ap, ap.parse_args().data, ["squad-a", "scifact"])
    go_offline_if_unreachable()
    settings = Settings.from_env()
    models = Models(settings)
    t0 = time.perf_counter()
    questions = [qa.question for qa in load_qa(data / "squad-a", 1000, offset=1000)]
    own = Collection.of(corpus_index(load_dataset(data / "squad-a"), models.embedder, settings.cache), models)
    other = Collection.of(corpus_index(load_dataset(data / "scifact"), models.embedder, settings.cache), models)
    pos, neg = features(own, questions, settings.top_k), features(other, questions, settings.top_k)
    lines = [
        "# Evidence gate calibration",
        "",
        "Produced by `.venv/bin/python bench/calibrate_gate.py` — do not edit by hand.",
        f"Run on {time.strftime('%Y-%m-%d')} in {time.perf_counter() - t0:.0f} s; {len(questions)} SQuAD questions (qa.jsonl 1000-1999),",
        "answerable against the squad-a corpus, unanswerable against the SciFact corpus; hybrid retrieval, top "
        f"{settings.top_k}.",
        "",
    ]
    best = {}
    for col, name, grid in ((0, "query coverage (share of the question's key words in a top-3 passage)", np.round(np.arange(0.1, 0.95, 0.05), 2)), (1, "dense evidence (best cosine of a top passage)", np.round(np.arange(0.2, 0.8, 0.05), 2))):
        rows = sweep(pos[:, col], neg[:, col], grid)
        t, a, r = max(rows, key=lambda x: x[1] + x[2])
        best[col] = (t, a, r)
        lines += [f"## {name}", "", "| threshold | answer rate (answerable) | refusal rate (unanswerable) | mean |", "|---|---|---|---|"]
        lines += [f"| {t:.2f} | {a:.3f} | {r:.3f} | {(a + r) / 2:.3f} |" + (" ← best" if (t, a, r) == best[col] else "") for t, a, r in rows]
        lines.append("")
    combos = []
    for w in (0.0, 0.1, 0.2, 0.3, 0.5):
        for t, a, r in sweep(pos[:, 1] + w * pos[:, 0], neg[:, 1] + w * neg[:, 0], np.round(np.arange(0.3, 1.0, 0.01), 2)):
            combos.append((w, t, a, r))
    w, t, a, r = max(combos, key=lambda x: (x[2] + x[3], -x[0]))
    lines += [
        "## Combined: dense evidence + w x query coverage",
        "",
        "| w | best threshold | answer rate | refusal rate | mean |",
        "|---|---|---|---|---|",
    ]
    for weight in sorted({c[0] for c in combos}):
        cw, ct, ca, cr = max((c for c in combos if c[0] == weight), key=lambda x: x[2] + x[3])
        lines.append(f"| {cw:.1f} | {ct:.2f} | {ca:.3f} | {cr:.3f} | {(ca + cr) / 2:.3f} |")
    tc, ac, rc = best[0]
    lines += [
        "",
        "## Chosen",
        "",
        f"`SOURCED_GATE_THRESHOLD={t:.2f}`, `SOURCED_GATE_COVERAGE_WEIGHT={w:.1f}`: a question is answered when the best dense",
        f"cosine plus {w:.1f} x query coverage reaches {t:.2f}. On the calibration questions it answers {a:.1%} of answerable",
        f"questions and refuses {r:.1%} of unanswerable ones (mean {(a + r) / 2:.3f}).",
        f"Where no dense score exists (BM25-only mode) coverage alone decides: `SOURCED_GATE_MIN_COVERAGE={tc:.2f}`",
        f"({ac:.1%} answered, {rc:.1%} refused). Thresholds belong to the embedder: rerun this script after changing it.",
        "",
    ]
    text = "\n".join(lines)
    (ROOT / "docs" / "GATE.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
