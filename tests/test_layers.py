"""The layers of docs/ARCHITECTURE.md, checked on the source: dependencies point one way.

    ingest  <-  rag (answering)  <-  rag.eval  <-  rag.tune        (app.py and the CLI on top)

Every import counts, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> set[str]:
    """Absolute names of the project modules `path` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            names |= {module} | {f"{module}.{a.name}" for a in node.names}
    return {n for n in names if n.split(".")[0] in ("ingest", "rag", "app", "prompts")}


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("path", modules("ingest"), ids=lambda p: str(p.relative_to(ROOT)))
def test_ingest_is_the_bottom_floor(path):
    assert not [n for n in imported(path) if under(n, "rag", "app")]


ANSWERING = [p for p in modules("rag") if p.parent.name == "rag" and p.name != "__main__.py"]


@pytest.mark.parametrize("path", ANSWERING, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_answering_path_imports_neither_evaluation_nor_training(path):
    assert not [n for n in imported(path) if under(n, "rag.eval", "rag.tune", "app")]


@pytest.mark.parametrize("path", modules("rag/eval"), ids=lambda p: str(p.relative_to(ROOT)))
def test_evaluation_does_not_import_training(path):
    assert not [n for n in imported(path) if under(n, "rag.tune", "app")]


def test_the_check_sees_imports_inside_functions(tmp_path):
    probe = ROOT / "rag" / "_layer_probe.py"
    probe.write_text("def f():\n    from .eval import metrics\n    from ingest import index\n")
    try:
        assert {"rag.eval", "rag.eval.metrics", "ingest", "ingest.index"} <= imported(probe)
    finally:
        probe.unlink()
