"""Two refreshes of one seller at once, a stop signal during ``refresh --all``, a new pair that cannot
be saved: nothing is lost, and no message advises authorizing again when the authorization is fine.

A refresh takes the seller's lock (:mod:`tiktok_helpers.seller_lock`: across processes and threads),
reads the grant as stored now and spends that refresh token; a refresh that waited finds the grant
renewed and says "already refreshed at ...". The sandbox rotates the refresh token on every refresh
(its documented choice: TikTok does not document whether a refresh replaces it), so a refresh token
spent twice is refused with 36004005, as it would be by any service that rotates; under the other
reading a second spend would succeed, and the lock is right under both.

Every project here is a folder whose ``.env`` points at a sandbox running in the test process
(``TIKTOK_SANDBOX_URL``): each session, thread or process shares its state, as several terminals
share one TikTok.
"""

from __future__ import annotations

import _thread
import contextlib
import errno
import fcntl
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tiktok_helpers import bulk
from tiktok_helpers.cli.main import EXIT_INTERRUPTED, main
from tiktok_helpers.errors import GrantNotSaved, RefreshTokenNotFound, TikTokHelperError
from tiktok_helpers.grants import Grant, GrantStore, grants_path_for
from tiktok_helpers.results import (
    RefreshInterrupted,
    RefreshOutcome,
    RefreshStatus,
    RefreshSummary,
    TokensNotSaved,
)
from tiktok_helpers.sandbox import Sandbox
from tiktok_helpers.secret import Secret
from tiktok_helpers.seller_lock import StopRequested, lock_path_of, seller_locked
from tiktok_helpers.session import Session, open_session
from tiktok_helpers.store import RunbookStore
from tiktok_helpers.tokens import TokenSet

from .conftest import PROJECT_ROOT

#: Words no message may say when the authorization is fine.
AUTHORIZE_AGAIN = "authorize"
ROUNDS = 10


@dataclass
class Project:
    """A project folder whose ``.env`` points at ``sandbox``, with ``sellers`` sellers authorized."""

    env: Path
    sandbox: Sandbox[Any]

    def session(self) -> Session:
        return open_session(self.env, environ={})

    def grants(self) -> list[Grant]:
        """Every grant of the project's app and mode, as a new process reads them (from the store its
        settings name: the SQLite file beside ``.env``, or ``TIKTOK_GRANTS_URL``'s database)."""
        store = RunbookStore(self.env, environ={})
        try:
            store.load()
            return store.grants.all()
        finally:
            store.close()

    def stored(self) -> dict[str, str]:
        """Each seller's refresh token as the runbook holds it, by open_id."""
        return {g.open_id: g.refresh_token.reveal() for g in self.grants()}

    def honoured(self) -> dict[str, str]:
        """Each seller's refresh token as the sandbox honours it now, by open_id."""
        return {g.open_id: g.refresh_token for g in self.sandbox.state.store.grants()}

    def lost(self) -> list[str]:
        """The sellers whose stored refresh token is not the one the sandbox honours."""
        honoured = self.honoured()
        return sorted(open_id for open_id, token in self.stored().items() if honoured.get(open_id) != token)


def make_project(folder: Path, sandbox: Sandbox[Any], sellers: int, *, settings: str = "") -> Project:
    """``settings``: more lines for its ``.env`` (``TIKTOK_GRANTS_URL=...`` for a shared store)."""
    env = folder / ".env"
    env.write_text(f"TIKTOK_MODE=sandbox\nTIKTOK_SANDBOX_URL={sandbox.base_url}\n{settings}")
    project = Project(env, sandbox)
    with project.session() as session:
        assert session.sandbox is None  # the project's sandbox, not one of its own
        client = session.token_client()
        for minted in sandbox.state.mint_grants(sellers):  # as if each had authorized
            session.store.save_tokens(client.refresh(minted.refresh_token))
    assert project.lost() == []
    return project


