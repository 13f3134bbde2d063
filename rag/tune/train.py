"""Fine-tune the dual encoder and train a cross-encoder on `rag.tune.triples.Example`s.

Both follow DPR (Karpukhin et al. 2020): a question is scored against its positive
passage, its hard negatives and, for the dual encoder, every other passage in the
batch (in-batch negatives), and the loss is the cross-entropy of picking the
positive. The cross-encoder reads question and passage together and learns the same
choice among its own group of passages (a listwise softmax, as in monoBERT-style
rerankers trained with localised contrastive estimation, Gao et al. 2021).

Training is practical on 2 CPU cores: a time budget shrinks the schedule to what
fits (the learning rate still decays to zero), a checkpoint is written every few
minutes and a rerun resumes from it, seeds fix the batch order, and a GPU is used
when one is present. Models are written with `save_pretrained` (safetensors).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.models import bf16_ok, pick_device

from .progress import Tracker
from .triples import Example

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 120.0


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (rag.tune.stages.TuneOptions holds the measured ones)."""

    epochs: float = 1.0
    batch_size: int = 32  # questions per step
    negatives: int = 1  # hard negatives per question
    lr: float = 2e-5
    warmup: float = 0.1  # share of the steps with a rising learning rate
    max_length: int = 256  # word pieces per passage (per question-passage pair for the cross-encoder)
    scale: float = 20.0  # dual encoder: cosine similarities are multiplied by this before the softmax
    seed: int = 0
    time_budget_s: float | None = None


def batches(examples: list[Example], size: int, epochs: float, seed: int) -> list[list[Example]]:
    """Shuffled batches, `epochs` passes over the data; no batch holds the same
    positive twice (it would be an in-batch negative of itself)."""
    rng = random.Random(seed)
    out: list[list[Example]] = []
    want = max(1, round(len(examples) * epochs / size))
    while len(out) < want and examples:
        order = examples[:]
        rng.shuffle(order)
        filling: list[list[Example]] = []
        for e in order:
            batch = next((b for b in filling if all(x.positive_id != e.positive_id for x in b)), None)
            if batch is None:
                batch = []
                filling.append(batch)
            batch.append(e)
            if len(batch) == size:
                out.append(batch)
                filling.remove(batch)
        out.extend(filling)
    return out[:want]


def fingerprint(kind: str, base: str, examples: list[Example], config: TrainConfig) -> str:
    """What a checkpoint must match to be resumed. The time budget is left out: it only
    shortens the schedule, the checkpoint keeps the schedule it chose, and a rerun's
    budget (the time left of the run's own) is never the same twice."""
    settings = {k: v for k, v in asdict(config).items() if k != "time_budget_s"}
    h = hashlib.sha256(json.dumps([kind, base, settings], sort_keys=True).encode())
    for e in examples:
        h.update(json.dumps(asdict(e), sort_keys=True).encode())
    return h.hexdigest()[:16]


