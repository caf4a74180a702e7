"""Training drills: the data, the failure as shown, the options, the verdict that teaches, and the
agreement of verdict, lesson and applied fix."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tiktok_helpers import drills, errors
from tiktok_helpers.catalog import CATALOG, INVALID_CREDENTIALS_CAUSES
from tiktok_helpers.drill_widgets import DrillQuiz, Scorecard, verdict_html
from tiktok_helpers.sandbox.scenarios import SCENARIOS
from tiktok_helpers.session import Session, open_session

from .conftest import PROJECT_ROOT

#: Retried failures (the rate-limited scenario) are met without waiting out the backoff.
pytestmark = pytest.mark.usefixtures("instant_retries")

ERROR_CLASSES = sorted(name for name in errors.__all__ if isinstance(getattr(errors, name), type))


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with drills.open_training_session(tmp_path_factory.mktemp("drills")) as session:
        session.trace()
        yield session


@pytest.fixture(scope="module")
def runs(training: Session) -> dict[str, drills.DrillRun]:
    """Every drill met once, in order."""
    return {name: drills.meet(training, name) for name in drills.DRILLS}


# --------------------------------------------------------------------------- the data


def test_every_scenario_has_a_drill_in_the_same_order_numbered_from_one() -> None:
    assert list(drills.DRILLS) == list(SCENARIOS)
    assert [d.number for d in drills.DRILLS.values()] == list(range(1, len(SCENARIOS) + 1))
    assert drills.find_drill(5) is drills.find_drill("refresh-token-expired")
    with pytest.raises(drills.DrillError, match="no drill 99"):
        drills.find_drill(99)


def test_options_are_three_different_catalog_entries_of_the_right_ones_service() -> None:
    for drill in drills.DRILLS.values():
        assert len(set(drill.causes)) == 3 and len(set(drill.fixes)) == 3
        assert drill.cause.code.partition(":")[0] == drill.about.answer  # the right cause is the failure's own
        for option in (*drill.causes, *drill.fixes):
            assert option.entry.code in CATALOG
        for decoy in drill.causes[1:]:
            assert decoy.entry.service == drill.cause.entry.service, (drill.number, decoy.id)


def test_a_cause_of_36009004_is_the_one_its_message_names() -> None:
    clock = drills.find_drill("clock-ahead").cause
    title, cause, fix = clock.catalog()
    timestamp = next(c for c in INVALID_CREDENTIALS_CAUSES if "timestamp" in c.words)
    assert (title, cause, fix) == (CATALOG["36009004"].title, timestamp.cause, timestamp.fix)


def test_two_causes_with_one_code_each_say_when_they_fit() -> None:
    for drill in drills.DRILLS.values():
        for decoy in drill.causes[1:]:
            if decoy.code == drill.cause.code:
                assert decoy.when and drill.cause.when, drill.number


def test_each_drill_names_a_notebook_section_that_exists() -> None:
    for drill in drills.DRILLS.values():
        notebook, section = drill.where
        cells = nbformat.read(PROJECT_ROOT / "notebooks" / notebook, as_version=4).cells
        headings = {
            line.lstrip("#").strip() for c in cells if c.cell_type == "markdown" for line in c.source.split("\n")
        }
        assert section in headings, (drill.number, notebook, section)
        assert drill.link == f"{notebook}#{section.replace(' ', '-')}"


def test_a_plan_that_does_not_do_the_right_fix_is_refused() -> None:
    item = {"scenario": "x", "prepare": [], "attempt": "shops", "apply": ["refresh", "shops"]}
    with pytest.raises(ValueError, match="does not do its right fix"):
        drills._plan(item, drills.find_drill("seller-deauthorized").fix)  # authorize again, not refresh


def test_headings_are_neutral() -> None:
    """What the trainee reads before the failure names no cause: not the catalog's title, no code."""
    for drill in drills.DRILLS.values():
        shown = f"{drill.name} {drill.step}".lower()
        assert drill.cause.entry.title.lower() not in shown, drill.number
        assert not re.search(r"\d{3,}", drill.heading), drill.number
        assert drill.title not in drill.name


# --------------------------------------------------------------------------- the failure as shown


