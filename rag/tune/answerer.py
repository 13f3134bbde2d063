"""`python -m rag tune-answerer`: build grounded-QA examples from a SQuAD-style
collection's training half (rag.tune.grounded), train the answering adapter on them
(rag.tune.adapter) and write it as a GGUF LoRA with a JSON record of how it was made.

Everything heavy is resumable under `work`: the examples are written once, training
checkpoints every few minutes, and a rerun of the same command continues.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from ingest.index import sha256_file
from ingest.models import BUNDLED_ADAPTER, DEFAULT_LLM, resolve
from ingest.settings import Settings

from . import adapter as lora
from .grounded import GroundedExample, build


def examples_for(dataset: Path, unanswerable: Path | None, settings: Settings, work: Path, limit: int, seed: int, progress: bool) -> list[GroundedExample]:
    """The training examples, from `work`/examples.jsonl when the same request made them."""
    from ..eval.answers import load_qa
    from ..eval.datasets import load_dataset
    from ..eval.retrieval import corpus_index
    from ..pipeline import Collection, Models

    request = {"dataset": str(dataset.resolve()), "unanswerable": str(unanswerable.resolve()) if unanswerable else None, "limit": limit, "seed": seed, "embedder": settings.embedder, "mode": settings.mode, "top_k": settings.top_k, "source_tokens": settings.source_tokens}
    path = work / "examples.jsonl"
    meta = work / "examples.json"
    if path.exists() and meta.exists() and json.loads(meta.read_text()) == request:
        return [GroundedExample(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
    models = Models(replace(settings, llm_adapter="none"))  # its tokenizer counts the prompt; an adapter would only slow the load
    own = Collection.of(corpus_index(load_dataset(dataset), models.embedder, settings.cache, progress), models)
    other = Collection.of(corpus_index(load_dataset(unanswerable), models.embedder, settings.cache, progress), models) if unanswerable else None
    qas = load_qa(dataset, limit, 0, "train")
    examples = build(qas, own, other, models.generator, settings, seed=seed, progress=progress)
    work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(e.to_json()) + "\n" for e in examples), encoding="utf-8")
    tmp.replace(path)
    meta.write_text(json.dumps(request))
    return examples


def run(dataset: str | Path, unanswerable: str | Path | None, settings: Settings, *, out: str | Path = BUNDLED_ADAPTER, work: str | Path | None = None, limit: int = 1500, minutes: float | None = None, config: lora.AdapterConfig = lora.AdapterConfig(), progress: bool = True) -> dict:
    """Train the adapter for settings.llm (the bundled model unless set) and write it
    to `out`, with `out`.json beside it; returns that record, or {"status":
    "paused", ...} when `minutes` ran out first (rerun to resume)."""
    dataset = Path(dataset)
    unanswerable = Path(unanswerable) if unanswerable else None
    gguf = Path(resolve(settings.llm, "SOURCED_LLM", settings.cache))
    if gguf.suffix != ".gguf":
        raise ValueError(f"SOURCED_LLM={settings.llm}: the answering adapter is trained on a local .gguf model")
    work = Path(work) if work else Path(settings.cache) / "answerer" / gguf.stem
    t0 = time.monotonic()
    examples = examples_for(dataset, unanswerable, settings, work, limit, config.seed, progress)
    base = lora.hf_copy(gguf, settings.cache)
    trained = lora.train(examples, base, work, config, minutes=minutes, progress=progress)
    if trained is None:
        return {"status": "paused", "work": str(work), "note": "the time budget ran out; rerun the same command to resume from the checkpoint"}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lora.convert(trained, base, out, settings.cache)
    done = json.loads((work / "done.json").read_text())
    record = {
        "status": "done",
        "adapter": out.name,
        "adapter_sha256": sha256_file(out),
        "adapter_bytes": out.stat().st_size,
        "base_model": settings.llm if settings.llm == DEFAULT_LLM else gguf.name,
        "base_gguf_sha256": sha256_file(gguf),
        "data": {"dataset": dataset.name, "articles": "train", "unanswerable": unanswerable.name if unanswerable else None, "questions": len({e.id for e in examples}), "kinds": dict(Counter(e.kind for e in examples))},
        "prompt": "prompts/answer_adapter.txt",
        "retrieval": {"mode": settings.mode, "top_k": settings.top_k, "embedder": settings.embedder},
        "training": {k: done[k] for k in ("examples", "steps", "seconds", "config")} | {"loss_first_steps": done["losses"][:5], "loss_last_steps": done["losses"][-5:]},
        "seconds_this_run": round(time.monotonic() - t0),
    }
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record

