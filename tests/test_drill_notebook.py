"""Notebook 06 as stored: failures and questions, nothing that answers them, every cell naming its
drill; and the trainer's page (the answer key) generated from the same data."""

from __future__ import annotations

import json
import re
from typing import Any

import nbformat
import pytest

from scripts.build_docs import NOTEBOOKS, SiteBuilder, find_notebooks
from tiktok_helpers import drills, errors
from tiktok_helpers.drill_widgets import ASK_FIRST

from .conftest import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "notebooks" / "06-troubleshooting-drills.ipynb"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: What only a verdict or an applied fix says (the old answer key's words included).
ANSWER_WORDS = (
    "Cause: right", "Fix: right", "What to do", "Verdict:", "Right cause", "Right fix", "The lesson", "Why not",
    "Fix applied", "Done:", "autopilot", "Practice try", "The catalog:",
)  # fmt: skip


@pytest.fixture(scope="module")
def notebook() -> Any:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))


def outputs(cell: dict[str, Any]) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        for kind, value in output.get("data", {}).items():
            if kind != WIDGET_VIEW:
                parts.append("".join(value) if isinstance(value, list) else str(value))
    return "\n".join(parts)


def source(cell: dict[str, Any]) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def by_id(notebook: Any) -> dict[str, dict[str, Any]]:
    return {cell["id"]: cell for cell in notebook["cells"]}


def test_no_stored_output_answers_a_question(notebook: Any) -> None:
    stored = "\n".join(outputs(cell) for cell in notebook["cells"])
    found = [word for word in ANSWER_WORDS if word in stored]
    assert not found, f"notebook 06 stores answer text: {found}"
    for drill in drills.DRILLS.values():
        assert drill.lesson not in stored and drill.lesson[:1].upper() + drill.lesson[1:] not in stored
        assert not drill.sandbox_note or drill.sandbox_note not in stored


def test_fix_texts_appear_only_as_options_of_their_question(notebook: Any) -> None:
    cells = by_id(notebook)
    options = {o.text for d in drills.DRILLS.values() for o in (*d.causes, *d.fixes)}
    for cell_id, cell in cells.items():
        if not cell_id.endswith("-question"):
            text = outputs(cell)
            assert not [o for o in options if o in text], cell_id
    for drill in drills.DRILLS.values():
        question = outputs(cells[f"drill-{drill.number:02d}-question"])
        assert all(o.text in question for o in (*drill.causes, *drill.fixes)), drill.number
        assert question.count("\n  A. ") == 1 and "Check my answer" in question


def test_verdict_and_fix_cells_store_only_the_request_to_answer_first(notebook: Any) -> None:
    cells = by_id(notebook)
    for drill in drills.DRILLS.values():
        for kind in ("verdict", "fix"):
            cell = cells[f"drill-{drill.number:02d}-{kind}"]
            assert source(cell) == f"training.{kind}({drill.number})"
            assert outputs(cell) == f"{ASK_FIRST}\n", (drill.number, kind)


def test_every_drill_has_its_cells_in_order_naming_it(notebook: Any) -> None:
    code = [source(c) for c in notebook["cells"] if c["cell_type"] == "code"]
    calls = [line for line in code if line.startswith("training.") and "(" in line and line.split("(")[1][:1].isdigit()]
    expected = [
        f"training.{kind}({n})"
        for n in range(1, len(drills.DRILLS) + 1)
        for kind in ("meet", "question", "verdict", "fix")
    ]
    assert calls == expected
    cells = by_id(notebook)
    for drill in drills.DRILLS.values():
        heading = source(cells[f"drill-{drill.number:02d}"])
        assert heading.startswith(f"### Drill {drill.number}: {drill.heading}\n"), drill.number
        failure = outputs(cells[f"drill-{drill.number:02d}-failure"])
        assert failure.startswith(f"Drill {drill.number} of {len(drills.DRILLS)}, the step: {drill.step}\n")
        question = outputs(cells[f"drill-{drill.number:02d}-question"])
        assert f"Drill {drill.number} of {len(drills.DRILLS)}: {drill.heading}" in question
        for kind in ("failure", "verdict", "fix"):  # strict nbval on what is stored ...
            assert "nbval-ignore-output" not in cells[f"drill-{drill.number:02d}-{kind}"]["metadata"].get("tags", [])
        assert cells[f"drill-{drill.number:02d}-question"]["metadata"]["tags"] == ["nbval-ignore-output"]  # a widget


def test_nothing_before_an_answer_names_a_cause(notebook: Any) -> None:
    """No scenario name, trainer's title or exception class name anywhere in the notebook (sources
    and outputs); no drill's heading cell names its catalog title."""
    text = json.dumps(notebook)
    classes = [n for n in errors.__all__ if isinstance(getattr(errors, n), type) and n != "ValidationError"]
    assert not [c for c in classes if re.search(rf"\b{c}\b", text)], "an exception class name is shown"
    # a trainer's title may be an option's words ("The seller removed the app ..."): not outside the questions
    beside = "\n".join(source(c) + outputs(c) for c in notebook["cells"] if not c["id"].endswith("-question"))
    for drill in drills.DRILLS.values():
        assert drill.scenario not in text and drill.title not in beside, drill.number
        heading = source(by_id(notebook)[f"drill-{drill.number:02d}"])
        assert drill.cause.entry.title.lower() not in heading.lower()


def test_the_stored_run_is_the_unattended_one(notebook: Any) -> None:
    cells = by_id(notebook)
    assert "0 right of 0 answered" in outputs(cells["score-table"])
    assert outputs(cells["export-files"]).startswith("Nothing to export yet")
    assert 'TRAINEE = ""' in source(cells["setup"]) and "seed 12610" in outputs(cells["setup"])
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4))


def test_the_trainers_page_is_the_answer_key_from_the_drill_data() -> None:
    builder = SiteBuilder(PROJECT_ROOT, find_notebooks(NOTEBOOKS), PROJECT_ROOT / "unused-site")
    page = builder.trainers_page()
    assert page.path == "trainers.html" and page.notebook is not None
    key = page.notebook.cells[0].source
    for drill in drills.DRILLS.values():
        section = key[key.index(f"## {drill.name}\n") :]
        section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else None]
        assert f"**Right cause:** {drill.cause.text}" in section, drill.number
        assert f"**Right fix:** {drill.fix.text}" in section, drill.number
        assert drill.lesson[1:] in section and drill.title in section and f"`{drill.scenario}`" in section
        notebook_file, heading = drill.where
        assert f"(notebooks/{notebook_file}#{heading.replace(' ', '-')})" in section
