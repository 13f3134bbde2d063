"""Prompt templates live here as text files; code fills them and never writes prompts inline.

Placeholders are `{name}`; a literal brace is written `{{` or `}}`. `{citation_rule}`
is filled from `citation_rule.txt`, so the rule is written once for every template.
Rendering fails loudly on a missing or unused value.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

FOLDER = Path(__file__).parent


@lru_cache(maxsize=None)
def template(name: str) -> str:
    path = FOLDER / f"{name}.txt"
    if not path.exists():
        raise FileNotFoundError(f"no prompt template '{name}' in {FOLDER}")
    return path.read_text(encoding="utf-8")


def placeholders(name: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template(name)) if field}


def render(name: str, **values: str) -> str:
    """Fill template `name` with `values`.

    Raises:
        KeyError: the template needs a value that was not given.
        ValueError: a value was given that the template does not use (a likely typo).
    """
    needed = placeholders(name)
    if "citation_rule" in needed:
        values.setdefault("citation_rule", template("citation_rule").strip())
    missing = needed - values.keys()
    if missing:
        raise KeyError(f"prompt '{name}' needs {sorted(missing)}; got {sorted(values)}")
    unused = values.keys() - needed - {"citation_rule"}
    if unused:
        raise ValueError(f"prompt '{name}' has no placeholder for {sorted(unused)}")
    # Files end with a newline by convention; a completion prompt must end right
    # after "Answer:", or the model takes the newline as the end of the answer.
    return template(name).rstrip("\n").format(**values)
