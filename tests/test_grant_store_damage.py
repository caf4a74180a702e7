"""The grant database checked before use and nothing lost (issue 22, items 3 to 6).

* A foreign, damaged or newer file, or one of this project's whose ``grants`` table was dropped,
  stops ``sellers``, ``status``, ``refresh --all`` and ``doctor`` with one line naming the file and
  what to do, exit 1, and the file is left byte for byte as it was (no table created in it).
* A damaged row is reported for its seller (``Grant.damage``), never a traceback, and the other
  sellers are listed and refreshed.
* Opening for reading writes nothing; a reader beside another process's write transaction answers
  at once (WAL); a writer beside it says "busy" within a few seconds, never "move it aside".
* A read-only file reads; a commit the disk refuses (full, I/O error) is tried again, then raises
  :class:`GrantNotSaved` carrying the pair, never a traceback and never the token in the message.
* The file and its ``-wal``/``-shm`` side files end 0600 after every write, whatever they were.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tiktok_helpers import grant_schema, grant_sqlite
from tiktok_helpers.errors import GrantDatabaseBusy, GrantDatabaseError, GrantNotSaved
from tiktok_helpers.grant_schema import APPLICATION_ID
from tiktok_helpers.grants import GrantScope, GrantStore, grants_path_for
from tiktok_helpers.openapi import Shop
from tiktok_helpers.sandbox import Sandbox
from tiktok_helpers.secret import Secret
from tiktok_helpers.store import sellers_of
from tiktok_helpers.tokens import TokenSet

from .cli_in_process import run_cli
from .saved import SANDBOX_SCOPE, write_grant

NOW = 1_900_000_000
#: Words only a really damaged file's message may say.
DISCARD = ("move it", "aside", "delete", "remove it")


def tokens(n: int, *, open_id: str | None = None, name: str | None = None) -> TokenSet:
    return TokenSet.from_data(
        {
            "access_token": f"TTP_access_{n:020d}",
            "access_token_expire_in": NOW + n,
            "refresh_token": f"TTP_refresh_{n:020d}",
            "refresh_token_expire_in": NOW + 10_000_000 + n,
            "open_id": open_id or f"70107360571803{n:05d}",
            "seller_name": name or f"Seller {n}",
            "seller_base_region": "GB",
            "user_type": 0,
            "granted_scopes": ["seller.authorization.info"],
        }
    )


def project(tmp_path: Path, sellers: int = 3) -> tuple[Path, Path]:
    """A sandbox-mode project with ``sellers`` grants: its ``.env`` and its grant database."""
    env = tmp_path / ".env"
    env.write_text("")
    for n in range(1, sellers + 1):
        write_grant(env, tokens(n))
    return env, grants_path_for(env)


def sql(path: Path, *statements: str) -> None:
    """Change the file as another program (or a person with the sqlite3 shell) would."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


def stored(path: Path) -> dict[str, str]:
    """Each seller's refresh token as a new process reads it, by open_id."""
    store = GrantStore(path)
    try:
        return {g.open_id: g.refresh_token.reveal() for g in store.all()}
    finally:
        store.close()


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


# --- a file this runbook must not use --------------------------------------------------------------


def _foreign_sqlite(path: Path) -> None:
    path.unlink()
    sql(path, "CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('mine')")


def _not_sqlite(path: Path) -> None:
    path.write_text("my shopping list: milk, eggs\n" * 50)


