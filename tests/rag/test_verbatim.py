"""The adapter's verbatim decoding (rag.verbatim): the answer is one run of whole
clauses of one source's sentence with that source's number, or the refusal, and the
refusal is taken only when its probability reaches the threshold."""

import numpy as np

from rag.verbatim import Decoder, answer_lines, choices_for, trie

SOURCE = "The Denver Broncos defeated the Carolina Panthers 24–10, earning their third title. It was played at Levi's Stadium. … Tickets sold out"


def test_the_lines_are_the_clause_runs_of_each_sentence_with_their_source_number():
    lines = answer_lines({2: SOURCE})
    assert lines[:3] == [
        "The Denver Broncos defeated the Carolina Panthers 24–10 [2].",
        "The Denver Broncos defeated the Carolina Panthers 24–10, earning their third title [2].",
        "earning their third title [2].",
    ]
    assert "It was played at Levi's Stadium [2]." in lines and "Tickets sold out [2]." in lines
    assert not any("title. It" in line or "Stadium. …" in line for line in lines)  # never across a sentence or an excerpt gap
    assert len(lines) == len(set(lines)) == 5


def test_short_runs_are_left_out():
    assert answer_lines({1: "Yes, it is, of course true."}, min_words=3) == ["Yes, it is [1].", "Yes, it is, of course true [1].", "it is, of course true [1].", "of course true [1]."]


def test_the_choices_come_from_the_prompts_own_sources():
    prompt = "Rule.\n\nSource [1] (a.pdf, page 1): It rains in Bergen.\nSource [2] (b.pdf, page 4): Oslo is dry in May.\nQuestion: Where does it rain?\nAnswer:"
    choices = choices_for(prompt, "The documents do not say.", 0.7)
    assert choices.lines == ["It rains in Bergen [1].", "Oslo is dry in May [2]."] and choices.threshold == 0.7


def test_kept_sentences_are_the_answer_and_the_refusal_is_weighed_against_every_line():
    prompt = ("Rule.\n\nSource [1] (a.pdf, page 1): It rains in Bergen. The fjords are deep.\n"
              "Source [2] (b.pdf, page 4): Oslo is dry in May. Bergen gets rain on most days of the year.\nQuestion: How often does it rain in Bergen?\nAnswer:")
    choices = choices_for(prompt, "The documents do not say.", kept=[(2, "Bergen gets rain on\n most days,  of the year.")])
    assert choices.lines == ["Bergen gets rain on most days, of the year [2]."]  # whole, whitespace as the prompt shows it
    assert len(choices.pool) == 4, "every clause run of every sentence the prompt shows"


def test_trie_shares_prefixes():
    assert trie([[1, 2], [1, 3], [4]]) == {1: {2: {}, 3: {}}, 4: {}}


# A model over ten tokens: 0 is the end token. Answers: 1 2 3 9, 1 4 9, 5 6 9; the refusal 1 7 8 9.
ANSWERS, REFUSAL = [[1, 2, 3, 9], [1, 4, 9], [5, 6, 9]], [1, 7, 8, 9]


def _logits(prefer: dict[int, float]) -> np.ndarray:
    """Logits over the ten tokens: `prefer`'s, everything else -1 except token 8, the
    model's favourite everywhere, which only the constraint keeps out."""
    scores = np.full(10, -1.0, dtype=np.float32)
    scores[8] = 50.0
    for token, logit in prefer.items():
        scores[token] = logit
    return scores


def _decode(first: dict[int, float], second: dict[int, float], later: dict[tuple, dict[int, float]], threshold: float) -> tuple[list[int], Decoder]:
    """Weigh the refusal on `first` (the logits at the start) and `second` (after token
    1), then decode with `later[prefix]` (the start's own logits at the start)."""
    decoder = Decoder(ANSWERS, REFUSAL, end=0, threshold=threshold)
    decoder.weigh(_logits(first), _logits(second))
    out: list[int] = []
    for _ in range(8):
        masked = decoder(None, _logits(first if not out else later.get(tuple(out), {})))
        assert np.isfinite(masked).sum() == 1
        out.append(int(np.argmax(masked)))
        if out[-1] == 0:
            break
    return out, decoder


def test_a_sure_refusal_is_taken():
    out, decoder = _decode({1: 5.0, 5: 0.0}, {7: 5.0, 2: 0.0, 4: 0.0}, {}, threshold=0.6)
    assert out == [1, 7, 8, 9, 0]
    assert decoder.decision.refused and decoder.decision.refusal_p > 0.95


def test_an_unsure_refusal_gives_way_to_the_likeliest_answer():
    # p(refusal) = p(1) * p(7 | 1) ~ 0.99 * 0.42: below 0.6, so the best answer after 1 is taken
    out, decoder = _decode({1: 5.0, 5: 0.0}, {7: 1.0, 2: 0.0, 4: 1.0}, {(1,): {2: 0.0, 4: 1.0}}, threshold=0.6)
    assert out == [1, 4, 9, 0]
    assert not decoder.decision.refused and 0.4 < decoder.decision.refusal_p < 0.45


def test_the_refusals_share_of_a_common_first_token_does_not_draw_the_answer():
    # token 1 is likelier than 5 only through the refusal behind it (p(7 | 1) = 0.84):
    # the answers' own share of 1 is below 5's, so the answer starts with 5
    out, decoder = _decode({1: 1.0, 5: 0.5}, {7: 3.0, 2: 0.0, 4: 1.0}, {}, threshold=0.9)
    assert out == [5, 6, 9, 0] and not decoder.decision.refused
    assert 0.5 < decoder.decision.refusal_p < 0.9


def test_without_weighing_the_decoder_answers():
    decoder = Decoder(ANSWERS, REFUSAL, end=0)
    tokens = [int(np.argmax(decoder(None, _logits({1: 2.0, 2: 1.0, 3: 1.0, 9: 1.0})))) for _ in range(5)]
    assert tokens == [1, 2, 3, 9, 0] and decoder.decision.refusal_p is None
