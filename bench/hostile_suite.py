"""The hostile suite of docs/SECURITY.md against the real app, with its peak memory.

Starts `python app.py` (real embedder and LLM) in its own process with a fresh private
root, runs every probe over HTTP while another client polls the queue's status, and
reads the server's peak resident memory (VmHWM) at the end. Prints a table and writes
docs/HOSTILE.md.

    .venv/bin/python bench/hostile_suite.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_security import HOSTILE, SECRET, Api, file_data, free_port  # noqa: E402

OUT = ROOT / "docs" / "HOSTILE.md"


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()  # no options; --help describes the run
    work = Path(tempfile.mkdtemp(prefix="sourced-hostile-"))
    port = free_port()
    env = dict(os.environ, SOURCED_PUBLIC="1", SOURCED_PRIVATE_DIR=str(work / "private"), GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1")
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str, str]] = []
    latencies: list[float] = []
    done = threading.Event()
    try:
        for _ in range(600):
            try:
                httpx.get(base + "/gradio_api/info", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(20)  # the models load in the background after launch
        rows.append(("app started, models loaded", "–", f"{memory_kb(server.pid, 'VmRSS') / 1e6:.2f} GB resident"))

        def poll():
            with httpx.Client(base_url=base, timeout=60) as other:
                while not done.is_set():
                    t = time.perf_counter()
                    other.get("/gradio_api/queue/status")
                    latencies.append(time.perf_counter() - t)
                    time.sleep(0.05)

        poller = threading.Thread(target=poll)
        poller.start()

        for label, target in [("Gradio's upload folder (the reported attack)", next((work / "private").glob("p-*/uploads"))), ("the private root", work / "private")]:
            api = Api(base)
            t = time.perf_counter()
            kind, out = api.call("upload", [file_data(target)])
            rows.append((f"upload request naming {label}, a folder", f"{time.perf_counter() - t:.1f} s", _result(kind, out)))
        for name, build in HOSTILE.items():
            path = work / name
            path.write_text(build())
            api = Api(base)
            t = time.perf_counter()
            kind, out = api.call("upload", [file_data(api.upload(path))])
            rows.append((f"upload {name} ({path.stat().st_size / 1e6:.2f} MB)", f"{time.perf_counter() - t:.1f} s", _result(kind, out)))
            path.unlink()

        def visitor(i: int) -> bool:
            doc = work / f"visitor-{i}.txt"
            doc.write_text(f"Visitor {i} notes. {SECRET} The harbour crane number is C-{i:03d}.")
            v = Api(base)
            v.call("upload", [file_data(v.upload(doc))])
            kind, out = v.call("ask", "What is the harbour crane number?", "hybrid", 3)
            text = str(out)
            return kind == "complete" and f"C-{i:03d}" in text and not any(f"C-{j:03d}" in text for j in range(10) if j != i)

        t = time.perf_counter()
        with ThreadPoolExecutor(10) as pool:
            ok = sum(pool.map(visitor, range(10)))
        rows.append(("10 concurrent sessions: upload, then ask for their own crane number", f"{time.perf_counter() - t:.1f} s", f"{ok}/10 answered with their own number only"))
        done.set()
        poller.join()
        rows.append(("`GET /gradio_api/queue/status` from another client, all along", f"max {max(latencies):.2f} s", f"{len(latencies)} requests, median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms"))
        peak = memory_kb(server.pid, "VmHWM") / 1e6
        rows.append(("**peak resident memory of the app process, whole suite**", "–", f"**{peak:.2f} GB** (parsers run in children with their own 2 GB limit)"))
    finally:
        done.set()
        server.terminate()
        server.wait(timeout=60)
    table = ["| probe | time | result |", "|---|---|---|", *[f"| {a} | {b} | {c} |" for a, b, c in rows]]
    report = "\n".join(
        [
            "# The hostile suite against the real app",
            "",
            f"`bench/hostile_suite.py`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; real MiniLM embedder and bundled Gemma 3 270M,",
            "default limits (`max_chunks` 5,000, `chunk_chars` 2,000, `max_file_mb` 50). See [SECURITY.md](SECURITY.md).",
            "",
            *table,
            "",
        ]
    )
    OUT.write_text(report)
    print(report)


def _result(kind: str, out) -> str:
    if kind != "complete":
        return "refused by Gradio before the handler (not in its upload folder)" if kind == "error" else kind
    rows = [line for line in out[1].splitlines() if line.startswith("| ") and not line.startswith(("| File", "| ---"))]
    return "; ".join(r.strip("| ").replace(" | ", ": ").replace("|", "/") for r in rows)[:300]


if __name__ == "__main__":
    main()
