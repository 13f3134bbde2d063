"""Train the answering adapter: a LoRA (Hu et al. 2021) on the bundled Gemma 3 270M,
for the one job of answering from numbered sources with the source's number, or
refusing, converted to a GGUF LoRA that llama.cpp applies at load time.

The steps, each resumable:
1. `hf_copy`: transformers loads the bundled GGUF (dequantised to float32) and saves
   a Hugging Face copy once under the cache; training and llama.cpp's converter read it.
2. `train`: peft LoRA on the attention and MLP projections. The loss is the answer
   tokens' cross-entropy only, and the output layer (262k words) is applied only at
   those positions: most of a step's cost is otherwise the logits of the prompt.
   bf16 autocast where the CPU has it (ingest.models.bf16_ok). A checkpoint (adapter,
   optimiser, position) is written every few minutes and a rerun resumes from it; a
   time budget stops cleanly at a checkpoint.
3. `convert`: llama.cpp's own `convert_lora_to_gguf.py`, from the llama-cpp-python
   source distribution of the installed version (fetched with pip once, under the
   cache), writes the adapter as a GGUF LoRA in f16.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.models import bf16_ok

from .grounded import GroundedExample

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 180.0
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class AdapterConfig:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    lr: float = 3e-4
    warmup_steps: int = 8
    accumulate: int = 8  # examples per optimiser step (one example per forward pass: batching gives nothing on 2 cores)
    epochs: float = 1.0
    seed: int = 0


# ---------------------------------------------------------------- the base model as transformers reads it


def hf_copy(gguf_path: str | Path, cache: str | Path) -> Path:
    """A Hugging Face copy of a GGUF model under `cache`/models, made once.

    transformers dequantises the GGUF to float32 on load; its tokenizer conversion
    takes about two minutes, the saved copy reloads in seconds. `save_pretrained`
    refuses a GGUF-loaded model until its quantisation record is removed."""
    gguf_path = Path(gguf_path)
    out = Path(cache) / "models" / f"{gguf_path.stem}-hf"
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.warning("making a transformers copy of %s under %s (once; about two minutes)", gguf_path.name, out)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = out.with_name(out.name + ".partial")
    tokenizer.save_pretrained(partial)
    model.save_pretrained(partial)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    partial.rename(out)
    return out


# ---------------------------------------------------------------- schedule (pure)


def learning_rate(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up to `peak` over `warmup` steps, then cosine decay to zero at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(total - warmup, 1)
    return peak * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def order(n: int, epochs: float, seed: int) -> list[int]:
    """The example indices in training order: shuffled passes, `epochs` of them
    (a fraction takes the first part of one more pass)."""
    rng = random.Random(seed)
    out: list[int] = []
    want = max(1, round(n * epochs))
    while len(out) < want:
        idx = list(range(n))
        rng.shuffle(idx)
        out.extend(idx)
    return out[:want]


def digest(examples: list[GroundedExample], config: AdapterConfig) -> str:
    h = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    for e in examples:
        h.update(e.prompt.encode() + b"\0" + e.target.encode() + b"\0")
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- training


def encode(tokenizer, example: GroundedExample) -> tuple[list[int], int]:
    """Token ids of <bos> + prompt + " " + target + newline, as llama.cpp reads the
    prompt (a begin token, then the text) and stops at the newline; and the number of
    prompt tokens (the loss starts after them)."""
    prompt = [tokenizer.bos_token_id, *tokenizer(example.prompt, add_special_tokens=False)["input_ids"]]
    answer = tokenizer(" " + example.target + "\n", add_special_tokens=False)["input_ids"]
    return prompt + answer, len(prompt)


def answer_loss(model, ids, n_prompt: int):
    """Mean cross-entropy of the answer tokens, with the output layer applied at the
    positions that predict them only."""
    import torch

    inner = model.get_base_model()
    hidden = inner.model(input_ids=ids, use_cache=False).last_hidden_state[:, n_prompt - 1 : -1]
    logits = inner.lm_head(hidden).float()
    cap = getattr(inner.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, n_prompt:].reshape(-1))


def train(examples: list[GroundedExample], base: Path, work: Path, config: AdapterConfig = AdapterConfig(), *, minutes: float | None = None, progress: bool = True) -> Path | None:
    """Train (or resume) the LoRA in `work`; the finished adapter's folder, or None
    when the time budget ran out first (a rerun resumes from the checkpoint)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    work.mkdir(parents=True, exist_ok=True)
    final = work / "adapter"
    key = digest(examples, config)
    if (final / "adapter_config.json").exists() and _read(work / "done.json").get("digest") == key:
        return final
    torch.manual_seed(config.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = AutoTokenizer.from_pretrained(base)
    # eager attention: 2.1 s per 450-token example against sdpa's 2.5 (bf16, 2 cores)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, attn_implementation="eager")
    checkpoint = work / "checkpoint"
    state = _read(checkpoint / "state.json")
    if state.get("digest") == key:
        model = PeftModel.from_pretrained(model, checkpoint, is_trainable=True)
        log.warning("resuming the adapter at example %d of %d", state["position"], state["total"])
    else:
        lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules=list(TARGET_MODULES), task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
        state = {"digest": key, "position": 0, "step": 0, "seconds": 0.0, "losses": []}
    sequence = order(len(examples), config.epochs, config.seed)
    total_steps = math.ceil(len(sequence) / config.accumulate)
    state["total"] = len(sequence)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    if (checkpoint / "optimiser.pt").exists() and state["position"]:
        optimiser.load_state_dict(torch.load(checkpoint / "optimiser.pt"))
    autocast = bf16_ok("cpu")
    model.train()
    t_start, t_saved = time.monotonic(), time.monotonic()
    seconds_before = state["seconds"]
    bar = tqdm(total=len(sequence), initial=state["position"], desc="answering adapter", unit="ex", disable=not progress)
    running = []
    while state["position"] < len(sequence):
        i = state["position"]
        ids, n_prompt = encode(tokenizer, examples[sequence[i]])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = answer_loss(model, torch.tensor([ids]), n_prompt)
        (loss / config.accumulate).backward()
        running.append(loss.item())
        state["position"] = i + 1
        bar.update(1)
        if state["position"] % config.accumulate == 0 or state["position"] == len(sequence):
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(state["step"], total_steps, config.lr, config.warmup_steps)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            state["step"] += 1
            state["losses"].append(round(sum(running) / len(running), 4))
            bar.set_postfix(loss=state["losses"][-1])
            running = []
            state["seconds"] = seconds_before + time.monotonic() - t_start
            out_of_time = minutes is not None and time.monotonic() - t_start > 60 * minutes
            if time.monotonic() - t_saved > CHECKPOINT_EVERY_S or out_of_time:
                _save(model, optimiser, state, checkpoint)
                t_saved = time.monotonic()
            if out_of_time and state["position"] < len(sequence):
                bar.close()
                log.warning("time budget spent at example %d of %d: rerun the same command to resume", state["position"], len(sequence))
                return None
    bar.close()
    state["seconds"] = seconds_before + time.monotonic() - t_start
    model.save_pretrained(final)
    _write(work / "done.json", {"digest": key, "examples": len(examples), "steps": state["step"], "seconds": round(state["seconds"]), "losses": state["losses"], "config": asdict(config)})
    return final


def _save(model, optimiser, state: dict, folder: Path) -> None:
    """Adapter, optimiser and position, replaced together (state.json last)."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "state.json").unlink(missing_ok=True)
    model.save_pretrained(folder)
    torch.save(optimiser.state_dict(), folder / "optimiser.pt")
    _write(folder / "state.json", state)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


# ---------------------------------------------------------------- conversion with llama.cpp's converter


def converter(cache: str | Path) -> Path:
    """llama.cpp's `convert_lora_to_gguf.py` (with the `conversion` and `gguf-py`
    packages beside it) from the source distribution of the installed
    llama-cpp-python, fetched with pip once and kept under `cache`."""
    import tarfile
    from importlib.metadata import version

    v = version("llama-cpp-python")
    home = Path(cache) / f"llama.cpp-{v}"
    script = home / "convert_lora_to_gguf.py"
    if script.exists():
        return script
    download = home.with_name(home.name + ".download")
    download.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", f"llama-cpp-python=={v}", "--no-deps", "--no-binary", ":all:", "-d", str(download)]
    log.warning("fetching llama.cpp's converter: %s", " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    sdists = sorted(download.glob("llama_cpp_python-*.tar.gz"))
    if done.returncode or not sdists:
        raise RuntimeError(f"could not fetch llama-cpp-python {v}'s source distribution, which holds llama.cpp's LoRA converter: {done.stderr.strip()[-500:]}")
    prefix = f"{sdists[0].name[: -len('.tar.gz')]}/vendor/llama.cpp/"
    wanted = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")
    partial = home.with_name(home.name + ".partial")
    with tarfile.open(sdists[0]) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.name[len(prefix) :].startswith(wanted) and (m.isfile() or m.isdir())]
        for m in members:
            m.name = m.name[len(prefix) :]
        tar.extractall(partial, members=members, filter="data")
    partial.rename(home)
    return script


def convert(adapter: Path, base: Path, out: Path, cache: str | Path) -> Path:
    """The peft adapter in `adapter` as a GGUF LoRA (f16) at `out`."""
    script = converter(cache)
    env = {k: v for k, v in os.environ.items() if k != "NO_LOCAL_GGUF"}
    tmp = out.with_name(out.name + ".partial")
    cmd = [sys.executable, str(script), str(adapter), "--base", str(base), "--outtype", "f16", "--outfile", str(tmp)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=script.parent)
    if done.returncode or not tmp.exists():
        raise RuntimeError(f"llama.cpp's converter failed ({' '.join(cmd)}): {done.stderr.strip()[-1500:]}")
    os.replace(tmp, out)
    return out