@pytest.fixture
def sandbox(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Sandbox[Any]]:
    """The sandbox, serving the reading of refresh-token rotation a test is parametrized with
    (``BOTH_READINGS``; default ``new``): TikTok documents neither, the runbook must hold under both."""
    reading = getattr(request, "param", "new")
    with Sandbox(state_path=tmp_path / ".sandbox" / "state.db", refresh_reading=reading) as running:
        yield running


#: Run a test under both readings of rotation (the old refresh token stops working, or comes back).
#: The "same" reading's races run in the full tier (the quick tier meets both readings in
#: tests/test_one_refresher.py).
BOTH_READINGS = pytest.mark.parametrize(
    "sandbox", ["new", pytest.param("same", marks=pytest.mark.durability)], indirect=True
)


@pytest.fixture
def project(tmp_path: Path, sandbox: Sandbox[Any]) -> Project:
    return make_project(tmp_path, sandbox, 1)


def _refresh_in_two_threads(project: Project) -> list[str]:
    """Two sessions (each its own store, as two notebooks have) refresh the one seller at once;
    what each said: ``refreshed``, ``already refreshed at ...``, or the error."""
    sessions = [project.session(), project.session()]
    start = threading.Barrier(2)
    said: list[str] = ["", ""]

    def run(index: int) -> None:
        session = sessions[index]
        session.seller = session.store.grants.newest()  # each read the grant before either spends
        start.wait()
        try:
            tokens = session.refresh()
        except TikTokHelperError as exc:
            said[index] = f"{type(exc).__name__}: {exc}"
        else:
            note = getattr(tokens, "note", "")
            said[index] = note or "refreshed"

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for session in sessions:
            session.close()
    return said


@BOTH_READINGS
def test_two_sessions_refreshing_one_seller_at_once_both_succeed(project: Project) -> None:
    project.sandbox.latency_ms = 40  # both requests in flight together, were they both sent
    outcomes = [_refresh_in_two_threads(project) for _ in range(ROUNDS)]
    failed = [said for pair in outcomes for said in pair if said != "refreshed" and "already" not in said]
    assert failed == [], f"{len(failed)} of {2 * ROUNDS} refreshes failed: {failed[:2]}"
    assert all(AUTHORIZE_AGAIN not in said for pair in outcomes for said in pair)
    assert all("refreshed" in pair for pair in outcomes)  # one of each pair spent the token
    assert project.lost() == []


#: Run by a helper process (one interpreter start): for each round, fork two children that wait on a
#: pipe, then each run the command given through the command line's main() at the same moment; print
#: one JSON line per round with each child's exit code, stdout and stderr.
TWO_PROCESSES = r"""
import io, json, os, sys
from tiktok_helpers.cli.main import main

env, rounds, command = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
for _ in range(rounds):
    go_read, go_write = os.pipe()
    children = []
    for index in range(2):
        out_read, out_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_write)
            os.close(out_read)
            os.read(go_read, 1)
            stdout, stderr = io.StringIO(), io.StringIO()
            code = main(["--env-file", env, *command], stdout=stdout, stderr=stderr, environ={})
            with os.fdopen(out_write, "w") as reply:
                reply.write(json.dumps({"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}))
            os._exit(0)
        os.close(out_write)
        children.append((pid, out_read))
    os.close(go_read)
    os.write(go_write, b"go")
    os.close(go_write)
    said = []
    for pid, out_read in children:
        with os.fdopen(out_read) as reply:
            said.append(json.loads(reply.read() or "{}"))
        os.waitpid(pid, 0)
    print(json.dumps(said), flush=True)
"""


def _run_helper(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.mark.durability
def test_two_processes_refreshing_one_seller_at_once_both_succeed(project: Project) -> None:
    project.sandbox.latency_ms = 40
    done = _run_helper(TWO_PROCESSES, str(project.env), str(ROUNDS), "refresh")
    assert done.returncode == 0, done.stderr[-3000:]
    rounds = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rounds) == ROUNDS
    runs = [run for pair in rounds for run in pair]
    failed = [run["stderr"][-400:] for run in runs if run["code"] != 0]
    assert failed == [], f"{len(failed)} of {len(runs)} refreshes failed; first: {failed[0]}"
    assert all(AUTHORIZE_AGAIN not in run["stderr"] + run["stdout"] for run in runs)
    assert all(sum("already refreshed" not in run["stdout"] for run in pair) >= 1 for pair in rounds)
    assert project.lost() == []


