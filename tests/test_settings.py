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


def test_an_empty_source_budget_means_the_prompts_own():
    assert Settings.from_env({"SOURCED_SOURCE_TOKENS": ""}).source_tokens is None
    assert Settings.from_env({"SOURCED_SOURCE_TOKENS": "300"}).source_tokens == 300
    with pytest.raises(ValueError, match="SOURCED_SOURCE_TOKENS must be a number"):
        Settings.from_env({"SOURCED_SOURCE_TOKENS": "lots"})


def test_the_answering_adapter_goes_with_the_bundled_model_only(tmp_path, monkeypatch):
    from ingest import models
    from ingest.models import DEFAULT_LLM, ModelUnavailableError, adapter_for

    lora = tmp_path / "answerer-lora.gguf"
    lora.write_bytes(b"GGUF")
    monkeypatch.setattr(models, "BUNDLED_ADAPTER", lora)
    assert adapter_for(DEFAULT_LLM, "auto") == str(lora)
    assert adapter_for("/models/qwen2.5-0.5b-instruct.gguf", "auto") == ""  # it was not trained for another model
    assert adapter_for(DEFAULT_LLM, "none") == "" and adapter_for(DEFAULT_LLM, "") == ""
    assert adapter_for("/models/other.gguf", str(lora)) == str(lora.resolve())  # an explicit path is the user's choice
    lora.unlink()
    assert adapter_for(DEFAULT_LLM, "auto") == ""  # not trained yet: the base model alone
    with pytest.raises(ModelUnavailableError, match="SOURCED_LLM_ADAPTER=/nowhere/x.gguf: no such file"):
        adapter_for(DEFAULT_LLM, "/nowhere/x.gguf")
