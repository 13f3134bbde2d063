import pytest

from ingest.settings import Settings


def test_environment_then_overrides():
    s = Settings.from_env({"SOURCED_TOP_K": "7", "SOURCED_RERANKER": "none", "HOME": "/x"}, top_k=None, mode="hybrid")
    assert (s.top_k, s.reranker_enabled, s.mode) == (7, False, "hybrid")


def test_unknown_setting_is_an_error_naming_it():
    with pytest.raises(ValueError, match="SOURCED_TOPK"):
        Settings.from_env({"SOURCED_TOPK": "3"})


@pytest.mark.parametrize("env, message", [({"SOURCED_TOP_K": "many"}, "must be a number"), ({"SOURCED_MODE": "magic"}, "mode="), ({"SOURCED_CHUNK_WORDS": "50", "SOURCED_OVERLAP_WORDS": "60"}, "overlap=60")])
def test_bad_values_name_the_value(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)