def train(kind: str, base: str, examples: list[Example], texts: dict[str, str], out: str | Path, config: TrainConfig, *, device: str | None = None, progress: bool = True, tracker: Tracker | None = None) -> dict:
    """Train a "biencoder" or "cross-encoder" from `base` and save it to `out`/model.

    Args:
        texts: chunk id -> passage text, for positives and negatives.
        out: a working folder; an interrupted run with the same data and settings
            resumes from `out`/checkpoint.
        tracker: told the step before each one (and polled for a cancel mid-step).

    Returns:
        A report: steps done and planned, seconds, mean loss of the first and last
        tenth of the steps, whether the time budget cut the run short.

    Raises:
        TuneCancelled: the tracker was cancelled; nothing is saved but the last checkpoint.
    """
    import torch
    from tqdm import tqdm

    tracker = tracker or Tracker()
    if kind not in ("biencoder", "cross-encoder"):
        raise ValueError(f"kind must be biencoder or cross-encoder; got {kind!r}")
    if kind == "cross-encoder":  # a question without negatives has nothing to be ranked against
        examples = [e for e in examples if e.negative_ids]
    if not examples:
        raise ValueError("no training examples: index some documents first")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(device)
    torch.manual_seed(config.seed)
    key = fingerprint(kind, base, examples, config)
    state = _read_state(out / "checkpoint", key)
    model = _load(kind, state["model"] if state else base, config, device)
    step_fn = _biencoder_step if kind == "biencoder" else _cross_encoder_step
    plan = batches(examples, config.batch_size, config.epochs, config.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.01)
    total = {"steps": len(plan)}  # shrunk below when the time budget cannot hold every step

    def lr_at(step: int) -> float:
        warm = max(1, int(total["steps"] * config.warmup))
        return step / warm if step < warm else max(0.0, (total["steps"] - step) / max(1, total["steps"] - warm))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    start, losses, spent = 0, [], 0.0
    if state:
        optimizer.load_state_dict(torch.load(out / "checkpoint" / "optimizer.pt", weights_only=True))
        start, losses, spent, total["steps"] = state["step"], state["losses"], state["seconds"], state["planned"]
        scheduler.last_epoch = start
        log.info("resuming %s training at step %d of %d", kind, start, total["steps"])
    t0, last_save = time.monotonic() - spent, time.monotonic()
    # Dropout stays off (the model stays in eval mode while its weights train): on this
    # CPU, train-mode forward passes were 6x slower (9.0 s against 1.5 s for 32
    # questions and 64 passages), and a few hundred fine-tuning steps need no dropout.
    model.eval()
    bar = tqdm(total=total["steps"], initial=start, desc=f"training {kind}", unit="step", disable=not progress)
    step = start
    use_bf16 = bf16_ok(device)
    name = "encoder" if kind == "biencoder" else "reranker"
    while step < total["steps"]:
        tracker.update(step / total["steps"], f"training the {name}, step {step + 1} of {total['steps']}")
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=use_bf16):
            loss = step_fn(model, plan[step], texts, config, device)
        tracker.check()  # between the forward and the backward pass: a step takes seconds on a CPU
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(round(float(loss.detach()), 4))
        step += 1
        bar.update(1)
        elapsed = time.monotonic() - t0
        if config.time_budget_s and step == max(start + 3, 3) and elapsed / step * total["steps"] > config.time_budget_s:
            total["steps"] = max(step + 1, int(config.time_budget_s / (elapsed / step)))
            bar.total = total["steps"]
            bar.refresh()
        if time.monotonic() - last_save > CHECKPOINT_EVERY_S and step < total["steps"]:
            _write_state(model, optimizer, out / "checkpoint", key, step, total["steps"], losses, elapsed)
            last_save = time.monotonic()
    bar.close()
    final = out / "model"
    tmp = out / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    tenth = max(1, len(losses) // 10)
    report = {
        "kind": kind, "base": base, "device": device, "examples": len(examples), "steps": step,
        "planned_steps": len(plan), "resumed_at": start, "bf16": use_bf16, "cut_by_budget": step < len(plan), "seconds": round(time.monotonic() - t0, 1),
        "loss_first": round(sum(losses[:tenth]) / tenth, 4), "loss_last": round(sum(losses[-tenth:]) / tenth, 4),
        "config": asdict(config),
    }
    (out / "train.json").write_text(json.dumps(report, indent=1))
    return report


# ---------------------------------------------------------------- models and losses


def _load(kind: str, path: str, config: TrainConfig, device: str):
    from ingest.models import resolve

    if kind == "biencoder":
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(resolve(path, "SOURCED_EMBEDDER"), device=device)
        model.max_seq_length = config.max_length
        return model
    from sentence_transformers import CrossEncoder

    # A bi-encoder checkpoint has no classification head: a fresh one-logit head is made.
    return CrossEncoder(resolve(path, "SOURCED_EMBEDDER"), num_labels=1, max_length=config.max_length, device=device)


def _biencoder_step(model, batch: list[Example], texts: dict[str, str], config: TrainConfig, device: str):
    import torch
    import torch.nn.functional as F

    queries = [e.query for e in batch]
    positives = [e.positive_text or texts[e.positive_id] for e in batch]
    negatives = [texts[n] for e in batch for n in e.negative_ids[: config.negatives]]
    q = _encode(model, queries, device)
    p = _encode(model, positives + negatives, device)
    scores = config.scale * (F.normalize(q.float(), dim=-1) @ F.normalize(p.float(), dim=-1).T)
    # a negative that is another question's positive text is fine; the same text as
    # this question's own positive is not a negative at all
    same = torch.tensor([[j != i and (positives + negatives)[j] == positives[i] for j in range(p.shape[0])] for i in range(len(batch))], device=device)
    scores = scores.masked_fill(same, float("-inf"))
    return F.cross_entropy(scores, torch.arange(len(batch), device=device))


def _encode(model, texts: list[str], device: str):
    return model(_features(model, texts, device))["sentence_embedding"]


def _features(model, inputs: list, device: str) -> dict:
    """Tokenised inputs on `device`, as the model's own encode/predict make them."""
    features = model.preprocess(inputs)
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def _cross_encoder_step(model, batch: list[Example], texts: dict[str, str], config: TrainConfig, device: str):
    import torch
    import torch.nn.functional as F

    pairs, sizes = [], []
    for e in batch:
        passages = [e.positive_text or texts[e.positive_id]] + [texts[n] for n in e.negative_ids[: config.negatives]]
        pairs.extend((e.query, p) for p in passages)
        sizes.append(len(passages))
    logits = cross_encoder_logits(model, pairs, device)
    # each question's own group: the positive (first) against its negatives
    losses = [F.cross_entropy(group.unsqueeze(0), torch.zeros(1, dtype=torch.long, device=device)) for group in logits.split(sizes)]
    return torch.stack(losses).mean()


def cross_encoder_logits(model, pairs: list[tuple[str, str]], device: str):
    """Raw one-logit scores of (question, passage) pairs, with gradients; the same
    forward pass `CrossEncoder.predict` runs (before its sigmoid)."""
    return model(_features(model, pairs, device))["scores"].view(-1).float()


# ---------------------------------------------------------------- checkpoints


def _write_state(model, optimizer, folder: Path, key: str, step: int, planned: int, losses: list[float], seconds: float) -> None:
    """Model, optimizer and progress, written to a temporary folder then renamed, so
    a kill while saving leaves the previous checkpoint."""
    import torch

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp / "model"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    state = {"key": key, "step": step, "planned": planned, "losses": losses, "seconds": seconds}
    (tmp / "state.json").write_text(json.dumps(state))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _read_state(folder: Path, key: str) -> dict | None:
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return None
    if state.get("key") != key:
        log.info("a checkpoint of different data or settings is in %s; starting over", folder)
        return None
    return state | {"model": str(folder / "model")}
