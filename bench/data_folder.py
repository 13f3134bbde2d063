"""The benchmarks' `--data DIR`: the folder that holds the real data sets they read.

DIR/scifact, DIR/cranfield and DIR/squad-a are in the BEIR layout (README.md,
"Evaluation data", says what is in them and where public copies come from);
DIR/pdfs holds the PDFs of the speed run. The default is the shared data folder
beside the checkout, where the team's machines and CI keep it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data"


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT, metavar="DIR", help=f"folder holding the data sets (default: ../shared/data beside the checkout, {DEFAULT})")


def check(parser: argparse.ArgumentParser, folder: Path, needs: Iterable[str]) -> Path:
    """`folder`, once it holds every path in `needs`; otherwise a usage error that names --data."""
    if not folder.is_dir():
        parser.error(f"--data {folder}: no such folder; pass --data DIR, a folder holding the data sets (README.md, Evaluation data)")
    missing = [name for name in dict.fromkeys(needs) if not (folder / name).exists()]
    if missing:
        parser.error(f"--data {folder} has no {', '.join(missing)}; pass --data DIR, a folder holding them (README.md, Evaluation data)")
    return folder
