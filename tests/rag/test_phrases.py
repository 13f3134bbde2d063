from rag.phrases import is_entity, phrases, shape, words


def test_word_shapes():
    assert all(map(is_entity, ["Arizona", "BM25", "CFOL028", "404", "1970s", "U.S."]))
    assert not any(map(is_entity, ["top-20", "warranty"]))
    assert (shape("BM25"), shape("DPR"), shape("Natural")) == ("code", "code", "name")


def test_phrase_roles_follow_word_order():
    tokens = words("How many fatalities did the Lion Air accident cause?")
    roles = {" ".join(tokens[p.start : p.end]): p.role for p in phrases(tokens)}
    assert roles == {"fatalities": "wh", "Lion Air accident": "subject"}, "the verb after do-support is split off"


def test_roles_of_a_question_without_do_support():
    tokens = words("Which word processor was popular among legal professionals?")
    assert [(" ".join(tokens[p.start : p.end]), p.role) for p in phrases(tokens)] == [("word processor", "wh"), ("popular", "object"), ("legal professionals", "oblique")]
    tokens = words("Tell me about the Kestrel 3 warranty.")
    assert [(" ".join(tokens[p.start : p.end]), p.role) for p in phrases(tokens)] == [("Kestrel 3 warranty", "oblique")], "an imperative's verb is no phrase"


def test_names_keep_their_inner_function_words():
    tokens = words("When did the FAA issue the Emergency Order of Prohibition?")
    assert [" ".join(tokens[p.start : p.end]) for p in phrases(tokens)] == ["FAA", "Emergency Order of Prohibition"]
