"""Build the German and French retrieval check from the Debian Reference manual.

    .venv/bin/python bench/multilingual.py build --out ~/.cache/sourced/multilingual
    .venv/bin/python bench/multilingual.py build --debs DIR --out OUT   # *.deb already downloaded
    .venv/bin/python bench/multilingual.py build --root DIR --out OUT   # packages already extracted
    .venv/bin/python -m rag eval --dataset OUT/debian-reference-de --mode hybrid --json

The text is the manual's translations in the Debian packages debian-reference-de and
debian-reference-fr (GPL-2+, Osamu Aoki; the HTML chapters under
/usr/share/debian-reference/). Without --debs or --root, `build` runs
`apt-get download debian-reference-de debian-reference-fr` into a temporary folder (no
root needed, the machine's apt sources must carry them) and unpacks them with
`dpkg-deb -x`. Each language becomes a BEIR folder OUT/debian-reference-LANG/
(corpus.jsonl, queries.jsonl, qrels/test.tsv, SOURCE.txt): the manual's prose
passages, and the hand-written questions of rag/eval/multilingual.jsonl judged by
their anchors. An anchor that matches no passage stops the build.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.eval.multilingual import LANGS, QUESTIONS, AnchorNotFoundError, html_blocks, load_questions, passages, resolve_anchors  # noqa: E402

PACKAGES = {lang: f"debian-reference-{lang}" for lang in LANGS}
MANUAL = Path("usr/share/debian-reference")


def chapter_order(path: Path) -> tuple[int, str]:
    """Reading order of the manual's files: preface (pr01), chapters (ch01..), appendix (apa)."""
    return ({"pr": 0, "ch": 1, "ap": 2}.get(path.name[:2], 3), path.name)


def chapters(root: Path, lang: str) -> list[Path]:
    folder = root / MANUAL
    files = sorted((p for p in folder.glob(f"*.{lang}.html") if p.name[:2] in ("pr", "ch", "ap")), key=chapter_order)
    if not files:
        raise FileNotFoundError(f"no {lang} chapters (pr01/chNN/apa.{lang}.html) under {folder}: is {PACKAGES[lang]} extracted in {root}?")
    return files


def extract(debs: Path, into: Path) -> dict[str, str]:
    """Unpack both packages' .deb files from `debs` into `into`; returns each one's version."""
    versions = {}
    for lang, package in PACKAGES.items():
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise FileNotFoundError(f"no {package}_*.deb in {debs}")
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(into)], check=True)
        versions[lang] = subprocess.run(["dpkg-deb", "-f", str(found[-1]), "Version"], check=True, capture_output=True, text=True).stdout.strip()
    return versions


def download(into: Path) -> None:
    print(f"apt-get download {' '.join(PACKAGES.values())} (into {into})", file=sys.stderr)
    subprocess.run(["apt-get", "download", *PACKAGES.values()], cwd=into, check=True)


def write_dataset(folder: Path, corpus, questions, qrels, source: str) -> None:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for p in corpus:
            f.write(json.dumps({"_id": p.id, "title": p.title, "text": p.text}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps({"_id": q.id, "text": q.question}, ensure_ascii=False) + "\n")
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, rel in qrels.items():
            for pid, score in rel.items():
                f.write(f"{qid}\t{pid}\t{score}\n")
    (folder / "SOURCE.txt").write_text(source, encoding="utf-8")


def build(root: Path, out: Path, versions: dict[str, str], questions_path: Path) -> int:
    """Split both manuals, judge the questions, and write the two folders (none if any
    anchor of either language matches nothing). Returns the exit status."""
    questions = load_questions(questions_path)
    built, failed = {}, []
    for lang in LANGS:
        blocks = [b for path in chapters(root, lang) for b in html_blocks(path.read_text(encoding="utf-8"))]
        corpus = passages(blocks, lang)
        asked = [q for q in questions if q.lang == lang]
        try:
            built[lang] = (blocks, corpus, asked, resolve_anchors(asked, corpus))
        except AnchorNotFoundError as e:
            failed.append(f"{PACKAGES[lang]}: {e}")
    if failed:
        print("\n".join(["nothing written:", *failed]), file=sys.stderr)
        return 1
    for lang, (blocks, corpus, asked, qrels) in built.items():
        source = (
            f"{PACKAGES[lang]} {versions.get(lang, '(version not recorded: built from an extracted root)')}, "
            "/usr/share/debian-reference/*.html; GPL-2+, Osamu Aoki.\n"
            f"Questions: {questions_path.name} (Sourced), judged by anchor.\n"
        )
        write_dataset(out / PACKAGES[lang], corpus, asked, qrels, source)
        judged = sum(len(r) for r in qrels.values())
        print(f"{PACKAGES[lang]}: {len(corpus)} passages from {len(blocks)} paragraphs, {len(asked)} questions, "
              f"{judged} judgements (at most {max(len(r) for r in qrels.values())} per question) -> {out / PACKAGES[lang]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="write OUT/debian-reference-{de,fr}/ in the BEIR layout")
    source = b.add_mutually_exclusive_group()
    source.add_argument("--debs", type=Path, metavar="DIR", help="folder holding debian-reference-{de,fr}_*.deb (else: apt-get download)")
    source.add_argument("--root", type=Path, metavar="DIR", help="folder the packages were extracted into (has usr/share/debian-reference/)")
    b.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the two dataset folders go")
    b.add_argument("--questions", type=Path, default=QUESTIONS, metavar="FILE", help="question file (default: rag/eval/multilingual.jsonl)")
    args = parser.parse_args(argv)
    try:
        return run_build(args)
    except (OSError, ValueError, subprocess.CalledProcessError) as e:  # a missing folder or package, a bad question file
        print(f"build failed: {e}", file=sys.stderr)
        return 1


def run_build(args: argparse.Namespace) -> int:
    if args.root:
        return build(args.root, args.out, {}, args.questions)
    with tempfile.TemporaryDirectory(prefix="sourced-debref-") as tmp:
        debs = args.debs or Path(tmp) / "debs"
        if not args.debs:
            debs.mkdir()
            download(debs)
        versions = extract(debs, Path(tmp) / "root")
        return build(Path(tmp) / "root", args.out, versions, args.questions)


if __name__ == "__main__":
    sys.exit(main())
