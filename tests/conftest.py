"""Shared fixtures: tiny hand-made documents with known answers, fakes, an index of
them built once, and the real models (each loaded once per test session).

Tests run in lanes (pyproject.toml's markers): `slow` loads a real model or takes
seconds by design, `browser` drives Chromium. The fast lane,
`-m "not slow and not browser"`, is what a contributor runs on every change; CI runs
everything. A test that uses a real-model fixture is marked `slow` here, and any other
test that loads a real model without the marker fails (`_fast_tests_load_no_real_model`).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from ingest.models import go_offline_if_unreachable
from ingest.pipeline import ingest

from .fakes import HashEmbedder, ScriptedGenerator
from .pdfgen import write_pdf

go_offline_if_unreachable()
# no test touches the user's real library (ingest.library.default_library follows XDG_DATA_HOME)
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="sourced-test-data-")

# ---------------------------------------------------------------- lanes

MODEL_FIXTURES = frozenset({"minilm", "gemma", "gemma_adapter", "tiny_cross_encoder"})

# Where weights are read: the library constructors (module: [(class, attribute)]) and
# the project's functions that call them (module, function or Class.method, library).
LIBRARY_LOADERS = {
    "sentence_transformers": [("SentenceTransformer", "__init__"), ("CrossEncoder", "__init__")],
    "llama_cpp": [("Llama", "__init__"), ("Llama", "from_pretrained")],
}
PROJECT_LOADERS = [
    ("ingest.embedder", "SentenceTransformerEmbedder._load", "sentence_transformers"),
    ("rag.rerank", "CrossEncoderReranker.__init__", "sentence_transformers"),
    ("rag.generate", "LlamaGenerator.__init__", "llama_cpp"),
    ("rag.tune.train", "_load", "sentence_transformers"),
]


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    """A test that uses a real-model fixture, directly or through another fixture, is `slow`."""
    for item in items:
        if MODEL_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


class RealModelInFastTest(RuntimeError):
    """A test outside the `slow` lane went to read a real model's weights."""


class _Refused:
    """What a refused library object becomes: its finaliser (llama_cpp's closes the
    model) must not run on a half-made object."""


class _ModelFence:
    """Makes the library constructors that read weights raise, and records each try."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.attempts: list[str] = []
        self.fenced: set[str] = set()

    def refuse(self, what: str):
        def load(*args, **kwargs):
            self.attempts.append(what)
            if what.endswith(".__init__"):
                args[0].__class__ = _Refused
            raise RealModelInFastTest(f"{what} reads a real model's weights; mark the test slow")

        return load

    def library(self, name: str) -> None:
        if name in self.fenced:
            return
        self.fenced.add(name)
        module = importlib.import_module(name)
        for cls, attribute in LIBRARY_LOADERS[name]:
            self.monkeypatch.setattr(getattr(module, cls), attribute, self.refuse(f"{name}.{cls}.{attribute}"))

    def around(self, module: str, path: str, library: str) -> None:
        """Fence `library` whenever the project function `module`.`path` runs."""
        owner_path, _, name = path.rpartition(".")
        owner = importlib.import_module(module)
        owner = getattr(owner, owner_path) if owner_path else owner
        assert hasattr(owner, name), f"{module}.{path} is gone: update PROJECT_LOADERS in tests/conftest.py"
        function = getattr(owner, name)

        def fenced(*args, **kwargs):
            self.library(library)
            return function(*args, **kwargs)

        self.monkeypatch.setattr(owner, name, fenced)


@pytest.fixture(autouse=True)
def _fast_tests_load_no_real_model(request, monkeypatch):
    """Outside the `slow` lane, reading a real model's weights fails the test.

    The project's loading functions still run as they do for users (a model that does
    not resolve fails the way it always does); only the library constructor that would
    read the weights raises instead. Each attempt is also recorded, so a test whose code
    catches the error (load_reranker does) fails all the same. A library that a test
    calls directly is fenced once it has been imported (by an earlier test or loader)."""
    if request.node.get_closest_marker("slow"):
        yield
        return
    fence = _ModelFence(monkeypatch)
    for library in LIBRARY_LOADERS:
        if library in sys.modules:
            fence.library(library)
    for module, path, library in PROJECT_LOADERS:
        fence.around(module, path, library)
    yield
    if fence.attempts:
        pytest.fail(f"{request.node.nodeid} is not marked slow but loads a real model ({', '.join(fence.attempts)})", pytrace=False)


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


def _contents(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory, docs) -> Path:
    """The docs fixture indexed once per session with the HashEmbedder (30-word chunks,
    5 words overlap): its folder, for tests that only read it. A test that writes takes
    `hash_index_copy`; one that changes this folder fails the session at its end."""
    folder = tmp_path_factory.mktemp("hash-index") / "idx"
    ingest([docs["pdf"], docs["md"]], folder, HashEmbedder(), chunk_words=30, overlap_words=5)
    built = _contents(folder)
    yield folder
    assert _contents(folder) == built, "a test wrote into the shared hash_index; it should take hash_index_copy"


BACKENDS = ("local", "milvus")


@pytest.fixture(params=BACKENDS)
def storage(request):
    """Each storage backend in turn (ingest.backends): local generations, and Milvus
    (Milvus Lite, a file inside each index folder) for the tests that take it."""
    from ingest.backends import Storage

    return Storage(request.param)


@pytest.fixture(scope="session")
def milvus_hash_index(tmp_path_factory, docs) -> Path:
    """`hash_index`'s documents and chunking in a Milvus-held collection (Milvus Lite)."""
    from ingest.backends import Storage

    folder = tmp_path_factory.mktemp("milvus-hash-index") / "idx"
    ingest([docs["pdf"], docs["md"]], folder, HashEmbedder(), chunk_words=30, overlap_words=5, storage=Storage("milvus"))
    return folder


@pytest.fixture(params=BACKENDS)
def any_hash_index(request) -> Path:
    """`hash_index` on each backend in turn, for tests that only read it."""
    return request.getfixturevalue("hash_index" if request.param == "local" else "milvus_hash_index")


@pytest.fixture
def hash_index_copy(hash_index, tmp_path) -> Path:
    """A private copy of `hash_index` that the test may change."""
    return Path(shutil.copytree(hash_index, tmp_path / "hash-index"))


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
def gemma_adapter():
    """The bundled Gemma with the answering adapter in assets/, as the app loads it."""
    from ingest.models import DEFAULT_LLM, adapter_for
    from rag.generate import LlamaGenerator

    return LlamaGenerator(DEFAULT_LLM, n_ctx=2048, adapter=adapter_for(DEFAULT_LLM, "auto"))


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
