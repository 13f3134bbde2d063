"""Shared fixtures: tiny hand-made documents with known answers, fakes, and the
real models (each loaded once per test session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.models import go_offline_if_unreachable

from .fakes import HashEmbedder, ScriptedGenerator
from .pdfgen import write_pdf

go_offline_if_unreachable()

HANDBOOK_PAGES = [
    "Harbor Labs Staff Handbook. This handbook describes how Harbor Labs works. It applies to every employee.",
    "Working hours. The core hours at Harbor Labs are 10:00 to 15:00 on weekdays. "
    "Outside the core hours employees choose their own schedule.",
    "Leave. Every employee receives 27 days of paid annual leave per year. "
    "Parental leave is 20 weeks at full pay. Leave requests go to the team lead at least two weeks ahead.",
]

GUIDE_MD = """# Kestrel 3 Espresso Machine

The Kestrel 3 is a compact espresso machine for home kitchens.

## Cleaning

Descale the boiler every 90 days with citric acid. Rinse the portafilter after each shot.

## Warranty

The warranty lasts 4 years and covers the pump and the boiler. It does not cover the glass carafe.
"""


@pytest.fixture(scope="session")
def docs(tmp_path_factory) -> dict[str, Path]:
    """A 3-page PDF handbook and a Markdown guide, written fresh for the tests."""
    d = tmp_path_factory.mktemp("docs")
    pdf = write_pdf(d / "handbook.pdf", HANDBOOK_PAGES)
    md = d / "kestrel-guide.md"
    md.write_text(GUIDE_MD, encoding="utf-8")
    return {"pdf": pdf, "md": md}


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def scripted() -> ScriptedGenerator:
    return ScriptedGenerator(
        [
            ("annual leave", "Every employee receives 27 days of paid annual leave per year [1]."),
            ("warranty", "The warranty lasts 4 years [2]."),
        ]
    )


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 embedder from the installed package."""
    from ingest.embedder import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    emb.embed(["warm up"])
    return emb


@pytest.fixture(scope="session")
def gemma():
    """The real bundled Gemma 3 270M through llama.cpp."""
    from rag.generate import LlamaGenerator

    return LlamaGenerator("bundled:gemma-3-270m-q4_k_m", n_ctx=2048)


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> str:
    """A cross-encoder built offline from the bundled MiniLM encoder with a fresh
    one-logit head: its scores are meaningless, but it runs the real CrossEncoder path."""
    import torch
    from sentence_transformers import CrossEncoder

    from ingest.models import DEFAULT_EMBEDDER, resolve

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cross-encoder")
    model = CrossEncoder(resolve(DEFAULT_EMBEDDER, "SOURCED_EMBEDDER"), num_labels=1, max_length=128, device="cpu")
    model.save_pretrained(str(path))
    return str(path)