def _refreshed_count(grants_db: Path) -> int:
    """How many grants have been refreshed (read-only: the refresh being watched writes)."""
    import sqlite3

    if not grants_db.exists():
        return 0
    db = sqlite3.connect(f"{grants_db.as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT COUNT(*) FROM grants WHERE refreshed_at IS NOT NULL").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


def stopped_midway(
    env_file: Path, args: Sequence[str], ready: Callable[[], bool], stop: int, *, never_ready: str, wait: float = 60
) -> tuple[int, str]:
    """Run ``python -m tiktok_helpers --env-file ENV *args`` as a process of its own (the process is
    the subject: its signal handling, its exit code), send it ``stop`` once ``ready()`` holds while it
    still runs; its exit code and stderr."""
    paths = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_helpers", "--env-file", str(env_file), *args],
        env={**os.environ, "PYTHONPATH": paths}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + wait
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert process.poll() is None, "the command ended before the signal: give it more sellers"
        assert ready(), never_ready
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=wait)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stderr


SELLERS_FOR_SIGNALS = 200


@pytest.mark.durability
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_during_refresh_all_loses_no_seller(tmp_path: Path, sandbox: Sandbox[Any], stop: int) -> None:
    project = make_project(tmp_path, sandbox, SELLERS_FOR_SIGNALS)
    sandbox.latency_ms = 30
    grants_db = grants_path_for(project.env)
    code, stderr = stopped_midway(
        project.env, ["refresh", "--all", "--concurrency", "16"], lambda: _refreshed_count(grants_db) >= 20, stop,
        never_ready="fewer than 20 sellers refreshed in 60 s",
    )  # fmt: skip
    refreshed = _refreshed_count(grants_db)
    assert project.lost() == [], f"{len(project.lost())} sellers lost; stderr: {stderr[-2000:]}"
    assert code == EXIT_INTERRUPTED, stderr[-2000:]
    assert "Traceback" not in stderr
    assert 20 <= refreshed < SELLERS_FOR_SIGNALS, refreshed  # it stopped: nothing new was sent


@pytest.mark.durability
def test_a_stop_signal_while_a_refresh_reply_is_in_flight_waits_for_it(project: Project) -> None:
    """The sandbox has rotated the refresh token and holds its reply (latency): SIGTERM now must not
    drop that reply, the only holder of the new refresh token."""
    project.sandbox.latency_ms = 1500
    code, stderr = stopped_midway(
        project.env, ["refresh"], lambda: project.lost() != [], signal.SIGTERM, wait=30,
        never_ready="the refresh never reached the sandbox",  # rotated, the reply on its way
    )  # fmt: skip
    assert code == EXIT_INTERRUPTED, stderr[-2000:]
    assert "interrupted (SIGTERM)" in stderr and "Traceback" not in stderr
    assert project.lost() == []


# --- two bulk refreshes at once ------------------------------------------------------------------


@BOTH_READINGS
def test_two_bulk_refreshes_at_once_refresh_each_seller_and_lose_none(tmp_path: Path, sandbox: Sandbox[Any]) -> None:
    project = make_project(tmp_path, sandbox, 40)
    sandbox.latency_ms = 10
    sessions = [project.session(), project.session()]
    start = threading.Barrier(2)
    summaries: list[RefreshSummary] = []

    def run(session: Session) -> None:
        start.wait()
        summaries.append(session.refresh_all(concurrency=8))

    threads = [threading.Thread(target=run, args=(s,)) for s in sessions]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for session in sessions:
            session.close()
    assert len(summaries) == 2
    for summary in summaries:
        assert summary.failed == (), [str(o.error) for o in summary.failed][:2]
        assert all(o.reason.startswith("already refreshed at ") for o in summary.skipped)
    refreshed = [o.seller.id for s in summaries for o in s.refreshed]
    assert set(refreshed) == {g.id for s in summaries for g in (o.seller for o in s.outcomes)}  # each at least once
    assert project.lost() == []


