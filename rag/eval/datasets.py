"""Judged data in the BEIR layout: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.

    corpus.jsonl     {"_id", "title", "text"} per line
    queries.jsonl    {"_id", "text"} per line (or queries_<split>.jsonl)
    qrels/test.tsv   query-id, corpus-id, score (with a header line)

Public copies: the BEIR benchmark (https://github.com/beir-cellar/beir) publishes
SciFact, NFCorpus, FiQA, DBpedia-Entity and others in this layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Dataset:
    name: str
    corpus: dict[str, tuple[str, str]]  # id -> (title, text)
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def load_dataset(folder: str | Path, split: str = "test") -> Dataset:
    """Read corpus.jsonl, queries[_split].jsonl and qrels/<split>.tsv (with header).

    Raises:
        FileNotFoundError: naming the missing file of the BEIR layout.
    """
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for p in (folder / "corpus.jsonl", qrels_path):
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing: --dataset needs the BEIR layout (corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                qrels.setdefault(parts[0], {})[parts[1]] = int(float(parts[2]))
    queries_path = folder / f"queries_{split}.jsonl"
    if not queries_path.exists():
        queries_path = folder / "queries.jsonl"
    queries = {q["_id"]: q["text"] for q in _jsonl(queries_path) if q["_id"] in qrels and any(g > 0 for g in qrels[q["_id"]].values())}
    corpus = {d["_id"]: (d.get("title", "") or "", d.get("text", "") or "") for d in _jsonl(folder / "corpus.jsonl")}
    return Dataset(folder.name, corpus, queries, qrels)


# ---------------------------------------------------------------- SQuAD-style article split

ARTICLE_HALVES = ("all", "train", "test")


def article_half(title: str, titles: list[str] | set[str]) -> str:
    """Which half of a SQuAD-style collection's articles `title` is in: "train" or "test".

    The one split rule for training (rag.tune) and evaluation (rag.eval.answers): the
    articles sorted by the SHA-1 of their title (so the split does not follow the
    file's order or the titles' alphabet), the first half (rounded down) "train",
    the rest "test". Questions of one article are never in both halves, so nothing
    learnt from an article's passages or questions is measured on that article.
    """
    import hashlib

    order = sorted(set(titles), key=lambda t: (hashlib.sha1(t.encode("utf-8")).hexdigest(), t))
    if title not in order:
        raise ValueError(f"article {title!r} is not one of the {len(order)} titles given")
    return "train" if order.index(title) < len(order) // 2 else "test"


def split_articles(titles: list[str] | set[str]) -> dict[str, str]:
    """title -> "train" | "test" for every title (article_half)."""
    return {t: article_half(t, titles) for t in set(titles)}