def _page_overwritten(path: Path) -> None:
    page = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as f:
        f.seek(page)  # page 2: a b-tree page of the grants
        f.write(b"\xde\xad\xbe\xef" * (page // 4))


def _newer(path: Path) -> None:
    sql(path, "PRAGMA user_version=99")


def _table_dropped(path: Path) -> None:
    sql(path, "DROP TABLE grants")


def _empty_sqlite(path: Path) -> None:
    path.unlink()
    sql(path, "PRAGMA journal_mode=WAL", "CREATE TABLE t (x)", "DROP TABLE t")  # a header, no table


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "another program's SQLite file": (_foreign_sqlite, "is not this runbook's grant database"),
    "not an SQLite file": (_not_sqlite, "not an SQLite database"),
    "a page overwritten": (_page_overwritten, "is damaged"),
    "a newer schema": (_newer, "newer version of this runbook"),
    "the grants table dropped": (_table_dropped, "grants table is missing"),
    "an empty SQLite database": (_empty_sqlite, "is not this runbook's grant database"),
}
COMMANDS = (("sellers",), ("status",), ("refresh", "--all"), ("doctor",))


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_file_this_runbook_must_not_use_stops_every_command_with_one_line(tmp_path: Path, damage: str) -> None:
    env, path = project(tmp_path)
    make, said = DAMAGE[damage]
    make(path)
    before = path.read_bytes()
    for command in COMMANDS:
        done = run_cli(*command, env_file=env)  # a traceback would raise out of run_cli
        assert done.returncode in (1, 2), done.explain()
        if command == ("doctor",):
            [failed] = [line for line in done.stdout.splitlines() if " FAIL " in f" {line} "]
            assert str(path) in failed and said in failed, done.stdout
            continue
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, done.explain()
        assert lines[0].startswith("error: ") and str(path) in lines[0] and said in lines[0], lines[0]
        assert "What to do: " in lines[0] and "Traceback" not in done.stderr
        if damage in ("another program's SQLite file", "a newer schema", "an empty SQLite database"):
            assert not any(word in lines[0].split("What to do:")[1] for word in ("aside", "authorize"))
    assert path.read_bytes() == before  # left byte for byte as it was


@pytest.mark.parametrize("damage", ["another program's SQLite file", "a newer schema", "an empty SQLite database"])
def test_no_write_goes_into_a_file_this_runbook_did_not_create(tmp_path: Path, damage: str) -> None:
    _, path = project(tmp_path, sellers=1)
    DAMAGE[damage][0](path)
    before = path.read_bytes()
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    with pytest.raises(GrantNotSaved, match="could not be saved") as caught:
        store.save_tokens(tokens(9))
    assert caught.value.reason.startswith(("it is not this runbook's", "it was written by a newer"))
    with pytest.raises(GrantDatabaseError):
        store.save_store_key(1, Secret("store_key_000000000001"))
    with pytest.raises(GrantDatabaseError):
        store.count()
    store.close()
    assert path.read_bytes() == before


def test_an_empty_file_is_adopted_by_a_write_and_left_alone_by_a_read(tmp_path: Path) -> None:
    path = tmp_path / ".env.grants.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    store = GrantStore(path)
    assert store.all() == [] and path.stat().st_size == 0  # a read creates no table
    store.save_tokens(tokens(1))
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- a damaged row: reported for its seller, the others go on -----------------------------------------


def test_damaged_rows_are_reported_by_seller_and_the_others_are_whole(tmp_path: Path) -> None:
    env, path = project(tmp_path, sellers=4)
    sql(
        path,
        "UPDATE grants SET shops = '{x' WHERE seller_name = 'Seller 1'",
        "UPDATE grants SET granted_scopes = 'nope' WHERE seller_name = 'Seller 2'",
        "UPDATE grants SET refresh_token = X'00ff' WHERE seller_name = 'Seller 3'",
    )
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    found = {g.seller_name: g for g in store.all()}
    assert set(found) == {"Seller 1", "Seller 2", "Seller 3", "Seller 4"}
    one, two, three, four = (found[f"Seller {n}"] for n in range(1, 5))
    assert one.damage == ("shops: not valid JSON",) and one.shops == ()
    assert one.problem == "its row in the grant database is damaged (shops: not valid JSON)"
    assert one.repairs == (f"shops --seller #{one.id}",)
    assert one.refresh_token.reveal() == "TTP_refresh_00000000000000000001"  # the rest of the row is read
    assert two.damage == ("granted_scopes: not valid JSON",) and two.repairs == (f"refresh --seller #{two.id}",)
    assert three.damage == ("refresh_token: bytes instead of text",) and three.repairs == ("authorize",)
    assert "TTP_" not in three.problem
    assert four.damage == () and four.problem == "" and four.repairs == ()
    assert store.find("Seller 1") == one and store.get(three.id) == three  # a damaged grant can be chosen

    repaired = store.save_shops(one.id, [Shop("1", "Shop", "GB", "LOCAL", "ROW_x", "GBX")])
    assert repaired.damage == () and repaired.shop_cipher == "ROW_x"
    store.close()

    listed = run_cli("sellers", env_file=env, code=0)
    assert all(f"Seller {n}" in listed.stdout for n in range(1, 5))
    assert f"#{two.id} Seller 2: its row in the grant database is damaged (granted_scopes: not valid JSON)" in (
        listed.stdout
    )
    assert f"refresh --seller #{two.id}" in listed.stdout and "authorize" in listed.stdout
    as_json = json.loads(run_cli("sellers", "--json", env_file=env, code=0).stdout)
    assert len(as_json["sellers"]) == 4
    assert {d["seller"]: d["repair"] for d in as_json["damaged"]} == {
        "Seller 2": [f"refresh --seller #{two.id}"],
        "Seller 3": ["authorize"],
    }
    listed_now = sellers_of(env, environ={})
    assert {g.seller_name for g in listed_now.grants} == set(found)
    assert {g.seller_name for g in listed_now.damaged} == {"Seller 2", "Seller 3"}  # Seller 1 was repaired


def test_a_bulk_refresh_goes_on_past_a_damaged_row(tmp_path: Path) -> None:
    with Sandbox(state_path=tmp_path / ".sandbox" / "state.db") as sandbox:
        env = tmp_path / ".env"
        env.write_text(f"TIKTOK_MODE=sandbox\nTIKTOK_SANDBOX_URL={sandbox.base_url}\n")
        path = grants_path_for(env)
        from tiktok_helpers.session import open_session

        with open_session(env, environ={}) as session:
            client = session.token_client()
            for minted in sandbox.state.mint_grants(3):
                session.store.save_tokens(client.refresh(minted.refresh_token))
        before = stored(path)
        damaged = sorted(before)[0]
        with sqlite3.connect(path) as db:
            db.execute("UPDATE grants SET shops = '{x', granted_scopes = 7 WHERE open_id = ?", (damaged,))
        db.close()
        done = run_cli("refresh", "--all", env_file=env)  # a traceback would raise out of run_cli
        assert done.returncode in (0, 1), done.explain()
        honoured = {g.open_id: g.refresh_token for g in sandbox.state.store.grants()}
        after = stored(path)
        for open_id in before:
            assert after[open_id] == honoured[open_id], "a seller's grant was lost"
            if open_id != damaged:
                assert after[open_id] != before[open_id], "a whole seller was not refreshed"


# --- readers never wait, a writer says it waits ---------------------------------------------------------

HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
db.execute("UPDATE grants SET seller_name = seller_name || ' (being written)'")
print("holding", flush=True)
time.sleep(45)
"""


@contextmanager
def write_transaction_held(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding a write transaction on ``path`` (for 45 s unless stopped)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.kill()
        holder.wait(10)


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s answer, failing the test if it takes longer than ``seconds``."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(call).result(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def test_reading_an_up_to_date_file_writes_nothing(tmp_path: Path) -> None:
    env, path = project(tmp_path)
    sql(path, "UPDATE grants SET mode = 'live', app_key = '' WHERE seller_name = 'Seller 3'")  # unowned live
    live = GrantScope("live", "liveappkey01")
    claim = GrantStore(path, scope=live)
    assert [g.seller_name for g in claim.all()] == ["Seller 3"]  # claimed: a write, once
    claim.close()
    before = snapshot(path)
    for scope in (None, SANDBOX_SCOPE, live, GrantScope("live", "anotherapp02")):
        store = GrantStore(path, scope=scope)
        store.all(), store.newest(), store.count(), store.elsewhere()
        store.close()
    listed = sellers_of(env, environ={})
    assert len(listed.grants) == 2
    assert snapshot(path) == before  # bytes and mtime


def test_a_reader_beside_a_held_write_transaction_answers_at_once(tmp_path: Path) -> None:
    env, path = project(tmp_path)
    with write_transaction_held(path):
        listed = within(2, lambda: sellers_of(env, environ={}))
        assert sorted(g.seller_name for g in listed.grants) == ["Seller 1", "Seller 2", "Seller 3"]  # committed state
        assert within(2, lambda: run_cli("status", env_file=env)).returncode == 0


@pytest.mark.durability
def test_a_writer_beside_it_says_busy_within_seconds_and_advises_no_discarding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, path = project(tmp_path)
    store = GrantStore(path, scope=SANDBOX_SCOPE)  # waits the runbook's own busy timeout
    seller = store.find("Seller 1")
    monkeypatch.setattr(grant_schema, "BUSY_TIMEOUT", 0.5)
    quick = GrantStore(path, scope=SANDBOX_SCOPE)  # the second write need not wait as long
    with write_transaction_held(path) as holder:
        with pytest.raises(GrantDatabaseBusy) as busy:
            within(15, lambda: store.save_store_key(seller.id, Secret("store_key_000000000001")))
        text = str(busy.value)
        assert "busy: another runbook process is writing" in text and str(path) in text
        if Path("/proc/locks").exists():
            assert f"pid {holder.pid}" in text
        assert not any(word in text.lower() for word in DISCARD), text
        with pytest.raises(GrantNotSaved) as lost:
            within(15, lambda: quick.save_tokens(tokens(7, open_id=seller.open_id), grant_id=seller.id))
        assert "busy" in lost.value.reason and "TTP_refresh_00000000000000000007" not in str(lost.value)
        assert lost.value.tokens == tokens(7, open_id=seller.open_id) and lost.value.grant_id == seller.id
    assert quick.save_tokens(tokens(7, open_id=seller.open_id), grant_id=seller.id).refresh_token.reveal().endswith("7")
    store.close()
    quick.close()


# --- a read-only file, a full disk -------------------------------------------------------------------

_fork = multiprocessing.get_context("fork")


def _as_another_user(folder: str, answers: Any) -> None:
    """In a child: drop root (a read-only file means nothing to root), then read and write."""
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    store = GrantStore(Path(folder) / ".env.grants.db", scope=SANDBOX_SCOPE)
    said: dict[str, object] = {"sellers": [g.seller_name for g in store.all()]}
    for name, write in (
        ("store_key", lambda: store.save_store_key(1, Secret("store_key_000000000001"))),
        ("tokens", lambda: store.save_tokens(tokens(8, open_id="7010736057180300001"), grant_id=1)),
    ):
        try:
            write()
            said[name] = "written"
        except GrantDatabaseError as exc:
            said[name] = f"GrantDatabaseError: {exc}"
        except GrantNotSaved as exc:
            said[name] = f"GrantNotSaved: {exc.reason}"
    answers.put(said)


def test_a_read_only_file_in_a_read_only_folder_reads_and_refuses_writes_clearly(tmp_path: Path) -> None:
    folder = Path(tempfile.mkdtemp(prefix="grants-ro-"))  # outside pytest's 0700 folders: another user may enter
    try:
        write_grant(folder / ".env", tokens(1))
        path = folder / ".env.grants.db"
        assert not path.with_name(path.name + "-wal").exists()
        before = path.read_bytes()
        os.chmod(path, 0o444)
        os.chmod(folder, 0o555)  # noqa: S103 - read-only, and another user may enter it
        answers = _fork.Queue()
        child = _fork.Process(target=_as_another_user, args=(str(folder), answers))
        child.start()
        said = answers.get(timeout=30)
        child.join(10)
        assert said["sellers"] == ["Seller 1"]
        assert "read-only" in str(said["store_key"]) and str(said["store_key"]).startswith("GrantDatabaseError")
        assert str(said["tokens"]).startswith("GrantNotSaved: the file or its folder is read-only")
        assert path.read_bytes() == before
    finally:
        os.chmod(folder, 0o700)
        shutil.rmtree(folder)


class RefusingDisk(sqlite3.Connection):
    """A connection whose COMMIT the disk refuses ``refusals`` times (then works), counting tries."""

    refusals = 0
    message = "database or disk is full"
    commits = 0

    def execute(self, statement: str, *args: Any) -> sqlite3.Cursor:
        if statement == "COMMIT":
            type(self).commits += 1
            if type(self).refusals > 0:
                type(self).refusals -= 1
                raise sqlite3.OperationalError(type(self).message)
        return super().execute(statement, *args)


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> type[RefusingDisk]:
    monkeypatch.setattr(grant_sqlite, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    for name, value in (("commits", 0), ("refusals", 0), ("message", RefusingDisk.message)):
        monkeypatch.setattr(RefusingDisk, name, value)  # each test starts from a disk that works
    monkeypatch.setattr(grant_sqlite.SqliteDatabase, "connection_class", RefusingDisk)
    return RefusingDisk


def test_a_commit_the_disk_refuses_for_a_moment_is_tried_again(tmp_path: Path, refusing: type[RefusingDisk]) -> None:
    _, path = project(tmp_path, sellers=1)
    refusing.refusals, refusing.commits = 2, 0
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    saved = store.save_tokens(tokens(5, open_id="7010736057180300001"), grant_id=1)
    assert refusing.commits == 3 and saved.refresh_token.reveal() == "TTP_refresh_00000000000000000005"
    store.close()
    assert stored(path)["7010736057180300001"] == "TTP_refresh_00000000000000000005"  # committed


@pytest.mark.parametrize(("message", "reason"), [("database or disk is full", "the disk is full"),
                                                 ("disk I/O error", "a disk I/O error")])  # fmt: skip
def test_a_pair_that_cannot_be_committed_raises_grant_not_saved_carrying_it(
    tmp_path: Path, refusing: type[RefusingDisk], message: str, reason: str
) -> None:
    _, path = project(tmp_path, sellers=1)
    before = stored(path)
    refusing.refusals, refusing.message, refusing.commits = 99, message, 0
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    new = tokens(5, open_id="7010736057180300001")
    with pytest.raises(GrantNotSaved) as caught:
        store.save_tokens(new, grant_id=1, kind="refreshed")
    exc = caught.value
    assert refusing.commits == 4  # tried four times
    assert exc.reason.startswith(reason) and exc.tokens == new and exc.grant_id == 1 and exc.seller == "Seller 5"
    assert "was received but could not be saved" in str(exc) and str(path) in str(exc)
    assert new.refresh_token.reveal() not in str(exc) and new.access_token.reveal() not in str(exc)
    assert stored(path) == before  # nothing half written
    refusing.refusals = 0
    assert isinstance(exc.tokens, TokenSet)
    assert store.save_tokens(exc.tokens, grant_id=1).refresh_token == new.refresh_token  # saved once it can be
    store.close()


def test_a_really_full_disk_at_commit_loses_no_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's own SQLITE_FULL: the database may not grow past the pages it has (max_page_count)."""
    monkeypatch.setattr(grant_sqlite, "RETRY_DELAYS", (0.0, 0.0, 0.0))
    _, path = project(tmp_path, sellers=1)
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    db = sqlite_of(store).connect()
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    saved = 1
    with pytest.raises(GrantNotSaved) as caught:
        for n in range(2, 500):
            store.save_tokens(tokens(n))
            saved += 1
    assert "the disk is full" in caught.value.reason and "Traceback" not in str(caught.value)
    assert caught.value.tokens == tokens(saved + 1)
    assert store.count() == saved and len(stored(path)) == saved  # every committed pair is there
    db.execute("PRAGMA max_page_count = 1000000")  # space freed
    assert isinstance(caught.value.tokens, TokenSet)
    store.save_tokens(caught.value.tokens)  # the pair it carries can still be saved
    assert store.count() == saved + 1
    store.close()


def test_refresh_on_a_full_disk_ends_in_one_line_without_the_token(
    tmp_path: Path, refusing: type[RefusingDisk]
) -> None:
    with Sandbox(state_path=tmp_path / ".sandbox" / "state.db") as sandbox:
        env = tmp_path / ".env"
        env.write_text(f"TIKTOK_MODE=sandbox\nTIKTOK_SANDBOX_URL={sandbox.base_url}\n")
        from tiktok_helpers.session import open_session

        with open_session(env, environ={}) as session:
            session.store.save_tokens(session.token_client().refresh(sandbox.state.mint_grants(1)[0].refresh_token))
        refusing.refusals = 99
        done = run_cli("refresh", env_file=env)  # a traceback would raise out of run_cli
        assert done.returncode == 1, done.explain()
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "could not be saved" in errors[0] and "the disk is full" in errors[0]
        [honoured] = [g.refresh_token for g in sandbox.state.store.grants()]
        assert honoured not in done.stdout + done.stderr  # the new pair is never printed unasked


# --- 0600 on every write ---------------------------------------------------------------------------------


def modes(path: Path) -> dict[str, int]:
    return {
        suffix or "db": stat.S_IMODE(path.with_name(path.name + suffix).stat().st_mode)
        for suffix in ("", "-wal", "-shm")
        if path.with_name(path.name + suffix).exists()
    }


def test_every_write_leaves_the_file_and_its_side_files_0600(tmp_path: Path) -> None:
    _, path = project(tmp_path, sellers=1)
    os.chmod(path, 0o644)  # restored from a copy
    other = sqlite3.connect(path)  # another reader keeps the side files in place
    other.execute("SELECT COUNT(*) FROM grants").fetchone()
    for suffix in ("-wal", "-shm"):
        os.chmod(path.with_name(path.name + suffix), 0o644)
    assert set(modes(path).values()) == {0o644} and len(modes(path)) == 3
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    store.save_store_key(1, Secret("store_key_000000000001"))
    assert modes(path) == {"db": 0o600, "-wal": 0o600, "-shm": 0o600}
    store.close()
    other.close()
    os.chmod(path, 0o644)
    again = GrantStore(path, scope=SANDBOX_SCOPE)
    again.save_tokens(tokens(2, open_id="7010736057180300001"), grant_id=1)
    assert set(modes(path).values()) == {0o600}  # the side files SQLite made, too
    again.close()
    assert modes(path) == {"db": 0o600}


def test_a_file_put_back_in_another_journal_mode_is_wal_again_after_a_write(tmp_path: Path) -> None:
    _, path = project(tmp_path, sellers=1)
    sql(path, "PRAGMA journal_mode=DELETE")
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    store.all()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # a read changes nothing
    store.save_store_key(1, Secret("store_key_000000000001"))
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def sqlite_of(store: GrantStore) -> grant_sqlite.SqliteDatabase:
    """The SQLite database behind ``store`` (these tests are about the file)."""
    assert isinstance(store.db, grant_sqlite.SqliteDatabase)
    return store.db