@pytest.mark.durability
@BOTH_READINGS
def test_two_processes_refreshing_all_at_once_lose_no_seller(tmp_path: Path, sandbox: Sandbox[Any]) -> None:
    project = make_project(tmp_path, sandbox, 100)
    sandbox.latency_ms = 10
    done = _run_helper(TWO_PROCESSES, str(project.env), "2", "refresh", "--all", "--json", "--concurrency", "8")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [run for line in done.stdout.splitlines() for run in json.loads(line)]
    assert [run["code"] for run in runs] == [0, 0, 0, 0], [run["stderr"][-400:] for run in runs]
    outcomes = [o for run in runs for o in json.loads(run["stdout"])["outcomes"]]
    assert {o["status"] for o in outcomes} <= {"refreshed", "skipped"}
    assert all(o["detail"].startswith("already refreshed at ") for o in outcomes if o["status"] == "skipped")
    assert project.lost() == []


# --- a refusal checked against the token stored now ---------------------------------------------


def _unlocked(grant: Grant, stop: threading.Event | None) -> contextlib.AbstractContextManager[object]:
    return contextlib.nullcontext()


def test_a_refusal_after_another_writer_changed_the_token_is_no_lost_authorization(project: Project) -> None:
    """A writer that did not take the lock (an older runbook, a filesystem without locks) refreshes
    the seller while this refresh is in flight: TikTok refuses the token this one spent (36004005),
    but the grant holds a newer pair, so the outcome is "already refreshed", not "authorize again"."""
    with project.session() as session, project.session() as other:
        client = session.token_client()

        def refresh_while_another_writes(token: Secret) -> TokenSet:
            other.store.save_tokens(other.token_client().refresh(token), grant_id=grant.id, refreshed=True)
            return client.refresh(token)  # the same token, now spent: refused

        def commit(tokens: TokenSet, grant: Grant, round_id: str) -> Grant:
            return session.store.save_tokens(tokens, grant_id=grant.id, refreshed=True)

        grant = session.store.grants.all()[0]
        refresher = bulk.Refresher(
            refresh_while_another_writes, commit, session.store.grants.get, _unlocked, session.grants_location
        )
        outcome = refresher.one(grant)
        assert outcome.status is RefreshStatus.SKIPPED, outcome.error
        assert outcome.reason.startswith("already refreshed at ")
    assert project.lost() == []


def test_a_refusal_of_the_token_still_stored_is_reported(project: Project) -> None:
    """The token stored now is the one refused (another copy of the credentials refreshed the
    seller elsewhere): that is reported, with the catalog's fix."""
    with project.session() as session:
        grant = session.store.grants.all()[0]
        session.token_client().refresh(grant.refresh_token)  # elsewhere: the reply never reaches the store
        with pytest.raises(RefreshTokenNotFound):
            session.refresh(grant)


# --- a new pair that cannot be saved ------------------------------------------------------------


