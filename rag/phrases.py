"""The phrases of a question and their roles, guessed from word order.

No tagger or parser: a question's content words form runs between function words
("How many fatalities | did the | Lion Air accident cause"), and where a run sits
(after "what"/"which", after the first auxiliary, after a preposition) says what it
probably is. Pure functions; rag.rewrite uses them to find what a follow-up refers to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.lexical import STOP_WORDS

_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|\w[\w'’/.\-+]*\w|\w|[^\w\s]")  # "U.S." is one word
WH = frozenset("what which who whom whose when where why how".split())
AUX = frozenset("is are was were be been am do does did has have had can could will would shall should may might must".split())
DO_AUX = frozenset("do does did can could will would shall should may might must".split())  # a bare verb follows the subject
PREPOSITIONS = frozenset("of for in on at to from by with about under between into over after before during without within per among against".split())
DETERMINERS = frozenset("the a an this that these those which what".split())
CONNECTORS = frozenset("and or but also so then".split())
FUNCTION = STOP_WORDS | WH | AUX | PREPOSITIONS | DETERMINERS | CONNECTORS | frozenset("many much long often far soon i me my we us you".split())


@dataclass(frozen=True)
class Phrase:
    """A run of content words, tokens[start:end], after a determiner at `det` (or -1),
    with its role guessed from word order: "wh" (the thing asked about), "subject",
    "direct" (the object of a verb after the subject), "object" or "oblique" (after a
    preposition)."""

    start: int
    end: int
    det: int
    role: str


def words(text: str) -> list[str]:
    return _TOKEN.findall(" ".join(str(text).split()))


def is_entity(token: str) -> bool:
    """Names, codes and numbers ("Arizona", "BM25", "CFOL028", "404", "1970s"), the words a
    follow-up most often swaps; a lower-case word with a digit ("top-20") is not one."""
    return token[:1].isupper() or token[:1].isdigit() or any(c.isupper() for c in token[1:])


def shape(token: str) -> str:
    """'code' for acronyms and numbers (DPR, BM25, 404), 'name' for capitalised words: a
    follow-up swaps like for like ("What about BM25?" replaces DPR, not Natural Questions)."""
    return "code" if any(c.isdigit() for c in token) or sum(c.isupper() for c in token) > 1 else "name"


def is_content(token: str) -> bool:
    return bool(re.match(r"\w", token)) and token.lower() not in FUNCTION


def is_plural(token: str) -> bool:
    t = token.lower()
    return not is_entity(token) and t.endswith("s") and not t.endswith(("ss", "us", "is"))


def _inside_name(tokens: list[str], j: int) -> bool:
    """A function word that belongs to a name: "Order of Prohibition", "404 Not Found"."""
    inner = tokens[j].lower() in ("of", "&") or tokens[j][:1].isupper()
    return inner and 0 < j < len(tokens) - 1 and is_entity(tokens[j - 1]) and is_entity(tokens[j + 1])


def phrases(tokens: list[str], question: bool = True) -> list[Phrase]:
    """The content-word runs of a question with their roles. The first run after the first
    auxiliary is the subject when it reads as a noun phrase (a determiner, a name or two
    words); after do-support or a participle its last word is the verb, split off."""
    runs, i = [], 0
    while i < len(tokens):
        j = i + 1
        while is_content(tokens[i]) and j < len(tokens) and (is_content(tokens[j]) or _inside_name(tokens, j)):
            j += 1
        if is_content(tokens[i]):
            runs.append((i, j))
        i = j
    aux = next((k for k, t in enumerate(tokens) if t.lower() in AUX), len(tokens))
    first_after = next((s for s, _ in runs if s > aux), -1)
    out: list[Phrase] = []
    for n, (s, e) in enumerate(runs):
        det = s - 1 if s and tokens[s - 1].lower() in DETERMINERS else -1
        before = tokens[s - 1].lower() if s else ""
        prep = tokens[(det if det >= 0 else s) - 1].lower() if (det if det >= 0 else s) > 0 else ""
        if s < aux and before in ("what", "which", "whose", "many", "much") and s <= 3:
            out.append(Phrase(s, e, det, "wh"))  # "Which word processor", "How many passages"
        elif s < aux and n == 0 and aux == len(tokens) and (before in WH or s == 0 and question):
            continue  # the verb of "Who patented the typewriter?" or "Tell me about X"
        elif s == first_after and (det >= 0 or is_entity(tokens[s]) or e - s > 1):
            out += _subject(tokens, s, e, det, tokens[aux].lower())
        else:
            direct = s > first_after >= 0 and tokens[aux].lower() in DO_AUX and (det >= 0 or is_entity(tokens[s]))
            out.append(Phrase(s, e, det, "oblique" if prep in PREPOSITIONS else "direct" if direct else "object"))
    return out


def _subject(tokens: list[str], s: int, e: int, det: int, aux: str) -> list[Phrase]:
    out = []
    cut = next((k for k in range(s + 1, e) if not is_entity(tokens[k - 1]) and all(map(is_entity, tokens[k:e]))), e)
    if cut < e and aux in DO_AUX:  # "did the paper compare DPR": the trailing name is the object
        out.append(Phrase(cut, e, -1, "object"))
        e = cut
    verb_after = e < len(tokens) and tokens[e].lower() in AUX  # "does the corpus have"
    if e - s > 1 and not verb_after and (aux in DO_AUX or tokens[e - 1].lower().endswith(("ed", "en"))):
        if is_plural(tokens[e - 1]):  # do-support takes a bare verb: "must the FAA receive comments"
            out.append(Phrase(e - 1, e, -1, "object"))
        e -= 1
    return [Phrase(s, e, det, "subject"), *out]
