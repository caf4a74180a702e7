"""The committed notebooks as documents: structure, illustrations, no widget state, no secrets."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tiktok_helpers.samples import SANDBOX_PUBLIC_VALUES

from .conftest import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
IMAGES = PROJECT_ROOT / "notebooks" / "images"

# Anything that looks like a secret in full. Masked values (TTP_…a1b2, …0001) do not match.
SECRET_PATTERNS = [
    re.compile(r"(?<![A-Za-z])TTP_[A-Za-z0-9_\-]{6,}"),  # tokens and codes start with TTP_
    re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{32,64}(?![A-Za-z0-9])"),  # long app secrets, keys
    re.compile(r"(app_secret|auth_code|refresh_token|access_token)=(?![^&'\"\s]*[…•])[^&'\"\s]{4,}"),
]


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: Pictures (the expiry chart) are base64 bytes, not text a reader sees: their letters mean nothing.
NOT_TEXT = {WIDGET_VIEW, "image/png"}


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    """Every output as text, minus widget model ids (random hex), pictures and the public `state` value."""
    outputs = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = {k: v for k, v in output.get("data", {}).items() if k not in NOT_TEXT}
            outputs.append({**output, "data": data})
    text = json.dumps(outputs, ensure_ascii=False)
    return re.sub(r"state(=|:\s*)[\w\-]+", "state=STATE", text)


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request: pytest.FixtureRequest) -> nbformat.NotebookNode:
    return nbformat.read(request.param, as_version=4)


def test_there_is_a_sequence() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["00", "01", "02", "03", "04", "05", "06"]


def test_no_saved_widget_state(notebook: nbformat.NotebookNode) -> None:
    assert "widgets" not in notebook.metadata
    assert "application/vnd.jupyter.widget-state+json" not in json.dumps(notebook)


def test_no_secret_in_outputs(notebook: nbformat.NotebookNode) -> None:
    text = outputs_text(notebook)
    for pattern in SECRET_PATTERNS:
        found = {m.group(0) for m in pattern.finditer(text)} - SANDBOX_PUBLIC_VALUES
        found = {f for f in found if not re.fullmatch(r"(ROW|TTP)_sbx\w*cipher\w*|[0-9]+|[0-9A-F]{34}", f)}
        assert not found, f"unmasked secret-like values in outputs: {sorted(found)[:3]}"


def test_ran_top_to_bottom_with_outputs(notebook: nbformat.NotebookNode) -> None:
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)


def test_cookbook_sections(notebook: nbformat.NotebookNode) -> None:
    headings = [
        line.lstrip("# ").strip()
        for cell in notebook.cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("#")
    ]
    assert headings[0]  # a title
    for section in ("Overview", "Prerequisites", "Summary", "Resources"):
        assert section in headings, f"missing section {section}"
    assert any(h.startswith("Step 1") for h in headings)


def test_each_notebook_links_to_the_next() -> None:
    for current, following in itertools.pairwise(NOTEBOOKS):
        text = current.read_text()
        assert f"({following.name})" in text, f"{current.name} does not link to {following.name}"


def test_every_illustration_is_used_and_every_image_exists() -> None:
    used: set[str] = set()
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                used |= set(re.findall(r"\(images/([\w\-.]+\.svg)\)", cell.source))
    available = {p.name for p in IMAGES.glob("*.svg")}
    assert used == available


def test_illustrations_are_marked_as_schematics() -> None:
    for svg in IMAGES.glob("*.svg"):
        text = svg.read_text()
        assert "Schematic" in text or "schematic" in text, svg.name
        assert "<script" not in text.lower()


@pytest.mark.slow
def test_nbval_is_strict_a_changed_output_fails(tmp_path: Path) -> None:
    original = PROJECT_ROOT / "notebooks" / "00-start-here.ipynb"
    notebook = nbformat.read(original, as_version=4)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if "text/markdown" in output.get("data", {}):
                output["data"]["text/markdown"] = output["data"]["text/markdown"].replace("sandbox", "live")
    copy = tmp_path / "00-start-here.ipynb"
    nbformat.write(notebook, copy)
    (tmp_path / "images").symlink_to(IMAGES)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         "--nbval-sanitize-with", str(PROJECT_ROOT / "notebooks" / "nbval-sanitize.cfg"), str(copy),
         "--rootdir", str(tmp_path), "-c", "/dev/null"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 failed" in result.stdout


@pytest.mark.slow
def test_running_the_notebooks_never_touches_the_project_env() -> None:
    env, state = PROJECT_ROOT / ".env", PROJECT_ROOT / ".sandbox" / "state.db"
    grants = PROJECT_ROOT / ".env.grants.db"
    before = [(p.stat().st_mtime_ns if p.exists() else None) for p in (env, state, grants)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "notebooks/00-start-here.ipynb"],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert [(p.stat().st_mtime_ns if p.exists() else None) for p in (env, state, grants)] == before


def test_harness_marks_are_tags_not_comments(notebook: nbformat.NotebookNode) -> None:
    """A reader sees no test-harness comment; nbval reads the tag from the cell's metadata."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert "NBVAL" not in cell.source
            if WIDGET_VIEW in json.dumps(cell.get("outputs", [])) or "image/png" in json.dumps(cell.get("outputs", [])):
                assert "nbval-ignore-output" in cell.metadata.get("tags", []), cell.source[:60]