def test_the_failure_is_shown_as_the_service_sent_it(runs: dict[str, drills.DrillRun]) -> None:
    for name, run in runs.items():
        shown = run.shown
        assert f"The runbook shows: {run.error.title}" in shown
        if isinstance(run.error, errors.ApiError):
            assert f"HTTP {run.error.http_status}: code {run.error.code}, {run.error.message!r}" in shown
            assert run.error.service in shown
            assert not run.error.request_id or f"request_id {run.error.request_id}" in shown
        assert run.error.fix not in shown and "What to do" not in shown, name
        assert not [c for c in ERROR_CLASSES if c in shown], name  # exception class names stay hidden


def test_the_failing_step_is_marked_in_the_wire_log(runs: dict[str, drills.DrillRun], training: Session) -> None:
    assert training.wire is not None
    refresh = runs["refresh-token-expired"]
    assert refresh.mark is not None
    sent = [e.url for e in training.wire.since(refresh.mark)]
    assert sent and all("/token/refresh" in url for url in sent[:1])


# --------------------------------------------------------------------------- verdicts


def test_a_wrong_answer_is_told_the_lesson_the_right_options_and_why_its_choice_is_wrong() -> None:
    drill = drills.find_drill("access-token-expired")
    wrong_cause, wrong_fix = drill.causes[1], drill.fixes[1]
    verdict = drills.judge(drill, wrong_cause.id, wrong_fix.id, seed=7)
    causes, fixes = Scorecard(seed=7).options(drill)
    assert (verdict.causes, verdict.fixes) == (causes, fixes)
    lines = dict(verdict.lines())
    assert not verdict.right and lines["Verdict"] == "cause wrong, fix wrong"
    assert lines["The lesson"].lower() == drill.lesson.lower()
    assert lines["Right cause"] == f"{causes.index(drill.cause) + 1}. {drill.cause.text}"
    assert lines["Right fix"] == f"{'ABC'[fixes.index(drill.fix)]}. {drill.fix.text}"
    title, cause, _ = wrong_cause.catalog()
    assert (
        lines["Why not cause"]
        == f"{causes.index(wrong_cause) + 1} would come back as {wrong_cause.label}, '{title}': {cause}"
    )
    assert wrong_fix.when in lines["Why not fix"] and wrong_fix.catalog()[0] in lines["Why not fix"]
    assert drill.where[0] in lines["Where it happens"] and drill.where[1] in lines["Where it happens"]
    assert CATALOG["105002"].cause in lines["The catalog"]
    html = verdict_html(verdict)
    assert f'href="{drill.link}"' in html and html.count('<div style="margin:0.25em 0">') == len(lines)


def test_a_right_answer_says_so_without_why_not_lines() -> None:
    drill = drills.find_drill(12)
    verdict = drills.judge(drill, drill.cause.id, drill.fix.id, seed=1)
    labels = [label for label, _ in verdict.lines()]
    assert verdict.right and "Why not cause" not in labels and "Why not fix" not in labels
    assert "(your first answer: it counts)" in verdict.text()


def test_two_causes_of_one_code_are_told_apart_in_the_verdict() -> None:
    added = drills.find_drill("api2cart-credentials-refused")
    stale = next(o for o in added.causes if o.id == "a2c-stale")
    lines = dict(drills.judge(added, stale.id, added.fix.id, seed=3).lines())
    assert stale.when in lines["Why not cause"]


def test_verdict_lesson_and_applied_fix_agree() -> None:
    """Drill 6 teaches and applies the same fix (authorize again); drill 8's right fix is no refresh;
    drills 15 and 17 (one failure) accept different answers and offer each other's as a decoy."""
    replaced = drills.find_drill("refresh-token-replaced")
    assert replaced.fix.id == "reauthorize" and "authorizes again" in replaced.lesson
    assert drills._PLANS[replaced.scenario].apply[0] == "authorize"
    assert CATALOG["36004005"].fix not in drills.judge(replaced, replaced.cause.id, replaced.fix.id, seed=0).text()
    removed = drills.find_drill("seller-deauthorized")
    assert not removed.fix.text.lower().startswith("refresh") and "refresh does not help" in removed.lesson
    assert "refresh" not in drills._PLANS[removed.scenario].apply
    added, stale = drills.find_drill(15), drills.find_drill(17)
    assert (added.cause, added.fix) != (stale.cause, stale.fix)
    assert stale.cause in added.causes and added.cause in stale.causes
    assert stale.fix in added.fixes and added.fix in stale.fixes
    for drill in drills.DRILLS.values():
        first = drills._PLANS[drill.scenario]
        assert first.apply[0] == (first.attempt if drill.fix.applies == "retry" else drill.fix.applies)


