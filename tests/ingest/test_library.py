"""The local library: collections made, named, listed, opened, deleted; conversations kept."""

from __future__ import annotations

import json

import pytest

from ingest.library import CHAT, MAX_CHAT_MESSAGES, Library, clean_collection_name, slug


def test_names_are_checked_and_slugs_are_plain(tmp_path):
    assert clean_collection_name("  Tax \u202e 2025\n") == "Tax 2025"
    for bad in ("", "   ", "x" * 81):
        with pytest.raises(ValueError, match="name"):
            clean_collection_name(bad)
    assert slug("Tax 2025 / Rückzahlung") == "tax-2025-ruckzahlung"
    assert slug("事件") == "collection"


def test_collections_are_listed_by_name_and_opened_once(tmp_path):
    lib = Library(tmp_path)
    a = lib.create("Zebra notes")
    b = lib.create("apple papers")
    assert [e.name for e in lib.entries()] == ["apple papers", "Zebra notes"]
    assert lib.open(a.key) is lib.open(a.key), "one Session per collection: tabs share its open index"
    with pytest.raises(ValueError, match="already a collection"):
        lib.create("ZEBRA NOTES")
    cli_built = tmp_path / "from-the-cli"
    cli_built.mkdir()
    assert "from-the-cli" in [e.name for e in lib.entries()], "a folder made with `python -m ingest --index` lists under its name"
    lib.open(b.key)
    assert lib.current().key == b.key, "the collection opened last"
    assert Library(tmp_path).current().key == b.key, "remembered across restarts"


def test_rename_keeps_the_folder(tmp_path):
    lib = Library(tmp_path)
    a = lib.create("Drafts")
    lib.rename(a.key, "Final")
    assert lib.name(a.key) == "Final" and a.folder.is_dir() and a.folder.name == "drafts"
    lib.create("Other")
    with pytest.raises(ValueError, match="already"):
        lib.rename(a.key, "other")


def test_open_and_delete_refuse_what_they_should(tmp_path):
    lib = Library(tmp_path)
    a = lib.create("Busy")
    for key in ("../x", ".library.json", "missing"):
        with pytest.raises(ValueError, match="no longer exists"):
            lib.open(key)
    with lib.using(a), pytest.raises(ValueError, match="busy"):
        lib.delete(a.key)
    lib.delete(a.key)
    assert not a.live and lib.entries() == [] and lib.current() is None
    assert not any(tmp_path.glob(".deleted-*")), "the renamed folder is gone too"


def test_the_conversation_is_kept_atomically_and_bounded(tmp_path):
    lib = Library(tmp_path)
    a = lib.create("Chat")
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(MAX_CHAT_MESSAGES + 10)]
    lib.save_chat(a.key, messages)
    kept = lib.chat(a.key)
    assert len(kept) == MAX_CHAT_MESSAGES and kept[-1]["content"] == messages[-1]["content"]
    assert [p.name for p in a.folder.iterdir() if p.name.endswith(".tmp")] == []
    (a.folder / CHAT).write_text("{ not json")
    assert lib.chat(a.key) == [], "a damaged file is an empty conversation, not a crash"
    (a.folder / CHAT).write_text(json.dumps({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": 3}]}))
    assert lib.chat(a.key) == []
