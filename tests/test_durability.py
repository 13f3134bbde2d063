"""Keeps working, loses nothing: ingest is SIGKILLed at random points (seeded) while
parsing, embedding and saving; after every kill the index loads, passes its
checksums, agrees with itself and answers searches, and nothing indexed is lost.
Both storage backends (ingest.backends) are killed the same way; on Milvus Lite,
saving is upserting rows, retiring old ones and committing the folder's record.

The worker runs `ingest.pipeline.ingest` with the hash embedder (the real one would
spend minutes embedding; what is under test is the index's durability, not vectors)
on the 400-page IRS manual from ../shared/data plus small generated files, one
generation per file, so there are many saves to interrupt.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest import backends
from ingest import index as store
from ingest.milvus import release_folder
from ingest.settings import Settings
from rag.retrievers import retrievers_for

from .conftest import BACKENDS
from .fakes import HashEmbedder

ROOT = Path(__file__).resolve().parents[1]
MANUAL = Path(__file__).parents[1].parent / "shared/data/pdfs/irs-irm-2.3.59-400p.pdf"
SEED = 6
KILLS = 12
MIN_KILLS = 6
BUDGET_S = 90  # past this (a loaded machine), stop killing once MIN_KILLS have landed

# Prints each progress message ("reading FILE", "embedding chunks ...", "saving the
# index", ...), so the test can aim a kill at a phase; "done" when every file is in.
WORKER = """
import sys
from ingest.backends import Storage
from ingest.pipeline import ingest
from tests.fakes import HashEmbedder
folder, backend, files = sys.argv[1], sys.argv[2], sys.argv[3:]
embedder = HashEmbedder()
for f in files:
    ingest([f], folder, embedder, progress=lambda fraction, message: print(message, flush=True), storage=Storage(backend))
