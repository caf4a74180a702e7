"""The training session notebook 06 drives (``drill_widgets.training``): the first answer counts,
nothing is lost when a cell runs again, setup asks before resetting, every cell run too early says
what to run, the export for the trainer, and the training runbook's removal (leftovers included)."""

from __future__ import annotations

import csv
import gc
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_helpers import drill_widgets, drills
from tiktok_helpers.drill_widgets import ASK_FIRST, NOT_SET_UP, DrillQuiz, Scorecard, Training, remove_leftovers

pytestmark = pytest.mark.usefixtures("instant_retries")


@pytest.fixture
def training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Training]:
    """A Training whose runbook lives in this test's folder."""
    monkeypatch.setattr(drill_widgets, "open_training_session", lambda: drills.open_training_session(tmp_path / "tr"))
    monkeypatch.setattr(drill_widgets, "remove_leftovers", lambda: [])
    session = Training()
    yield session
    session.close()


def answer(quiz: DrillQuiz, *, cause_right: bool, fix_right: bool) -> None:
    drill = quiz.drill
    cause = drill.cause if cause_right else drill.causes[1]
    fix = drill.fix if fix_right else drill.fixes[1]
    quiz.choose(quiz.causes.index(cause) + 1, "ABC"[quiz.fixes.index(fix)])
    assert quiz.check() is not None


def test_every_cell_run_before_the_setup_says_which_cell_to_run(capsys: pytest.CaptureFixture[str]) -> None:
    fresh = Training()
    assert fresh.score() is None and fresh.question(1) is None
    fresh.meet(1)
    fresh.verdict(1)
    fresh.fix(1)
    fresh.export()
    assert capsys.readouterr().out == f"{NOT_SET_UP}\n" * 6
    assert "setup cell" in NOT_SET_UP


def test_verdict_and_fix_wait_for_an_answer_and_the_question_for_its_failure(
    training: Training, capsys: pytest.CaptureFixture[str]
) -> None:
    training.setup("Ann")
    capsys.readouterr()
    assert training.question(5) is None
    assert "training.meet(5)" in capsys.readouterr().out  # a question run before its failure names its drill
    training.meet(5)
    shown = capsys.readouterr().out
    assert shown.startswith(f"Drill 5 of {len(drills.DRILLS)}, the step: refresh (notebook 05)\n")
    assert "code 36004001" in shown and "RefreshTokenExpired" not in shown
    training.verdict(5)
    training.fix(5)
    assert capsys.readouterr().out == f"{ASK_FIRST}\n{ASK_FIRST}\n"
    quiz = training.question(5)
    assert isinstance(quiz, DrillQuiz) and quiz.wire is not None and "/token/refresh" in quiz.wire.text()
    answer(quiz, cause_right=False, fix_right=True)
    training.verdict(5)
    verdict = capsys.readouterr().out
    assert "The lesson: " in verdict and "Right cause: " in verdict and "Why not cause: " in verdict
    training.fix(5)
    fixed = capsys.readouterr().out
    assert fixed.startswith(f"Fix applied ({'ABC'[quiz.fixes.index(quiz.drill.fix)]}): {quiz.drill.fix.text}")
    assert "Refreshed" in fixed
    training.fix(5)
    assert "Applied before" in capsys.readouterr().out  # not applied twice


def test_the_first_answer_counts_and_a_rerun_loses_nothing(
    training: Training, capsys: pytest.CaptureFixture[str]
) -> None:
    card = training.setup("Ann")
    training.meet(9)
    quiz = training.question(9)
    assert quiz is not None
    answer(quiz, cause_right=False, fix_right=True)
    first = card.first(quiz.drill)
    answer(quiz, cause_right=True, fix_right=True)  # a second try: practice
    training.meet(9)  # the failure cell again
    again = training.question(9)  # the question cell again: a new widget, the same answer
    assert again is not None and again is not quiz and "Answered before" in again.out.value
    answer(again, cause_right=True, fix_right=True)
    training.setup("Ann")  # the setup cell again
    assert training.card is card and card.first(quiz.drill) == first
    assert card.right == 0 and card.answered == 1 and len(card.practice(quiz.drill)) == 2
    capsys.readouterr()
    training.verdict(9)
    out = capsys.readouterr().out
    assert "cause wrong, fix right" in out and out.count("Practice try") == 2


