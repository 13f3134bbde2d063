"""Follow-up questions become standalone queries before retrieval, by rule.

A question is rewritten only when it depends on the conversation (`needs_context`):
an elliptical opener ("what about Arizona?", "and on TriviaQA?", "the same for ..."),
a word that refers back ("it", "they", "that" as a pronoun, "the second one"), or a
fragment with no verb ("How many years?"). Everything else, however short ("What was
the docket number?"), is returned unchanged.

The rewrite edits the previous user question (itself made standalone first, so chains
of follow-ups work): the new phrase takes the slot it stands for, a pronoun becomes the
phrase it most likely points to, a fragment takes the place of the wh-phrase. The
previous question is never glued on: that searched for "Alaska" when the user asked
about Arizona. When no rule applies, the question is searched as asked.

Rules, not the LLM: on hand-written conversations over five public documents
(bench/multiturn.py, docs/EVAL.md) the bundled Gemma 3 270M base model's rewrites added
next to nothing to the rules' hits, at hundreds of milliseconds per question.
"""

from __future__ import annotations

import re

from ingest.lexical import tokenize

from .phrases import AUX, CONNECTORS, DETERMINERS, DO_AUX, PREPOSITIONS, WH, Phrase, is_content, is_entity, is_plural, phrases, shape, words

OPENERS = (("what", "about"), ("how", "about"), ("what", "of"), ("the", "same", "for"), ("same", "for"))
PLURAL = frozenset("they them their theirs".split())
PERSONAL = frozenset("he him his she her hers".split())
DEMONSTRATIVES = frozenset("this that these those".split())
NUMBERS = frozenset("one two three four five six seven eight nine ten first second third fourth fifth last".split())
# "this paper" / "this AD" point at the document being searched, not at the conversation
DOCUMENT_NOUNS = frozenset("paper document article ad nprm manual irm rfc memo section chapter report rule proposal specification book guide handbook file".split())
PERSON_NOUNS = frozenset("author authors people person persons user users pilot pilots crew flightcrew employee employees staff customer customers".split())
# How likely a phrase is to be what a pronoun means, by role. After Lappin & Leass (1994),
# except that in a question the thing asked about and the direct object of a verb outrank
# the subject, which is often only the agent ("When did the FAA publish the list?"); the
# answer comes after the question's own subject.
SALIENCE = {"wh": 90, "direct": 85, "subject": 80, "answer": 70, "object": 50, "oblique": 40}
COHESION = 50  # per word the follow-up repeats from a phrase ("prohibit" -> "Order of Prohibition")
HISTORY_TURNS = 4  # earlier user questions looked back through (follow-ups of follow-ups)


def _refers(tokens: list[str], i: int) -> bool:
    """Whether tokens[i] points back into the conversation (pronouns, demonstratives,
    "one(s)"), not an expletive "it ... to", a relative "that", or "this paper"."""
    low = [w.lower() for w in tokens]
    prev, nxt = (low[i - 1] if i else ""), (low[i + 1] if i + 1 < len(low) else "")
    if low[i] in ("it", "its"):  # "how much does it cost to install X?" is about X
        return not any(low[k] == "to" and k + 1 < len(low) and is_content(tokens[k + 1]) for k in range(i + 1, len(low)))
    if low[i] in PLURAL | PERSONAL:
        return True
    if low[i] in DEMONSTRATIVES:
        if set(low[i + 1 : i + 3]) & DOCUMENT_NOUNS:
            return False
        return low[i] != "that" or not prev or not is_content(tokens[i - 1])
    if low[i] in ("one", "ones"):  # "the fourth one", "the electric one"; not "one of", "use one BM25 negative"
        after_det = prev in ("the", "that", "this", "which", "other", "another", "same", "each") or prev in NUMBERS
        adjective = i > 0 and is_content(tokens[i - 1]) and (not nxt or not is_content(tokens[i + 1]) or low[i - 2 : i - 1] == ["the"])
        return nxt != "of" and (low[i] == "ones" or after_det or adjective)
    return False


def _opener(tokens: list[str]) -> list[str] | None:
    """The phrase of an elliptical follow-up ("What about X?", "And X?", "the same for X")
    without its connector and opener, or None for any other question."""
    low = [w.lower() for w in tokens]
    k = 0
    while k < len(low) and low[k] in CONNECTORS:
        k += 1
    for opener in OPENERS:
        if tuple(low[k : k + len(opener)]) == opener:
            rest = tokens[k + len(opener) - (opener[-1] == "for") :]
            return [w for w in rest if w not in "?.!"] or None
    if k and k < len(low) and low[k] not in WH | AUX:
        return [w for w in tokens[k:] if w not in "?.!"]
    return None


