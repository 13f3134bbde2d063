"""A generated document's sections that one bench script owns: between markers that
name the script, rewritten by it and carried over unchanged by bench/eval_report.py."""

from __future__ import annotations

from pathlib import Path


def markers(script: str) -> tuple[str, str]:
    """The begin and end markers of `script`'s section ("bench/multiturn.py")."""
    return f"<!-- {script}: begin -->", f"<!-- {script}: end -->"


def write(path: Path, script: str, body: list[str]) -> None:
    """Replace `script`'s section of `path` with `body`, or append it."""
    begin, end = markers(script)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    section = "\n".join([begin, *body, end])
    if begin in old and end in old:
        text = old[: old.index(begin)] + section + old[old.index(end) + len(end) :]
    else:
        text = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def kept(path: Path, scripts: list[str]) -> str:
    """The sections of `scripts` found in `path`, each after a newline, to carry over."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    found = []
    for begin, end in map(markers, scripts):
        if begin in old and end in old:
            found.append("\n" + old[old.index(begin) : old.index(end) + len(end)])
    return "".join(found)