def test_setup_again_keeps_the_answers_unless_asked_to_reset(
    training: Training, capsys: pytest.CaptureFixture[str]
) -> None:
    card = training.setup("Ann")
    session = training.session
    assert "seed" in capsys.readouterr().out
    bea = training.setup("Bea")  # nothing answered yet: nothing to lose, Bea now
    assert bea is not card and bea.trainee == "Bea" and training.card is bea
    card = bea
    training.meet(12)
    quiz = training.question(12)
    assert quiz is not None
    answer(quiz, cause_right=True, fix_right=True)
    capsys.readouterr()
    assert training.setup("Cid") is card  # answers kept, and said so
    said = capsys.readouterr().out
    assert "1 answer(s) kept" in said and "reset=True" in said
    fresh = training.setup("Bea", reset=True)
    assert fresh is not card and fresh.answered == 0
    assert "Started over" in capsys.readouterr().out
    assert training.session is session  # the same training runbook
    training.verdict(12)
    assert capsys.readouterr().out == f"{ASK_FIRST}\n"


def test_the_score_counts_first_answers_only(training: Training, capsys: pytest.CaptureFixture[str]) -> None:
    training.setup("Ann")
    for number, right in ((1, True), (3, False)):
        training.meet(number)
        quiz = training.question(number)
        assert quiz is not None
        answer(quiz, cause_right=right, fix_right=right)
        answer(quiz, cause_right=True, fix_right=True)
    capsys.readouterr()
    table = training.score()
    assert table is not None
    assert capsys.readouterr().out.startswith("Score for Ann: 1 right of")
    rows = {row[0]: row for row in table.rows}
    assert rows["Drill 1: an exchange fails"][2:4] == ("right", "right")
    assert rows["Drill 3: an authorization fails"][2:4] == ("wrong", "wrong")
    assert rows["Drill 3: an authorization fails"][5] == "1"
    assert rows["Drill 2: an exchange fails"][1] == "not yet"


# --------------------------------------------------------------------------- the export


def test_the_export_has_the_first_answers_and_is_private(tmp_path: Path) -> None:
    now = [100.0]
    card = Scorecard("Ann Lee", clock=lambda: now[0])
    drill, other = drills.find_drill(5), drills.find_drill(16)
    card.shown(drill)
    now[0] = 112.34
    card.answer(drill, drill.causes[2].id, drill.fix.id)  # first: cause wrong
    now[0] = 130.0
    card.answer(drill, drill.cause.id, drill.fix.id)  # practice
    card.shown(other)
    card.answer(other, other.cause.id, other.fix.id)
    csv_path, json_path = card.export(tmp_path / "results")
    for path in (csv_path, json_path):
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert (tmp_path / "results").stat().st_mode & 0o777 == 0o700
    assert csv_path.name.startswith("drills-ann-lee-") and csv_path.with_suffix(".json") == json_path
    rows = list(csv.DictReader(csv_path.read_text(encoding="utf-8").splitlines()))
    assert len(rows) == len(drills.DRILLS) and {r["trainee"] for r in rows} == {"Ann Lee"}
    five = rows[4]
    causes, fixes = card.options(drill)
    assert five["scenario"] == "refresh-token-expired" and five["cause_option"] == drill.causes[2].id
    assert five["cause"] == str(causes.index(drill.causes[2]) + 1) and five["fix"] == "ABC"[fixes.index(drill.fix)]
    assert (five["cause_right"], five["fix_right"], five["right"]) == ("False", "True", "False")
    assert five["seconds"] == "12.3" and five["practice_tries"] == "1"
    assert rows[0]["answered"] == "False" and rows[0]["cause"] == ""
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert (document["trainee"], document["seed"], document["right"], document["answered"]) == (
        "Ann Lee",
        card.seed,
        1,
        2,
    )
    assert document["date"] == card.started.isoformat(timespec="seconds")
    assert document["drills"][15]["right"] is True and document["drills"][4]["seconds"] == 12.3
    again = card.export(tmp_path / "results")  # the same second: a new name, never over the first
    assert again[0] != csv_path and csv_path.read_text(encoding="utf-8") == again[0].read_text(encoding="utf-8")


