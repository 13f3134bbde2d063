"""Fit rag.evidence's sentence scorer (its WEIGHTS) and report it cross-validated.

    .venv/bin/python bench/fit_evidence.py      # prints the weights and a table, writes a section of docs/EVAL.md

Questions of the *training* half of squad-a's articles (rag.eval.datasets.article_half;
the held-out half, which `rag eval-answers --articles test` reports, is never read)
are searched as the app searches (top_k passages, hybrid); every sentence of those
passages is a candidate, labelled 1 where it holds a gold answer (SQuAD-normalised, as
answer accuracy counts it). The table gives the share of questions whose first
sentence holds one, for the old rule (the top passage's sentence with most question
mass), the mass rule over all passages, and the fitted scorer with and without the
embedding similarity, each fit scored on interleaved folds it was not fitted on.
Paste the printed WEIGHTS into rag/evidence.py.

A second table weighs the answer's evidence (rag.evidence.best: the best sentence, or
it and its neighbour when the second choice holds SECOND_AT of its share) on the
training half's questions from --span-offset on, which neither the weights nor the
answering adapter saw: for each SECOND_AT (off: one sentence always) and answer share
needed (the adapter's ANSWER_AT), the answer rate, answer accuracy and citation
precision of the evidence alone (no gate, no model), and the share of two-sentence answers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from rag import evidence  # noqa: E402
from rag.eval.answers import answer_accuracy, load_qa, supports  # noqa: E402
from rag.eval.datasets import load_dataset  # noqa: E402
from rag.eval.retrieval import corpus_index  # noqa: E402
from rag.pipeline import Collection, Models  # noqa: E402
from rag.tune.evidence import cross_validated, fit  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

L2 = 1.0
FOLDS = 5
SECOND_GRID = [None, 0.5, 0.3, 0.2, 0.1]  # None: one sentence always
SHARE_GRID = [0.4, 0.5]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_folder.add_argument(ap)
    ap.add_argument("--questions", type=int, default=1500)
    ap.add_argument("--out", default=str(ROOT / "docs" / "EVAL.md"))
    ap.add_argument("--span-questions", type=int, default=800)
    ap.add_argument("--span-offset", type=int, default=1600, help="the second table's questions: past those the adapter trained on (tune-answerer: the first 1,600)")
    args = ap.parse_args()
    data = data_folder.check(ap, args.data, ["squad-a"])
    go_offline_if_unreachable()
    settings = Settings.from_env()
    models = Models(settings)
    t0 = time.perf_counter()
    qas = load_qa(data / "squad-a", args.questions, 0, "train")
    collection = Collection.of(corpus_index(load_dataset(data / "squad-a"), models.embedder, settings.cache, True), models)
    weights = collection.term_weights()
    similarity = evidence.embedding_similarity(models.embedder)
    from tqdm import tqdm

    groups, old = [], []
    for qa in tqdm(qas, desc="questions", unit="q"):
        hits, _ = collection.search(qa.question, settings.top_k)
        cands = evidence.candidates(hits)
        if not cands:
            continue
        x = evidence.features(qa.question, cands, [h.score for h in hits], similarity(qa.question, [c.text for c in cands]), weights)
        groups.append((x, np.array([answer_accuracy(c.text, qa.answers) for c in cands])))
        top = [i for i, c in enumerate(cands) if c.n == 1]
        old.append(groups[-1][1][max(top, key=lambda i: (x[i, 0], -i))])  # the top passage's first sentence of most mass
    f = {name: i for i, name in enumerate(evidence.FEATURES)}
    lexical = [i for name, i in f.items() if name != "cos"]
    rows = [
        ("top passage, its sentence with most question mass (the old rule)", float(np.mean(old))),
        ("any passage, the sentence with most question mass", float(np.mean([y[int(np.argmax(x[:, f["mass"]]))] for x, y in groups]))),
        ("fitted scorer without the embedding similarity", cross_validated(groups, FOLDS, L2, lexical)),
        ("fitted scorer without the question's word pairs", cross_validated(groups, FOLDS, L2, [i for name, i in f.items() if name != "bigrams"])),
        ("fitted scorer (rag.evidence, as shipped)", cross_validated(groups, FOLDS, L2)),
        ("a candidate holds a gold answer (the ceiling)", float(np.mean([y.max() for _, y in groups]))),
    ]
    w = fit(groups, L2)
    span_qas = load_qa(data / "squad-a", args.span_questions, args.span_offset, "train")
    span = span_table(span_qas, collection, settings, weights, similarity, dict(zip(evidence.FEATURES, w)))
    minutes = (time.perf_counter() - t0) / 60
    table = ["| first sentence chosen by | holds a gold answer |", "|---|---|", *(f"| {name} | {v:.3f} |" for name, v in rows)]
    print("\n".join(table))
    print("\n".join(span))
    print("WEIGHTS = " + "{" + ", ".join(f'"{name}": {v:.3f}' for name, v in zip(evidence.FEATURES, w)) + "}")
    body = [
        "## The evidence sentence (bench/fit_evidence.py)",
        "",
        f"{len(groups)} questions of the training half of squad-a's articles, each searched as the app searches (top {settings.top_k} passages); "
        f"every sentence of those passages is a candidate. Fitted scorers: rag.tune.evidence (a conditional logit over each question's "
        f"candidates, L2 {L2}) on the features of rag.evidence, scored on {FOLDS} interleaved folds they were not fitted on; the mass rules "
        f"are not fitted. {minutes:.0f} minutes on this machine.",
        "",
        *table,
        "",
        "Weights (fitted on all of them): " + ", ".join(f"{name} {v:+.2f}" for name, v in zip(evidence.FEATURES, w)) + ".",
        "",
        f"The answer's evidence (rag.evidence.best) on {len(span_qas)} questions of the training half from the {args.span_offset + 1}th on "
        f"(neither these weights nor the answering adapter saw them), the evidence alone: no gate, no model. Second sentence: "
        f"the share, relative to the best sentence's, at which its neighbour joins it (SECOND_AT; shipped {evidence.SECOND_AT}); "
        "share needed: the evidence's share below which the answer is a refusal (the adapter's ANSWER_AT).",
        "",
        *span,
    ]
    sections.write(Path(args.out), "bench/fit_evidence.py", body)
    print(f"section written to {args.out}")
    return 0


def span_table(qas, collection, settings, weights, similarity, scorer) -> list[str]:
    """The second table (module docstring), ranked by the `scorer` just fitted: one row
    per SECOND_GRID × SHARE_GRID pair."""
    from tqdm import tqdm

    ranked = []
    for qa in tqdm(qas, desc="evidence", unit="q"):
        hits, _ = collection.search(qa.question, settings.top_k)
        ranked.append((qa, hits, evidence.ranking(qa.question, hits, weights, similarity, scorer)))
    lines = ["| second sentence at | share needed | answer rate | answer accuracy | citation precision | two sentences |", "|---|---|---|---|---|---|"]
    for second in SECOND_GRID:
        for needed in SHARE_GRID:
            answered, right, good, two = 0, 0.0, 0, 0
            for qa, hits, (cands, p) in ranked:
                found, share = evidence.best(hits, cands, p, second if second is not None else float("inf"))
                if found is None or share < needed:
                    continue
                answered += 1
                right += answer_accuracy(found.text, qa.answers)
                good += supports(hits[found.n - 1].chunk, qa)
                two += found.text != cands[0].text
            n = max(answered, 1)
            lines.append(f"| {'off' if second is None else second} | {needed} | {answered / max(len(qas), 1):.3f} | {right / n:.3f} | {good / n:.3f} | {two / n:.3f} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