print("done", flush=True)
"""


def start_worker(folder: Path, files: list[Path], backend: str = "local") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(folder), backend, *map(str, files)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def small_files(d: Path, start: int, n: int) -> list[Path]:
    files = []
    for i in range(start, start + n):
        f = d / f"note-{i:02d}.md"
        f.write_text(f"# Note {i}\n\nDepot {i} keeps spare valve{i} kits. " * 40, encoding="utf-8")
        files.append(f)
    return files


def check_intact(folder: Path, must_keep: set[str]) -> set[str]:
    """Assert the index is whole and searchable, on whichever backend holds it; return
    the sources it holds. A Milvus Lite file is released after, for the next worker."""
    emb = HashEmbedder()
    index = backends.load(folder, emb.name)
    try:
        current = (folder / "CURRENT").read_text().strip() if (folder / "CURRENT").exists() else None
        if current:
            assert index.generation == int(current.split("-")[1]), f"CURRENT ({current}) is intact, no fallback needed"
        if isinstance(index, store.Index):
            assert len(index.chunks) == index.vectors.shape[0] == index.tf.shape[0]
        assert sum(d["chunks"] for d in index.documents) == len(index.chunks) == len(index)
        assert {c.doc_id for c in index.chunks} == index.doc_ids
        assert len({c.chunk_id for c in index.chunks}) == len(index.chunks)
        sources = {d["source"] for d in index.documents}
        assert must_keep <= sources, f"lost {must_keep - sources}"
        if len(index):
            query = " ".join(index.chunks[-1].text.split()[:12])
            retrievers = retrievers_for(index, emb, Settings())
            assert retrievers["bm25"].search(query, 3), query
            assert retrievers["dense"].search(query, 3), query
        return sources
    finally:
        release_folder(folder)


def kill_at(proc: subprocess.Popen, phase: str, nth: int, delay: float, indexed: set[str]) -> str:
    """SIGKILL `proc` `delay` seconds after its `nth` `phase` message about a file not yet
    in `indexed` (already-indexed files are only hashed and skipped); returns what happened."""
    seen = 0
    for line in proc.stdout:
        words = line.split()
        if words == ["done"]:
            proc.wait()
            return "finished first"
        if words[:1] == [phase] and not (phase == "reading" and words[-1] in indexed):
            seen += 1
            if seen < nth:
                continue
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return f"killed {delay * 1000:.0f} ms after '{line.strip()[:50]}'"
    proc.wait()
    return f"exited {proc.returncode}"


@pytest.mark.slow  # a dozen workers started and killed: about 50 s per backend on a shared 2-core machine
@pytest.mark.skipif(not MANUAL.exists(), reason=f"needs {MANUAL}")
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_at_random_points_never_loses_or_corrupts_the_index(tmp_path, backend):
    rng = random.Random(SEED)
    folder = tmp_path / "idx"
    files = [MANUAL]
    kept: set[str] = set()
    outcomes = []
    # The first rounds aim at the manual: twice while pypdf parses it, then while it is
    # embedded and saved; then random phases of the small files, 3 new ones per round.
    aimed = [("reading", 1, (0.3, 2.0)), ("reading", 1, (0.3, 2.0)), ("embedding", 4, (0.0, 0.1)), ("saving", 1, (0.0, 0.05))]
    delays = {"reading": (0.0, 0.1), "embedding": (0.0, 0.05), "saving": (0.0, 0.03)}
    t0 = time.monotonic()
    for i in range(KILLS):
        if i >= MIN_KILLS and time.monotonic() - t0 > BUDGET_S:
            break
        files += small_files(tmp_path, 3 * i, 3)
        if i < len(aimed):
            phase, nth, (lo, hi) = aimed[i]
        else:
            phase, nth = rng.choice(list(delays)), rng.randint(1, 3)
            lo, hi = delays[phase]
        outcomes.append(kill_at(start_worker(folder, files, backend), phase, nth, rng.uniform(lo, hi), kept))
        kept = check_intact(folder, kept)
        print(f"{time.monotonic() - t0:6.1f} s  {outcomes[-1]}; index holds {len(kept)} of {len(files)} files")
    assert sum(o.startswith("killed") for o in outcomes) >= MIN_KILLS, outcomes

    proc = start_worker(folder, files, backend)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.strip().endswith("done")
    sources = check_intact(folder, kept)
    assert sources == {f.name for f in files}, "the last run completes the job"
    index = backends.load(folder, HashEmbedder().name)
    hits = retrievers_for(index, HashEmbedder(), Settings())["bm25"].search("Internal Revenue Manual", 3)
    assert hits and hits[0].chunk.source == MANUAL.name
    assert not list(folder.glob(".gen-*.tmp-*")), "a completed save clears the leftovers of killed ones"
    if backend == "milvus":
        assert_no_stray_rows(index)
    release_folder(folder)


def assert_no_stray_rows(index) -> None:
    """Every row Milvus holds is live, or retired by the live generation (kept for a
    reader of the one before): a killed write's rows were undone."""
    from ingest.milvus import query_all

    g = index.generation
    rows = query_all(index.client, index.collection, "added >= 0", ["added", "removed"])
    assert all(r["added"] <= g for r in rows), "rows of an uncommitted write are gone"
    assert all(r["removed"] >= g for r in rows), "rows retired before the live generation are gone"
    assert sum(r["removed"] > g for r in rows) == len(index)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_concurrent_ingests_into_one_folder_both_land(tmp_path, backend):
    folder = tmp_path / "idx"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    files_a, files_b = small_files(a, 0, 3), [b / f"memo-{i}.txt" for i in range(3)]
    for i, f in enumerate(files_b):
        f.write_text(f"Memo {i}: the ferry to island {i} leaves at dawn. " * 30)
    procs = [start_worker(folder, files_a, backend), start_worker(folder, files_b, backend)]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip().endswith("done")
    index = backends.load(folder, HashEmbedder().name)
    sources = {d["source"] for d in index.documents}
    release_folder(folder)
    assert sources == {f.name for f in files_a + files_b}, "neither writer's documents are lost"
    check_intact(folder, sources)