def _failing_commits(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> list[TokenSet]:
    """Every refresh commit fails with ``error``; the pairs it was given."""
    given: list[TokenSet] = []
    real = GrantStore.save_tokens

    def save_tokens(self: GrantStore, tokens: TokenSet, **kwargs: Any) -> Grant:
        if kwargs.get("kind") == "refreshed":
            given.append(tokens)
            raise error
        return real(self, tokens, **kwargs)

    monkeypatch.setattr(GrantStore, "save_tokens", save_tokens)
    return given


@pytest.mark.parametrize(
    "error",
    [
        sqlite3.OperationalError("database or disk is full"),
        GrantNotSaved("x.db", reason="database or disk is full", seller="someone"),
    ],
    ids=["sqlite", "store"],
)
def test_a_pair_that_cannot_be_saved_is_kept_and_saved_later(
    project: Project, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    with project.session() as session:
        grant = session.store.grants.all()[0]
        with monkeypatch.context() as patch:
            given = _failing_commits(patch, error)
            with pytest.raises(TokensNotSaved) as failed:
                session.refresh(grant)
        assert given and failed.value.pair == given[0] == session.last_tokens
        assert "database or disk is full" in str(failed.value)
        assert "session.last_tokens" in failed.value.fix and "session.save_tokens()" in failed.value.fix
        assert project.lost() != []  # only the session holds the pair now
        session.save_tokens()  # the cause fixed: saved to the seller it refreshed
        assert len(session.sellers()) == 1
    assert project.lost() == []


def test_a_bulk_refresh_keeps_each_pair_it_cannot_save(tmp_path: Path, sandbox: Sandbox[Any]) -> None:
    project = make_project(tmp_path, sandbox, 3)
    with project.session() as session, pytest.MonkeyPatch.context() as patch:
        _failing_commits(patch, sqlite3.OperationalError("database or disk is full"))
        summary = session.refresh_all(concurrency=2)
        assert len(summary.failed) == 3 and all(o.unsaved for o in summary.failed)
        assert all(isinstance(o.error, TokensNotSaved) and "outcome.tokens" in o.error.fix for o in summary.failed)
        patch.undo()
        for outcome in summary.failed:
            assert outcome.tokens is not None
            session.save_tokens(outcome.tokens, seller=outcome.seller)
    assert project.lost() == []


class Terminal(io.StringIO):
    """An output stream that says it is a terminal (``--show-secrets`` needs one)."""

    def isatty(self) -> bool:
        return True


def _refresh_cli(project: Project, *options: str, stdout: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = stdout or io.StringIO(), io.StringIO()
    code = main(["--env-file", str(project.env), "refresh", *options], stdout=out, stderr=err, environ={})
    return code, out.getvalue(), err.getvalue()


def test_the_command_line_says_in_one_line_that_a_pair_was_not_saved(
    tmp_path: Path, sandbox: Sandbox[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path, sandbox, 2)
    given = _failing_commits(monkeypatch, sqlite3.OperationalError("database or disk is full"))
    code, out, err = _refresh_cli(project, "--seller", "#1")
    assert code == 1
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Token pair not saved" in line and "database or disk is full" in line
    assert "--show-secrets" in line and "session." not in line
    assert given[0].refresh_token.reveal() not in out + err  # not asked for: never shown

    code, out, err = _refresh_cli(project, "--seller", "#2", "--show-secrets", stdout=Terminal())
    assert code == 1 and "Traceback" not in err
    assert given[1].refresh_token.reveal() in out  # asked for, on a terminal
    assert "sellers import-env" in err and "TIKTOK_REFRESH_TOKEN=" in err

    # The advice works: the disk has room again, the shown refresh token is imported and refreshed once.
    monkeypatch.undo()
    second = next(g for g in project.grants() if g.id == 2)
    with project.env.open("a") as env:
        env.write(f"TIKTOK_REFRESH_TOKEN={given[1].refresh_token.reveal()}\n")
    assert main(["--env-file", str(project.env), "sellers", "import-env"], stdout=io.StringIO(), environ={}) == 0
    [imported] = [g for g in project.grants() if g.imported]
    assert _refresh_cli(project, "--seller", f"#{imported.id}")[0] == 0
    assert {g.id for g in project.grants()} == {1, 2}  # one grant per seller again
    assert project.lost() == [next(g.open_id for g in project.grants() if g.id == 1)]  # #1's was never shown
    assert second.open_id not in project.lost()


def test_the_command_line_says_already_refreshed(project: Project) -> None:
    """A refresh waits for the seller's lock; meanwhile another refresh lands: nothing is sent."""
    with project.session() as session:
        grant = session.store.grants.all()[0]
        said: list[tuple[int, str, str]] = []
        waiting = threading.Thread(target=lambda: said.append(_refresh_cli(project)))
        with session.store.grants.seller_locked(grant.id):
            waiting.start()
            time.sleep(0.3)  # the command is waiting for the lock (it has read the grant)
            session.store.save_tokens(session.token_client().refresh(grant.refresh_token), grant_id=grant.id,
                                      refreshed=True)  # fmt: skip
        waiting.join(timeout=30)
    [(code, out, err)] = said
    assert code == 0, err
    assert "already refreshed at" in out and "nothing was sent" in out
    assert AUTHORIZE_AGAIN not in out + err
    assert project.lost() == []


# --- a stop during a bulk refresh, in process ----------------------------------------------------


@BOTH_READINGS
def test_an_interrupted_bulk_refresh_waits_for_the_refreshes_in_flight(tmp_path: Path, sandbox: Sandbox[Any]) -> None:
    project = make_project(tmp_path, sandbox, 60)
    sandbox.latency_ms = 20

    def interrupt_after_ten(outcome: RefreshOutcome, done: int, total: int) -> None:
        if done == 10:
            _thread.interrupt_main()  # as Ctrl-C does

    with project.session() as session, pytest.raises(RefreshInterrupted) as stopped:
        session.refresh_all(concurrency=8, on_progress=interrupt_after_ten)
    done = stopped.value.summary.outcomes
    assert 10 <= len(done) < 60 and stopped.value.total == 60
    assert all(o.status is RefreshStatus.REFRESHED for o in done)
    assert project.lost() == []


# --- the lock itself ----------------------------------------------------------------------------


def test_the_lock_file_is_beside_the_database_and_private(tmp_path: Path) -> None:
    database = tmp_path / ".env.grants.db"
    lock = lock_path_of(database)
    assert lock == tmp_path / ".env.grants.db.lock"
    lock.touch(mode=0o644)
    lock.chmod(0o644)
    with seller_locked(database, 7):
        assert lock.stat().st_mode & 0o777 == 0o600


def test_the_lock_excludes_threads_and_a_stop_ends_a_wait(tmp_path: Path) -> None:
    database = tmp_path / ".env.grants.db"
    stop = threading.Event()
    with seller_locked(database, 1):
        with seller_locked(database, 2):  # another seller: not held
            pass
        waited: list[BaseException] = []

        def wait_for_one() -> None:
            try:
                with seller_locked(database, 1, stop=stop):
                    pass
            except StopRequested as exc:
                waited.append(exc)

        thread = threading.Thread(target=wait_for_one)
        thread.start()
        time.sleep(0.1)
        assert thread.is_alive()  # waiting
        stop.set()
        thread.join(timeout=5)
        assert len(waited) == 1
        with (
            pytest.raises(TikTokHelperError, match="another refresh of seller #1"),
            seller_locked(database, 1, wait=0.1),
        ):
            pass


@pytest.mark.durability
def test_the_lock_excludes_another_process(tmp_path: Path) -> None:
    database = tmp_path / ".env.grants.db"
    script = (
        "import sys\nfrom tiktok_helpers.seller_lock import seller_locked\n"
        "from tiktok_helpers.errors import SettingsError\n"
        "try:\n    with seller_locked(sys.argv[1], int(sys.argv[2]), wait=0.3):\n        print('taken')\n"
        "except SettingsError:\n    print('busy')\n"
    )
    with seller_locked(database, 5):
        assert _run_helper(script, str(database), "5").stdout.strip() == "busy"
        assert _run_helper(script, str(database), "6").stdout.strip() == "taken"
    assert _run_helper(script, str(database), "5").stdout.strip() == "taken"


def test_without_file_locks_a_refresh_warns_and_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_locks(*args: object) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "lockf", no_locks)
    with (
        pytest.warns(RuntimeWarning, match="does not support file locks"),
        seller_locked(tmp_path / ".env.grants.db", 3),
    ):
        pass