def test_the_export_cell_prints_where_it_wrote(
    training: Training, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    training.setup("Ann")
    training.export(tmp_path / "out")
    assert "Nothing to export yet" in capsys.readouterr().out
    training.meet(2)
    quiz = training.question(2)
    assert quiz is not None
    answer(quiz, cause_right=True, fix_right=True)
    capsys.readouterr()
    training.export(tmp_path / "out")
    printed = capsys.readouterr().out.split()
    written = sorted((tmp_path / "out").iterdir())
    assert [str(p) for p in written] == sorted(p for p in printed if p.startswith(str(tmp_path)))
    assert {p.suffix for p in written} == {".csv", ".json"}


# --------------------------------------------------------------------------- the training runbook's end


def test_the_training_runbook_is_removed_with_its_session() -> None:
    session = drills.open_training_session()
    folder = session.settings.env_path.parent
    assert folder.name.startswith(drills.PREFIX) and (folder / drills.MARKER).is_file()
    marker = json.loads((folder / drills.MARKER).read_text(encoding="utf-8"))
    assert (marker["what"], marker["pid"], marker["host"]) == (drills.MARKER_WHAT, os.getpid(), socket.gethostname())
    session.close()
    del session
    gc.collect()
    assert not folder.exists()


def test_close_removes_the_training_runbook_and_keeps_the_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(drill_widgets, "remove_leftovers", lambda: [])
    session = Training()
    card = session.setup("Ann")
    session.meet(11)
    quiz = session.question(11)
    assert quiz is not None and session.session is not None
    answer(quiz, cause_right=True, fix_right=False)
    folder = session.session.settings.env_path.parent
    session.close()  # the notebook's last cell: a kernel killed after it leaves nothing behind
    assert not folder.exists() and session.card is card and card.answered == 1
    capsys.readouterr()
    session.fix(11)  # the failure was met in the runbook that is gone: meet it again first
    assert "run training.meet(11)" in capsys.readouterr().out and session.session is not None
    session.meet(11)  # a new training runbook
    assert session.session.settings.env_path.parent != folder
    session.fix(11)
    assert capsys.readouterr().out.count("Fix applied") == 1
    session.close()


def test_a_runbook_left_by_a_killed_process_is_removed_next_time() -> None:
    killed = subprocess.run(
        [sys.executable, "-c",
         "import os, signal\nfrom tiktok_helpers.drills import open_training_session\n"
         "s = open_training_session()\nprint(s.settings.env_path.parent, flush=True)\n"
         "os.kill(os.getpid(), signal.SIGKILL)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    folder = Path(killed.stdout.strip())
    assert killed.returncode != 0 and folder.is_dir(), killed.stderr[-1000:]
    assert folder in remove_leftovers(folder.parent)
    assert not folder.exists()


def marked(folder: Path, *, pid: int, host: str | None = None, what: str = drills.MARKER_WHAT) -> Path:
    folder.mkdir()
    info = {"what": what, "pid": pid, "host": host or socket.gethostname(), "created": time.time()}
    (folder / drills.MARKER).write_text(json.dumps(info), encoding="utf-8")
    return folder


def test_only_our_marked_leftovers_are_removed(tmp_path: Path) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead, alive, p = ended.pid, os.getpid(), drills.PREFIX
    gone = [
        marked(tmp_path / f"{p}dead", pid=dead),
        marked(tmp_path / f"{p}old", pid=alive),  # a live pid (reused?) but unused for days
        marked(tmp_path / f"{p}elsewhere-old", pid=dead, host="another-machine"),
    ]
    kept = [
        marked(tmp_path / f"{p}alive", pid=alive),  # another kernel training now
        marked(tmp_path / f"{p}elsewhere", pid=dead, host="another-machine"),  # can't tell: young
        marked(tmp_path / f"{p}foreign", pid=dead, what="something else"),
        marked(tmp_path / "other-name", pid=dead),
    ]
    (tmp_path / f"{p}no-marker").mkdir()
    (tmp_path / f"{p}no-marker" / "keep.txt").write_text("not ours")
    (tmp_path / f"{p}bad-marker").mkdir()
    (tmp_path / f"{p}bad-marker" / drills.MARKER).write_text("{not json")
    (tmp_path / f"{p}a-file").write_text("a file")
    target = marked(tmp_path / "target", pid=dead)
    (tmp_path / f"{p}link").symlink_to(target)
    linked_marker = tmp_path / f"{p}linked-marker"
    linked_marker.mkdir()
    (linked_marker / drills.MARKER).symlink_to(target / drills.MARKER)
    old = time.time() - 3 * 24 * 3600
    for folder in (gone[1], gone[2]):
        os.utime(folder / drills.MARKER, (old, old))
    before = sorted(tmp_path.iterdir())
    assert sorted(remove_leftovers(tmp_path)) == sorted(gone)
    assert sorted(tmp_path.iterdir()) == sorted(set(before) - set(gone))
    assert all(k.is_dir() for k in kept) and (target / drills.MARKER).is_file()
    assert (tmp_path / f"{p}no-marker" / "keep.txt").read_text() == "not ours"