def test_the_applied_fix_is_the_right_fix(training: Session) -> None:
    run = drills.meet(training, "seller-deauthorized")
    done = drills.apply_fix(training, run)
    assert done.fix == run.drill.fix
    assert done.text("B").startswith(f"Fix applied (B): {run.drill.fix.text}")
    assert "Get Authorized Shops works" in done.outcome
    assert training.sandbox is not None and training.sandbox.scenario is None


# --------------------------------------------------------------------------- the quiz


def test_the_quiz_names_its_drill_and_keeps_the_first_answer(training: Session) -> None:
    run = drills.meet(training, "access-token-expired")
    card = Scorecard("Ann")
    quiz = DrillQuiz(run, card)
    assert quiz.title == f"Drill 9 of {len(drills.DRILLS)}: Get Authorized Shops fails"
    bundle = quiz._repr_mimebundle_()
    assert bundle is not None and bundle["text/plain"].startswith(quiz.title)
    assert quiz.check() is None and "Choose a cause" in quiz.out.value
    right = (quiz.causes.index(run.drill.cause) + 1, "ABC"[quiz.fixes.index(run.drill.fix)])
    wrong_fix = next(letter for letter in "ABC" if letter != right[1])
    quiz.choose(right[0], wrong_fix)
    first = quiz.check()
    assert first is not None and first.counted and not first.right and "#cf222e" in quiz.out.value
    quiz.choose(*right)
    again = quiz.check()
    assert again is not None and again.right and not again.counted  # practice
    assert "This one is practice" in quiz.out.value
    assert card.right == 0 and card.answered == 1 and len(card.practice(run.drill)) == 1
    rebuilt = DrillQuiz(run, card)  # the question cell run again
    assert "Answered before" in rebuilt.out.value and rebuilt.card.first(run.drill) == card.first(run.drill)


def test_the_quiz_is_still_importable_from_widgets() -> None:
    from tiktok_helpers.widgets import DrillQuiz as Moved

    assert Moved is DrillQuiz


def test_meet_refuses_a_session_without_the_embedded_sandbox(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "TIKTOK_APP_KEY=abc123def\nTIKTOK_APP_SECRET=0123456789abcdef0123\nTIKTOK_SERVICE_ID=7000000000000000001\n"
    )
    with open_session(env, environ={}) as live, pytest.raises(drills.DrillError, match="embedded sandbox"):
        drills.meet(live, "rate-limited")
    with pytest.raises(drills.DrillError, match="no drill 'nope'"):
        drills.meet(live, "nope")


def test_the_training_runbook_is_separate_and_in_sandbox_mode(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    with drills.open_training_session(tmp_path / "training") as session:
        assert session.is_sandbox
        assert session.settings.env_path == tmp_path / "training" / ".env"
        assert oct(session.settings.env_path.stat().st_mode & 0o777) == "0o600"
    assert not list(real.iterdir())
    assert not (tmp_path / "training" / drills.MARKER).exists()  # a folder given is the caller's: no marker


def test_drills_that_pass_by_themselves_are_transient_in_the_catalog() -> None:
    """A rate limit and TikTok's internal error are "try again later" (Partner Center's "Common errors"
    and "Get Authorized Shops" pages), so the runbook never tells anyone to re-authorize for them;
    none of the other TikTok answers passes by itself."""
    for name, drill in drills.DRILLS.items():
        entry = CATALOG.get(drill.about.answer)
        if entry is not None and not entry.code.startswith(("api2cart.", "redirect.")):
            assert entry.transient is (name in ("rate-limited", "tiktok-internal-error")), name
            assert (drill.fix.applies == "retry") is entry.transient, name


def test_drills_json_is_what_the_module_reads() -> None:
    data = json.loads((PROJECT_ROOT / "tiktok_helpers" / "drills.json").read_text(encoding="utf-8"))
    assert [d["scenario"] for d in data["drills"]] == list(drills.DRILLS)
    used = {o.id for d in drills.DRILLS.values() for o in (*d.causes, *d.fixes)}
    assert used == set(data["causes"]) | set(data["fixes"]), "an option nobody offers"
