"""python -m ingest PATH... --index DIR [--json]"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .errors import IngestError
from .settings import Settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["migrate"]:
        return migrate(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m ingest", description="Index files or folders (PDF, Word, PowerPoint, Excel, CSV, HTML, .txt, .md) into an index folder.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to index")
    parser.add_argument("--index", required=True, metavar="DIR", help="index folder (created or updated)")
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    parser.add_argument("--embedder", help="embedding model: local path or Hugging Face id (SOURCED_EMBEDDER)")
    parser.add_argument("--chunk-words", type=int, help="words per chunk (SOURCED_CHUNK_WORDS)")
    parser.add_argument("--overlap-words", type=int, help="words repeated between chunks (SOURCED_OVERLAP_WORDS)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(embedder=args.embedder, chunk_words=args.chunk_words, overlap_words=args.overlap_words).for_index(args.index)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    problem = ocr_problem(settings)
    if problem:
        print(problem, file=sys.stderr)
        if problem.startswith("error"):
            return 2

    from .embedder import embedder_from
    from .models import ModelUnavailableError, go_offline_if_unreachable
    from .pipeline import ingest

    go_offline_if_unreachable()
    embedder = embedder_from(settings)
    bar = _progress_bar(disable=args.json and not sys.stderr.isatty())
    try:
        report = ingest(
            args.paths,
            args.index,
            embedder,
            **settings.ingest_options(),
            progress=bar,
        )
    except (IngestError, ModelUnavailableError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        for a in report.added:
            print(f"indexed  {a['source']}: {a['pages']} page(s), {a['chunks']} chunks")
        for s in report.skipped:
            print(f"skipped  {s['path']}: {s['reason']}")
        print(f"{report.chunks} new chunks, {report.total_chunks} in {args.index}, {report.seconds:.1f} s")
    failed = [s for s in report.skipped if not s["reason"].startswith("already indexed")]
    return 1 if failed and not report.added else 0


def migrate(argv: list[str]) -> int:
    """python -m ingest migrate --index DIR [--json]: move a local collection into Milvus."""
    parser = argparse.ArgumentParser(prog="python -m ingest migrate", description="Move a local collection into Milvus (SOURCED_MILVUS_URI, "
                                     "empty = a Milvus Lite file inside DIR): its passages, vectors and documents, committed as its next generation.")
    parser.add_argument("--index", required=True, metavar="DIR", help="the local index folder to move")
    parser.add_argument("--json", action="store_true", help="print a JSON report on stdout")
    args = parser.parse_args(argv)
    import time
    from pathlib import Path

    from . import index as index_store
    from .milvus import migrate as move

    try:
        settings = Settings.from_env(backend="milvus")
        t = time.perf_counter()
        with index_store.write_lock(Path(args.index), create=False):
            chunks = move(Path(args.index), settings.storage())
    except (IngestError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    report = {"index": args.index, "backend": "milvus", "chunks": chunks, "seconds": round(time.perf_counter() - t, 3)}
    print(json.dumps(report) if args.json else f"moved {chunks} chunks of {args.index} into Milvus ({report['seconds']} s)")
    return 0


def ocr_problem(settings: Settings) -> str:
    """What to tell the user at start when scanned pages cannot be read, or "": an
    error when they chose the OCR engine or languages, else a note (the default
    engine missing is no reason to refuse text PDFs)."""
    from .ocr import DEFAULT_LANGS, check

    problem = check(settings.ocr_options)
    if not problem:
        return ""
    if settings.ocr != "auto" or settings.ocr_langs != DEFAULT_LANGS:
        return f"error: OCR cannot run as set (SOURCED_OCR={settings.ocr}, SOURCED_OCR_LANGS={settings.ocr_langs}): {problem}"
    return f"note: scanned PDF pages will not be read: {problem}"


class _progress_bar:
    """A tqdm bar on stderr driven by the pipeline's (fraction, message) callback."""

    def __init__(self, disable: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=100, unit="%", file=sys.stderr, disable=disable, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.n = int(100 * fraction)
        self.bar.set_postfix_str(message[:60])

    def close(self) -> None:
        self.bar.close()


if __name__ == "__main__":
    sys.exit(main())
