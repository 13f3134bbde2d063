"""Could the answering adapter choose the answer's sentence better than rag.evidence's
scorer? A probe, not a stage of the app -> a section of docs/EVAL.md.

    .venv/bin/python bench/adapter_choice.py      # about 10 minutes on 2 cores

For questions of the training half of squad-a's articles that neither the scorer's
WEIGHTS (the first 1,500) nor the adapter (the first 1,600) saw, the passages are
searched as the app searches; the scorer ranks their sentences (rag.evidence.ranking),
and for its first K the adapter's log-probability of writing that sentence as its
answer line (" sentence [n].", rag.verbatim.with_citation, after the app's own prompt)
is read from llama.cpp. Each candidate is then scored log(share) + w * f(line), f the
line's mean log-probability per token, and the first sentence's answer accuracy is
reported for each w (w = 0: the scorer as shipped), with the accuracy of the share of
questions the combined score is most sure of (the adapter's ANSWER_AT works so).
Answer accuracy: the sentence holds a gold answer (rag.eval.answers.answer_accuracy).
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
from rag import evidence, verbatim  # noqa: E402
from rag.eval.answers import answer_accuracy, load_qa  # noqa: E402
from rag.eval.datasets import load_dataset  # noqa: E402
from rag.eval.retrieval import corpus_index  # noqa: E402
from rag.generate import answer_prompt  # noqa: E402
from rag.pipeline import Collection, Models  # noqa: E402

import data_folder  # noqa: E402  (bench/, beside this script)
import sections  # noqa: E402

W_GRID = [0.0, 0.1, 0.3, 0.5, 1.0, 2.0, 4.0]
COVERAGE = [0.8, 0.85, 0.9]


def line_logprobs(generator, prompt: list[int], line: list[int]) -> np.ndarray:
    """The log-probability of each token of `line` after `prompt` (token ids), from a
    rag.generate.LlamaGenerator: the prompt is evaluated as the app evaluates it
    (LlamaGenerator.evaluate), the line in one batch with logits at every position,
    then dropped from the cache."""
    llm = generator.llm
    first = generator.evaluate(prompt)
    past = llm.n_tokens
    llm._batch.set_batch(batch=line, n_past=past, logits_all=True)
    llm._ctx.decode(llm._batch)
    rest = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(line) * llm.n_vocab(),)).reshape(len(line), llm.n_vocab())
    logits = np.vstack([first[None], rest[:-1]]).astype(np.float64)
    llm._ctx.kv_cache_seq_rm(-1, past, -1)
    top = logits.max(axis=1)
    return logits[np.arange(len(line)), line] - (top + np.log(np.exp(logits - top[:, None]).sum(axis=1)))


def combined(rows: list[list[dict]], w: float) -> tuple[float, dict[float, float]]:
    """First-sentence accuracy with log(share) + w * mean log-probability, and the
    accuracy of the `COVERAGE` share of questions most sure of their first (pure)."""
    right, sure = [], []
    for cands in rows:
        s = np.array([np.log(c["share"]) + w * c["lp"] for c in cands])
        p = evidence.shares(s)
        i = int(np.argmax(s))
        right.append(cands[i]["right"])
        sure.append(p[i] * sum(c["share"] for c in cands))
    right_a, order = np.array(right), np.argsort(-np.array(sure), kind="stable")
    return float(right_a.mean()), {c: float(right_a[order[: round(c * len(right_a))]].mean()) for c in COVERAGE}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_folder.add_argument(ap)
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--offset", type=int, default=1600, help="skip the training half's first N questions (the adapter trained on 1,600)")
    ap.add_argument("--k", type=int, default=4, help="the scorer's first K sentences the adapter weighs")
    ap.add_argument("--out", default=str(ROOT / "docs" / "EVAL.md"))
    args = ap.parse_args()
    data = data_folder.check(ap, args.data, ["squad-a"])
    go_offline_if_unreachable()
    settings = Settings.from_env()
    models = Models(settings)
    generator = models.generator
    if not generator.adapter:
        ap.error("no answering adapter is in use (SOURCED_LLM_ADAPTER / SOURCED_LLM): nothing to probe")
    t0 = time.perf_counter()
    collection = Collection.of(corpus_index(load_dataset(data / "squad-a"), models.embedder, settings.cache, True), models)
    weights, similarity = collection.term_weights(), evidence.embedding_similarity(models.embedder)
    from tqdm import tqdm

    rows, t_llm = [], 0.0
    for qa in tqdm(load_qa(data / "squad-a", args.questions, args.offset, "train"), desc="questions", unit="q"):
        hits, _ = collection.search(qa.question, settings.top_k)
        cands, p = evidence.ranking(qa.question, hits, weights, similarity)
        if not cands:
            continue
        prompt = generator.llm.tokenize(answer_prompt(qa.question, hits, generator, settings.n_ctx, settings.max_tokens, settings.source_tokens).encode("utf-8"), add_bos=True, special=True)
        row = []
        for c, share in list(zip(cands, p))[: args.k]:
            line = generator.llm.tokenize(f" {verbatim.with_citation(' '.join(c.text.split()), c.n)}\n".encode("utf-8"), add_bos=False, special=False)
            t = time.perf_counter()
            lp = line_logprobs(generator, prompt, line)
            t_llm += time.perf_counter() - t
            row.append({"share": float(share), "lp": float(lp.mean()), "right": answer_accuracy(c.text, qa.answers)})
        rows.append(row)
    ceiling = float(np.mean([max(c["right"] for c in row) for row in rows]))
    head = "| w (adapter's weight) | first sentence holds a gold answer | " + " | ".join(f"accuracy of the surest {c:.0%}" for c in COVERAGE) + " |"
    lines = [head, "|---" * (2 + len(COVERAGE)) + "|"]
    for w in W_GRID:
        acc, at = combined(rows, w)
        lines.append(f"| {w}{' (scorer alone, as shipped)' if w == 0 else ''} | {acc:.3f} | " + " | ".join(f"{at[c]:.3f}" for c in COVERAGE) + " |")
    print("\n".join(lines))
    minutes = (time.perf_counter() - t0) / 60
    body = [
        "## Could the adapter choose the sentence? (bench/adapter_choice.py)",
        "",
        f"{len(rows)} questions of the training half of squad-a's articles from the {args.offset + 1}th on (unseen by the scorer's fit and the adapter); "
        f"for the scorer's first {args.k} sentences, the adapter's mean log-probability per token of writing each as its answer line after the app's prompt, "
        f"added to the log of the scorer's share with weight w. One of the {args.k} holds a gold answer for {ceiling:.3f} of the questions. "
        f"{models.describe().get('llm', '')}; {t_llm / max(len(rows), 1):.2f} s of llama.cpp per question, {minutes:.0f} minutes in all.",
        "",
        *lines,
    ]
    sections.write(Path(args.out), "bench/adapter_choice.py", body)
    print(f"section written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