def _fragment(tokens: list[str]) -> bool:
    """A question without a verb: "How many years?", "On which days?", "Why?"."""
    low = [w.lower() for w in tokens if re.match(r"\w", w) and w.lower() not in CONNECTORS]
    if not low or not any(is_content(w) for w in low):
        return bool(low) and low[0] in WH | PREPOSITIONS
    wh = 1 if low[0] in PREPOSITIONS else 0
    return len(low) - wh <= 3 and not set(low) & AUX and wh < len(low) and low[wh] in WH - {"who", "whom", "whose"}


def needs_context(question: str) -> bool:
    """Whether `question` depends on the conversation; a short complete question does not."""
    tokens = words(question)
    return bool(tokens) and (_opener(tokens) is not None or any(_refers(tokens, i) for i in range(len(tokens))) or _fragment(tokens))


def rewrite(question: str, history: list[dict]) -> str:
    """A standalone version of `question` for retrieval: the question itself when it
    stands alone, no earlier user question exists, or no rule applies."""
    return _rewrite(question, history, HISTORY_TURNS)


def _rewrite(question: str, history: list[dict], depth: int) -> str:
    last = next((i for i in range(len(history) - 1, -1, -1) if history[i].get("role") == "user"), None)
    if depth <= 0 or last is None or not needs_context(question):
        return question
    anchor = words(_rewrite(str(history[last].get("content", "")), history[:last], depth - 1))
    reply = next((str(m.get("content", "")) for m in history[last + 1 :] if m.get("role") == "assistant"), "")
    tokens = words(question)
    if not anchor:
        return question
    phrase = _opener(tokens)
    if phrase is not None:
        out = substitute(anchor, resolve(phrase, anchor, reply))
    elif _fragment(tokens):
        out = replace_wh(anchor, tokens)
    else:
        out = resolve(tokens, anchor, reply)
    text = re.sub(r" ([?,.;:!])", r"\1", " ".join(out)).strip()
    return text[:1].upper() + text[1:] if out != tokens else question


def _stems(tokens: list[str]) -> set[str]:
    return set(tokenize(" ".join(tokens)))


def candidates(anchor: list[str], reply: str) -> list[tuple[list[str], Phrase]]:
    """The phrases a pronoun may mean: the previous question's, and the answer's first
    phrase when the question asked for a thing ("What did Wang introduce?" -> "they" are
    the machines the answer named) and the answer starts with one."""
    out = [(anchor, p) for p in phrases(anchor)]
    answer = words(re.sub(r"\[\d+\]", "", reply))
    if answer and len(anchor) > 1 and anchor[0].lower() in ("what", "which", "who") and anchor[1].lower() in DO_AUX and is_content(answer[0]):
        if not any(c.isupper() for c in answer[0][1:]):
            answer[0] = answer[0].lower()  # a sentence's first word is no name for that reason alone
        first = next((p for p in phrases(answer, question=False)), None)
        out += [(answer, Phrase(first.start, first.end, first.det, "answer"))] if first else []
    return out


def antecedent(anchor: list[str], number: str, context: list[str], reply: str = "", person: bool = False, named: bool = False) -> list[str]:
    """The words a pronoun most likely means, as a phrase: the most salient candidate of
    the right number (never a person for "it"; one with a name in it when `named`), plus
    words the follow-up repeats."""
    repeated, best, best_score = _stems(context), [], -1
    for tokens, p in candidates(anchor, reply):
        head = tokens[p.end - 1]
        if (number == "plural") != is_plural(head) and number != "any" or (not person and head.lower() in PERSON_NOUNS):
            continue
        if named and not any(map(is_entity, tokens[p.start : p.end])):
            continue
        score = SALIENCE[p.role] + COHESION * len(_stems(tokens[p.start : p.end]) & repeated)
        if score > best_score:
            end = p.end
            if p.role == "wh" and tokens[end : end + 1] == ["of"]:  # "the value of lambda"
                end += 1 + (tokens[end + 1 : end + 2] == ["the"])
                while end < len(tokens) and is_content(tokens[end]):
                    end += 1
            det = tokens[p.det].lower() if p.det >= 0 else ""
            best = tokens[p.start : end] if is_entity(tokens[p.start]) and not det else ["the", *tokens[p.start : end]]
            best_score = score
    return best


