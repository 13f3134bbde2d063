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
