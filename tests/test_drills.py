"""Training drills: the choices, the verdict from the catalog, the score and the quiz widget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_helpers import drills
from tiktok_helpers.catalog import CATALOG
from tiktok_helpers.sandbox.scenarios import SCENARIOS
from tiktok_helpers.session import Session, open_session
from tiktok_helpers.widgets import DrillQuiz

#: Retried failures (the rate-limited scenario) are met without waiting out the backoff.
pytestmark = pytest.mark.usefixtures("instant_retries")


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with drills.open_training_session(tmp_path_factory.mktemp("drills")) as session:
        yield session


@pytest.fixture(scope="module")
def expired(training: Session) -> drills.DrillRun:
    return drills.meet(training, "access-token-expired")


def test_every_scenario_has_a_drill_in_the_same_order() -> None:
    assert list(drills.DRILLS) == list(SCENARIOS)
    for drill in drills.DRILLS.values():
        assert drill.about.answer not in drill.decoys  # a decoy is never the right entry
        assert all(code in CATALOG for code in drill.decoys)


def test_choices_are_catalog_texts_in_a_fixed_order_not_always_first(training: Session) -> None:
    firsts = []
    for name in ("access-token-expired", "rate-limited", "seller-deauthorized"):
        run = drills.meet(training, name)
        assert run.cause_choices() == run.cause_choices()  # the same order every time
        assert run.cause_choices()[0] == drills.meet(training, name).cause_choices()[0]  # and across runs
        firsts.append(run.cause_choices().index(run.error.cause))
        drills.apply_fix(training, run)
    assert len(set(firsts)) > 1, "the right cause is not always in the same place"


def test_the_verdict_comes_from_the_catalog(expired: drills.DrillRun) -> None:
    entry = CATALOG["105002"]
    wrong_cause = next(c for c in expired.cause_choices() if c != entry.cause)
    verdict = drills.judge(expired, wrong_cause, entry.fix)
    assert (verdict.cause_right, verdict.fix_right, verdict.right) == (False, True, False)
    assert (verdict.title, verdict.cause, verdict.fix) == (entry.title, entry.cause, entry.fix)
    assert "Cause: not this one. Fix: right." in verdict.text()
    assert entry.fix in verdict.text()
    assert not verdict.autopilot


def test_the_autopilot_answers_only_when_nobody_did(expired: drills.DrillRun) -> None:
    auto = drills.judge(expired, None, None, autopilot=True)
    assert auto.right and auto.autopilot and "chosen by the autopilot" in auto.text()
    half = drills.judge(expired, expired.error.cause, None, autopilot=True)
    assert half.cause_right and not half.fix_right and not half.autopilot


def test_scorecard_counts_the_trainee_not_the_autopilot(expired: drills.DrillRun) -> None:
    card = drills.Scorecard()
    card.record(drills.judge(expired, None, None, autopilot=True))
    assert card.right == 0 and card.by_autopilot == 1
    card.record(drills.judge(expired, expired.error.cause, expired.error.fix))  # answered again: the latest counts
    assert card.right == 1 and card.by_autopilot == 0
    assert card.summary().startswith("Score: 1 of 1 drill(s) answered right")
    assert card.rows() == [("An access token older than 7 days", "right", "right", "you")]


def test_the_failure_is_shown_without_the_catalog_explanation(expired: drills.DrillRun) -> None:
    assert expired.shown.startswith("AccessTokenExpired: TikTok Open API said code 105002")
    assert expired.error.fix not in expired.shown and "What to do" not in expired.shown


def test_quiz_checks_the_choice_and_records_it(expired: drills.DrillRun) -> None:
    card = drills.Scorecard()
    quiz = DrillQuiz(expired, card)
    assert quiz.check() is None and "Choose a cause" in quiz.out.value
    right_cause = quiz.causes.index(expired.error.cause) + 1
    right_fix = "ABC"[quiz.fixes.index(expired.error.fix)]
    wrong_fix = next(letter for letter in "ABC" if letter != right_fix)
    quiz.choose(right_cause, wrong_fix)
    quiz.check_button.click()
    assert "Fix: not this one" in quiz.out.value and "#cf222e" in quiz.out.value  # red: not right
    quiz.choose(right_cause, right_fix)
    verdict = quiz.check()
    assert verdict is not None and verdict.right and "#1a7f37" in quiz.out.value
    assert card.right == 1
    assert quiz.verdict().right and not quiz.verdict().autopilot  # the next cell keeps the trainee's answer


def test_quiz_text_form_lists_every_choice(expired: drills.DrillRun) -> None:
    quiz = DrillQuiz(expired)
    bundle = quiz._repr_mimebundle_()
    assert bundle is not None
    text = bundle["text/plain"]
    for choice in (*quiz.causes, *quiz.fixes):
        assert choice in text
    assert "1. " in text and "C. " in text
    assert quiz.verdict().autopilot  # nothing chosen


def test_meet_refuses_a_session_without_the_embedded_sandbox(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "TIKTOK_APP_KEY=abc123def\nTIKTOK_APP_SECRET=0123456789abcdef0123\nTIKTOK_SERVICE_ID=7000000000000000001\n"
    )
    with open_session(env, environ={}) as live, pytest.raises(drills.DrillError, match="embedded sandbox"):
        drills.meet(live, "rate-limited")
    with pytest.raises(drills.DrillError, match="no drill called 'nope'"):
        drills.meet(live, "nope")


def test_the_training_runbook_is_separate_and_in_sandbox_mode(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    with drills.open_training_session(tmp_path / "training") as session:
        assert session.is_sandbox
        assert session.settings.env_path == tmp_path / "training" / ".env"
        assert oct(session.settings.env_path.stat().st_mode & 0o777) == "0o600"
    assert not list(real.iterdir())


def test_drills_that_pass_by_themselves_are_transient_in_the_catalog() -> None:
    """A rate limit and TikTok's internal error are "try again later" (Partner Center's "Common errors"
    and "Get Authorized Shops" pages), so the runbook never tells anyone to re-authorize for them;
    none of the other TikTok answers passes by itself."""
    for name, drill in drills.DRILLS.items():
        entry = CATALOG.get(drill.about.answer)
        if entry is not None and not entry.code.startswith(("api2cart.", "redirect.")):
            assert entry.transient is (name in ("rate-limited", "tiktok-internal-error")), name
