"""The repository is a valid Hugging Face Space: front matter and requirements agree with pyproject."""

import re
import tomllib
from pathlib import Path

import gradio

ROOT = Path(__file__).resolve().parents[1]


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, "README.md starts with Space front matter"
    return dict(line.split(": ", 1) for line in m.group(1).splitlines())


def test_front_matter_declares_a_gradio_space_on_the_installed_version():
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == gradio.__version__


def test_requirements_match_the_project_dependencies():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    reqs = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith(("#", "--"))]
    assert sorted(reqs) == sorted(deps)