def resolve(tokens: list[str], anchor: list[str], reply: str = "") -> list[str]:
    """`tokens` with each word that refers back replaced by what it points to."""
    out: list[str] = []
    skip = -1
    for i, t in enumerate(tokens):
        low = t.lower()
        if i == skip:
            continue
        if not _refers(tokens, i):
            out.append(t)
        elif low in ("one", "ones"):  # "the fourth one" -> "the fourth design change"
            # a name before it contrasts with a name: "the Ethiopian one" after "the Lion Air accident"
            named = any(is_content(w) and is_entity(w) for w in tokens[max(0, i - 3) : i])
            head = [w for w in antecedent(anchor, "any", tokens, reply, named=named) if not is_entity(w) and w.lower() not in NUMBERS | {"the"}] or [t]
            if low == "one" and is_plural(head[-1]):  # "design changes" -> "design change", "fatalities" -> "fatality"
                head[-1] = head[-1][:-3] + "y" if head[-1].endswith("ies") else head[-1][:-1]
            out += head
        elif low in DEMONSTRATIVES and i + 1 < len(tokens) and is_content(tokens[i + 1]):  # "that test"
            phrase = antecedent(anchor, "any", tokens[i + 1 : i + 2], reply)
            inside = bool(phrase) and _stems(tokens[i + 1 : i + 2]) <= _stems(phrase)
            out += phrase if inside else ["the", *phrase[1:]] if phrase else ["the"]
            skip = i + 1 if inside else -1
        else:
            number = "plural" if low in PLURAL | {"these", "those"} else "any" if low in PERSONAL else "singular"
            phrase = antecedent(anchor, number, tokens, reply, person=low in PLURAL | PERSONAL) or [t]
            out += [*phrase[:-1], phrase[-1] + "'s"] if phrase != [t] and low in ("its", "their", "his", "her") else phrase
    return out


def substitute(anchor: list[str], phrase: list[str]) -> list[str]:
    """`anchor` with `phrase` in the slot it stands for: after the same preposition ("on
    TriviaQA"), in the run it shares words with ("the Ethiopian accident"), a name or code
    of the same shape ("BM25" for DPR), an activity for an activity ("building X" for "to
    compute Y"), else the last object of a preposition."""
    runs, bare = phrases(anchor), lambda ws: ws[1:] if ws and ws[0].lower() in DETERMINERS else ws
    if phrase and phrase[0].lower() in PREPOSITIONS:
        at = [i for i, w in enumerate(anchor) if w.lower() == phrase[0].lower()]
        slot = next((p for p in runs if at and p.start in (at[-1] + 1, at[-1] + 2)), None)
        if slot:
            return anchor[: slot.start] + bare(phrase[1:]) + anchor[slot.end :]
        phrase = phrase[1:]
    body = bare(phrase)
    if not body:
        return anchor
    shared = _stems(body)
    n, p = max(((len(_stems(anchor[p.start : p.end]) & shared), p) for p in runs), key=lambda x: x[0], default=(0, None))
    if n and p:
        last = max(k for k in range(p.start, p.end) if _stems([anchor[k]]) & shared)
        while is_entity(body[-1]) and last + 1 < p.end and is_entity(anchor[last + 1]):  # "definer code P" for "code E"
            last += 1
        return anchor[: p.start] + body + anchor[last + 1 :]
    if is_entity(body[0]):
        spans = [sp for p in runs for sp in _entity_spans(anchor, p)]
        same = [sp for sp in spans if any(shape(anchor[k]) == shape(body[0]) for k in range(*sp))]
        if same or spans:
            s, e = (same or spans)[-1]
            return anchor[:s] + body + anchor[e:]
    to = next((k for k in range(len(anchor) - 1) if anchor[k].lower() == "to" and is_content(anchor[k + 1])), None)
    if body[0].lower().endswith("ing") and to is not None:
        return [*anchor[:to], *body, "?"]
    slot = ([p for p in runs if p.role == "oblique"] or runs or [None])[-1]
    return anchor[: slot.start] + body + anchor[slot.end :] if slot else anchor


def _entity_spans(tokens: list[str], p: Phrase) -> list[tuple[int, int]]:
    spans, k = [], p.start
    while k < p.end:
        e = k
        while e < p.end and (is_entity(tokens[e]) or (e > k and tokens[e].lower() == "of")):
            e += 1
        spans += [(k, e)] if e > k else []
        k = max(e, k + 1)
    return spans


def replace_wh(anchor: list[str], fragment: list[str]) -> list[str]:
    """A verbless fragment in place of the anchor's wh-phrase: "How many years?" after
    "What does the warranty cover?" -> "How many years does the warranty cover?"."""
    frag = [w for w in fragment if w.lower() not in CONNECTORS and w not in "?.!"]
    aux = next((k for k, t in enumerate(anchor) if t.lower() in AUX), None)
    if aux is None or not frag:
        return anchor
    if aux == 0:  # a yes/no question: "Why?" after "Does it cover the pump?"
        return [*frag, anchor[0].lower(), *anchor[1:]]
    return [*frag, *anchor[aux:]]
