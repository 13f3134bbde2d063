"""Calibrate when the answering adapter answers: its refusal threshold
(rag.verbatim.REFUSE_AT), the evidence share an answer needs (ANSWER_AT) and the
evidence gate's threshold before it (rag.gate.CALIBRATED's adapter_threshold).

    .venv/bin/python bench/calibrate_refusal.py       # prints a table, writes a section of docs/EVAL.md

Questions of the *training* half of squad-a's articles that the adapter was not
trained on (from --offset on; tune-answerer used the first 1,600), asked of squad-a's
corpus (answerable) and of SciFact's (unanswerable), through the app's own pipeline
with the adapter and no refusal taken (SOURCED_REFUSE_AT above 1, SOURCED_ANSWER_AT
0, the gate open), so each answer records the probability the adapter gave its
refusal, the share of the answer's evidence (rag.evidence.best) and the gate's
evidence (rag.gate.decide). For each triple of thresholds the pipeline's answers are
replayed: answer rate, answer accuracy and citation precision on the answerable
copy, refusals on the unanswerable one. For each gate and evidence threshold the
refusal threshold with the highest answer rate that refuses at least REFUSAL_BAR on
SciFact is taken (else the best mean of both); of those, the one with the highest
answer accuracy whose answer rate reaches ANSWER_BAR by MARGIN standard errors is
chosen (else the highest answer rate): a choice at the bar's very edge did not carry
to the held-out articles (0.850 here, 0.810 there, with the gate at 0.57). The
held-out half of the articles, which `rag eval-answers --articles test` reports, is
never read; neither are the questions rag.evidence's weights were fitted on (the
first 1,500).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingest.models import go_offline_if_unreachable  # noqa: E402
from ingest.settings import Settings  # noqa: E402
from rag import gate  # noqa: E402
from rag.eval.answers import answer_accuracy, answer_text, load_qa, supports  # noqa: E402
from rag.eval.datasets import load_dataset  # noqa: E402
from rag.eval.retrieval import corpus_index  # noqa: E402
from rag.pipeline import Collection, Models, answer_once  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

REFUSAL_BAR = 0.95  # issue 13's bar for refusals on SciFact
ANSWER_BAR = 0.85  # and for the answer rate
MARGIN = 2.0  # standard errors of the answer rate by which it must clear ANSWER_BAR
GRID = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.01]
EVIDENCE_GRID = [0.0, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6]
GATE_GRID = [0.45, 0.50, 0.53, 0.57]


def sweep(own: list[dict], other: list[dict], grid: list[float], evidence_at: float = 0.0, gate_at: float = 0.0) -> list[dict]:
    """What each refusal threshold does with `evidence_at` and `gate_at` (pure): an
    answer whose refusal probability reaches the one, whose evidence share is below
    the other, or whose gate evidence is below the third, is refused instead."""

    def refused(r: dict, t: float) -> bool:
        return (r["p"] is not None and r["p"] >= t) or (r["e"] is not None and r["e"] < evidence_at) or r["g"] < gate_at

    out = []
    for t in grid:
        answered = [r for r in own if r["answerable"] and not refused(r, t)]
        cites = sum(r["cites"] for r in answered)
        out.append({
            "threshold": t,
            "evidence_at": evidence_at,
            "gate_at": gate_at,
            "answer_rate": len(answered) / max(len(own), 1),
            "accuracy": sum(r["acc"] for r in answered) / max(len(answered), 1),
            "citation_precision": sum(r["good"] for r in answered) / cites if cites else 0.0,
            "refusal_rate": sum(not r["answerable"] or refused(r, t) for r in other) / max(len(other), 1),
        })
    return out


def answer_rate_needed(n: int) -> float:
    """ANSWER_BAR plus MARGIN standard errors of an answer rate at the bar over `n` questions (pure)."""
    return ANSWER_BAR + MARGIN * (ANSWER_BAR * (1 - ANSWER_BAR) / max(n, 1)) ** 0.5


def choose(own: list[dict], other: list[dict]) -> tuple[list[dict], dict]:
    """One row per gate and evidence threshold (its refusal threshold chosen as the
    docstring says), and the chosen row (pure)."""
    rows = []
    for g in GATE_GRID:
        for a in EVIDENCE_GRID:
            swept = sweep(own, other, GRID, a, g)
            sure = [r for r in swept if r["refusal_rate"] >= REFUSAL_BAR]
            rows.append(max(sure, key=lambda r: r["answer_rate"]) if sure else max(swept, key=lambda r: (r["answer_rate"] + r["refusal_rate"]) / 2))
    enough = [r for r in rows if r["answer_rate"] >= answer_rate_needed(len(own))]
    return rows, max(enough, key=lambda r: r["accuracy"]) if enough else max(rows, key=lambda r: r["answer_rate"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_folder.add_argument(ap)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--offset", type=int, default=1600, help="skip the training half's first N questions (those tune-answerer trained on)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "EVAL.md"))
    args = ap.parse_args()
    data = data_folder.check(ap, args.data, ["squad-a", "scifact"])
    go_offline_if_unreachable()
    settings = Settings.from_env(refuse_at=1.01, answer_at=0.0, gate_threshold=-1.0)  # never refuse: every answer records all three
    models = Models(settings)
    gate_options = gate.options(Settings.from_env(), adapter=True)  # the gate as it weighs, its threshold swept here
    if not models.generator.adapter:
        ap.error("no answering adapter is in use (SOURCED_LLM_ADAPTER / SOURCED_LLM): nothing to calibrate")
    t0 = time.perf_counter()
    qas = load_qa(data / "squad-a", args.questions, args.offset, "train")
    own_c = Collection.of(corpus_index(load_dataset(data / "squad-a"), models.embedder, settings.cache, True), models)
    other_c = Collection.of(corpus_index(load_dataset(data / "scifact"), models.embedder, settings.cache, True), models)
    from tqdm import tqdm

    own, other = [], []
    for qa in tqdm(qas, desc="questions", unit="q"):
        a = answer_once(own_c, qa.question)
        chunks = {h.chunk.chunk_id: h.chunk for h in a.hits}
        cited = [chunks[c.chunk_id] for c in a.citations]
        own.append({"g": gate.decide(a.query, a.hits, **gate_options).evidence, "p": a.refusal_p, "e": a.evidence_p, "answerable": a.answerable, "acc": answer_accuracy(answer_text(a.text), qa.answers) if a.answerable else 0.0, "cites": len(cited), "good": sum(supports(c, qa) for c in cited)})
        b = answer_once(other_c, qa.question)
        other.append({"g": gate.decide(b.query, b.hits, **gate_options).evidence, "p": b.refusal_p, "e": b.evidence_p, "answerable": b.answerable})
    rows, best = choose(own, other)
    minutes = (time.perf_counter() - t0) / 60
    head = "| gate threshold | evidence share needed | refusal threshold | answer rate | answer accuracy (answered) | citation precision | refused on SciFact |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        mark = " (chosen)" if r is best else ""
        lines.append(f"| {r['gate_at']:.2f} | {r['evidence_at']:.2f}{mark} | {r['threshold']:.2f} | {r['answer_rate']:.3f} | {r['accuracy']:.3f} | {r['citation_precision']:.3f} | {r['refusal_rate']:.3f} |")
    print("\n".join(lines))
    passed = {g: sum(r["g"] >= g for r in other) for g in GATE_GRID}
    needed = answer_rate_needed(len(own))
    body = [
        "## When the adapter answers: the gate before it, its refusal threshold and the evidence it needs (bench/calibrate_refusal.py)",
        "",
        f"{len(qas)} questions of the training half of squad-a's articles that the adapter never saw (from the {args.offset + 1}th on), "
        f"asked of squad-a and of SciFact, with the adapter's verbatim decoding (rag/verbatim.py); {models.describe().get('llm', '')}, "
        f"{minutes:.0f} minutes on this machine. Gate threshold: the evidence gate's (rag.gate; dense cosine + "
        f"{gate_options['coverage_weight']} x key-word coverage) before the adapter; of the SciFact questions it let through "
        + ", ".join(f"{passed[g]} at {g:.2f}" for g in GATE_GRID) + ". Evidence share: the probability "
        f"of the answer's evidence (rag.evidence.best: the best sentence, or it and its neighbour) below which the answer is the refusal; "
        f"0: always answer. Refusal "
        f"threshold (1.01: never refuse): for each gate threshold and evidence share, the highest answer rate that refuses at least {REFUSAL_BAR} on "
        f"SciFact. Chosen: the highest answer accuracy of those whose answer rate reaches {ANSWER_BAR} by {MARGIN:.0f} standard errors "
        f"({needed:.3f} at {len(own)} questions).",
        "",
        *lines,
    ]
    sections.write(Path(args.out), "bench/calibrate_refusal.py", body)
    print(f"chosen: gate {best['gate_at']}, REFUSE_AT {best['threshold']}, ANSWER_AT {best['evidence_at']}; section written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
