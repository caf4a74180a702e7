"""The grant database: one grant per seller, nothing lost across processes, threads and kills."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tiktok_helpers.envfile import read_env
from tiktok_helpers.errors import MissingSettingError
from tiktok_helpers.grant_schema import MIGRATIONS
from tiktok_helpers.grant_sqlite import SqliteDatabase
from tiktok_helpers.grants import GrantStore, grants_path_for
from tiktok_helpers.openapi import Shop
from tiktok_helpers.regions import UserType
from tiktok_helpers.secret import Secret
from tiktok_helpers.store import RunbookStore
from tiktok_helpers.tokens import TokenSet

NOW = 1_900_000_000


def tokens(
    n: int, *, open_id: str = "7010736057180325637", name: str = "Jjj test shop", region: str = "ID"
) -> TokenSet:
    return TokenSet.from_data(
        {
            "access_token": f"TTP_access_{n:020d}",
            "access_token_expire_in": NOW + n,
            "refresh_token": f"TTP_refresh_{n:020d}",
            "refresh_token_expire_in": NOW + 10_000_000 + n,
            "open_id": open_id,
            "seller_name": name,
            "seller_base_region": region,
            "user_type": 0,
            "granted_scopes": ["seller.authorization.info"],
        }
    )


class Ticking:
    """A clock that moves a minute on every reading, so "most recent" is never a tie."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> GrantStore:
    return GrantStore(tmp_path / ".env.grants.db", clock=Ticking())


def test_a_grant_is_committed_and_seen_by_a_new_connection(store: GrantStore) -> None:
    saved = store.save_tokens(tokens(1))
    assert stat.S_IMODE(file_of(store).stat().st_mode) == 0o600
    other = GrantStore(file_of(store))
    [seen] = other.all()
    assert seen == saved
    assert seen.refresh_token.reveal() == "TTP_refresh_00000000000000000001"
    assert seen.access_token_expires_at == datetime.fromtimestamp(NOW + 1, tz=timezone.utc)
    assert seen.user_type is UserType.SELLER and seen.base_region == "ID"
    assert seen.granted_scopes == ("seller.authorization.info",)
    assert "TTP_refresh_0000" not in repr(seen)  # secrets print masked
    assert sqlite3.connect(file_of(store)).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_another_seller_adds_a_grant_and_the_same_seller_again_updates_theirs(store: GrantStore) -> None:
    first = store.save_tokens(tokens(1))
    second = store.save_tokens(tokens(2, open_id="7494560109732219154", name="Sandbox US Store", region="US"))
    assert first.id != second.id
    again = store.save_tokens(tokens(3))  # the first seller authorizes again
    assert again.id == first.id
    assert again.refresh_token.reveal().endswith("3")
    assert store.count() == 2
    assert [g.id for g in store.all()] == [first.id, second.id]  # the most recently authorized first


def test_a_refresh_updates_only_its_grant_and_keeps_what_else_was_saved(store: GrantStore) -> None:
    grant = store.save_tokens(tokens(1))
    shop = Shop(id="1", name="Shop", region="ID", seller_type="LOCAL", cipher="ROW_x", code="IDX")
    store.save_shops(grant.id, [shop])
    store.save_store_key(grant.id, Secret("store_key_000000000001"))
    refreshed = store.save_tokens(tokens(2), grant_id=grant.id, kind="refreshed")
    assert refreshed.refresh_token.reveal().endswith("2")
    assert refreshed.shops == (shop,) and refreshed.verified_at is not None
    assert refreshed.api2cart_store_key.reveal() == "store_key_000000000001"
    assert refreshed.refreshed_at is not None and refreshed.authorized_at == grant.authorized_at


def test_find_by_name_open_id_or_number(store: GrantStore) -> None:
    a = store.save_tokens(tokens(1))
    b = store.save_tokens(tokens(2, open_id="7494560109732219154", name="Sandbox US Store"))
    assert store.find("sandbox us store") == b
    assert store.find("7010736057180325637") == a
    assert store.find(str(a.id)) == a
    with pytest.raises(MissingSettingError, match=r"Sandbox US Store, Jjj test shop"):
        store.find("Nobody")


def test_reading_an_empty_project_creates_no_file(tmp_path: Path) -> None:
    store = GrantStore(tmp_path / ".env.grants.db")
    assert store.all() == [] and store.newest() is None
    assert not file_of(store).exists()


_LEGACY = (
    "# my shop\nTIKTOK_REGION=us\n"
    "TIKTOK_ACCESS_TOKEN=TTP_old_access_0000000001\nTIKTOK_ACCESS_TOKEN_EXPIRES_AT=2030-01-01T00:00:00+00:00\n"
    "TIKTOK_REFRESH_TOKEN=TTP_old_refresh_000000001\nTIKTOK_REFRESH_TOKEN_EXPIRES_AT=2031-01-01T00:00:00+00:00\n"
    "TIKTOK_SELLER_NAME=Old Shop\nTIKTOK_SHOP_CIPHER=ROW_old\nAPI2CART_STORE_KEY=store_key_old_000001\n"
)


def test_a_single_seller_env_is_imported_only_on_request_once_and_nothing_is_lost(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(_LEGACY)
    store = RunbookStore(env, environ={})
    settings = store.load()
    assert store.grants.all() == []  # loading writes nothing: the import is explicit
    assert settings.pending_import[0] == "TIKTOK_ACCESS_TOKEN" and "API2CART_STORE_KEY" in settings.pending_import
    assert read_env(env)["TIKTOK_REFRESH_TOKEN"] == "TTP_old_refresh_000000001"

    done = store.import_legacy()
    [grant] = store.grants.all()
    assert done.added and done.grant == grant and grant.imported and not grant.open_id
    assert grant.refresh_token.reveal() == "TTP_old_refresh_000000001"
    assert grant.access_token.reveal() == "TTP_old_access_0000000001"
    assert grant.refresh_token_expires_at == datetime(2031, 1, 1, tzinfo=timezone.utc)
    assert grant.seller_name == "Old Shop" and grant.shops[0].cipher == "ROW_old"
    assert grant.api2cart_store_key.reveal() == "store_key_old_000001"
    assert (grant.mode, grant.app_key) == ("sandbox", "sbxappkey0001")  # the app and mode in use
    assert read_env(env) == {"TIKTOK_REGION": "us"}  # token lines left .env only after the commit
    assert env.read_text().startswith("# my shop\n")
    assert not store.load().pending_import
    again = store.import_legacy()
    assert not again.added and again.grant is None and again.removed == ()
    assert store.grants.count() == 1  # not imported twice

    # TikTok's next reply names the seller: the imported grant gets its open_id, no second grant.
    named = store.save_tokens(tokens(5), grant_id=grant.id, refreshed=True)
    assert named.id == grant.id and named.open_id == "7010736057180325637" and not named.imported
    assert named.api2cart_store_key.reveal() == "store_key_old_000001"


def test_an_import_that_is_interrupted_is_finished_by_running_it_again(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(_LEGACY)
    store = RunbookStore(env, environ={})
    settings = store.load()
    from tiktok_helpers.legacy import grant_from_values

    found = grant_from_values(read_env(env))
    assert found is not None
    store.grants.import_grant(found)  # committed, then the process died before .env was cleaned
    done = store.import_legacy()
    assert not done.added and done.grant is not None and len(done.removed) == 7
    assert store.grants.count() == 1 and settings.pending_import


def test_an_imported_seller_who_authorizes_again_keeps_store_key_and_shops(tmp_path: Path) -> None:
    """The old runbook lost the imported row's store key: 1 grant, then 2, then 1 without it."""
    env = tmp_path / ".env"
    env.write_text(_LEGACY)
    store = RunbookStore(env, environ={})
    store.load()
    store.import_legacy()
    again = store.save_tokens(tokens(2, name="OLD SHOP"))  # the seller authorizes again
    [grant] = store.grants.all()
    assert grant.id == again.id and grant.open_id == "7010736057180325637"
    assert grant.api2cart_store_key.reveal() == "store_key_old_000001"
    assert grant.shops[0].cipher == "ROW_old"
    assert grant.refresh_token.reveal() == "TTP_refresh_00000000000000000002"


def test_an_imported_grant_that_turns_out_to_be_a_known_seller_is_merged(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(_LEGACY.replace("Old Shop", "Another name"))
    store = RunbookStore(env, environ={})
    store.load()
    [imported] = [store.import_legacy().grant]
    assert imported is not None
    known = store.save_tokens(tokens(1))  # a name that does not match: a second grant, for now
    assert store.grants.count() == 2
    merged = store.save_tokens(tokens(2), grant_id=imported.id, refreshed=True)  # the reply names the seller
    assert merged.id == known.id
    [grant] = store.grants.all()
    assert grant.api2cart_store_key.reveal() == "store_key_old_000001"  # nothing of the imported row lost
    assert grant.shops[0].cipher == "ROW_old"
    assert grant.refresh_token.reveal() == "TTP_refresh_00000000000000000002"  # the newest pair kept


# --- many processes ---------------------------------------------------------------------------------

_fork = multiprocessing.get_context("fork")


def _refresher(path: str, rounds: int) -> None:
    store = GrantStore(path)
    grant = store.find("Jjj test shop")
    for n in range(2, rounds + 2):
        store.save_tokens(tokens(n), grant_id=grant.id, kind="refreshed")


def _other_writer(path: str, seller: int, rounds: int) -> None:
    store = GrantStore(path)
    grant = store.find("Jjj test shop")
    mine = store.save_tokens(tokens(0, open_id=f"70000000000000{seller:05d}", name=f"Seller {seller}"))
    for n in range(rounds):
        store.save_store_key(grant.id, Secret(f"store_key_{seller:04d}_{n:06d}"))
        store.save_shops(mine.id, [Shop(str(n), "s", "GB", "LOCAL", f"ROW_{seller}_{n}", "x")])


@pytest.mark.durability
def test_a_refresh_racing_other_saves_keeps_its_rotated_token(store: GrantStore) -> None:
    store.save_tokens(tokens(1))
    rounds = 60
    workers = [_fork.Process(target=_refresher, args=(str(file_of(store)), rounds))]
    workers += [_fork.Process(target=_other_writer, args=(str(file_of(store)), i, rounds)) for i in range(5)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    grant = store.find("Jjj test shop")
    assert grant.refresh_token.reveal() == f"TTP_refresh_{rounds + 1:020d}"  # the last rotation survived
    assert grant.access_token.reveal() == f"TTP_access_{rounds + 1:020d}"  # with its own access token
    assert grant.api2cart_store_key.reveal().endswith(f"_{rounds - 1:06d}")  # and the others' writes too
    assert store.count() == 6
    assert all(g.shops[0].cipher.endswith(f"_{rounds - 1}") for g in store.all() if g.seller_name != "Jjj test shop")


def _writer_forever(path: str) -> None:
    store = GrantStore(path)
    grant = store.find("Jjj test shop")
    n = 2
    while True:
        store.save_tokens(tokens(n), grant_id=grant.id, kind="refreshed")
        n += 1


@pytest.mark.durability
def test_sigkill_at_random_points_leaves_a_whole_pair(store: GrantStore) -> None:
    store.save_tokens(tokens(1))
    for delay in (0.01, 0.03, 0.05, 0.08, 0.13):
        worker = _fork.Process(target=_writer_forever, args=(str(file_of(store)),))
        worker.start()
        time.sleep(delay)  # let it commit some pairs; where it is when killed is the point
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
        fresh = GrantStore(file_of(store))
        [grant] = fresh.all()
        n = int(grant.refresh_token.reveal().removeprefix("TTP_refresh_"))
        assert grant.access_token.reveal() == f"TTP_access_{n:020d}"  # never half of two replies
        assert grant.access_token_expires_at == datetime.fromtimestamp(NOW + n, tz=timezone.utc)
        assert sqlite3.connect(file_of(store)).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        fresh.close()


def test_access_due_and_refresh_expired(store: GrantStore) -> None:
    grant = store.save_tokens(tokens(1))
    at = datetime.fromtimestamp(NOW, tz=timezone.utc)
    assert not grant.access_due(at)
    assert grant.access_due(at, timedelta(seconds=5))
    assert not grant.refresh_expired(at)
    assert grant.refresh_expired(at + timedelta(days=200))


def test_path_is_beside_the_env_file(tmp_path: Path) -> None:
    assert grants_path_for(tmp_path / ".env") == tmp_path / ".env.grants.db"
    assert grants_path_for(tmp_path / "shop-b.env") == tmp_path / "shop-b.env.grants.db"


# --- the file: this project's, upgraded by numbered migrations, grants scoped to one app and mode ----


def _version_one_file(path: Path, rows: list[tuple[str, str]]) -> None:
    """A grant database as the runbook wrote it before grants recorded their app (schema 1)."""
    from tiktok_helpers.grant_schema import MIGRATIONS

    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    for open_id, refresh in rows:
        db.execute(
            "INSERT INTO grants (open_id, access_token, refresh_token, authorized_at) VALUES (?, 'a', ?, 1)",
            (open_id, refresh),
        )
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()


def test_a_version_one_file_is_upgraded_and_each_grant_placed_in_its_mode(tmp_path: Path) -> None:
    from tiktok_helpers.grants import APPLICATION_ID, GrantScope
    from tiktok_helpers.samples import SANDBOX_APP_KEY, sandbox_token_tag

    body = "TTP_" + "s" * 40
    sandbox_token = body + sandbox_token_tag(body)  # what the embedded sandbox issues
    path = tmp_path / ".env.grants.db"
    _version_one_file(path, [("sandbox-seller", sandbox_token), ("live-seller", "TTP_live_refresh_0001")])

    sandbox = GrantStore(path, scope=GrantScope("sandbox", SANDBOX_APP_KEY))
    assert [g.open_id for g in sandbox.all()] == ["sandbox-seller"]
    live = GrantStore(path, scope=GrantScope("live", "liveappkey01"))
    assert [(g.open_id, g.app_key) for g in live.all()] == [("live-seller", "liveappkey01")]  # claimed once
    other = GrantStore(path, scope=GrantScope("live", "anotherapp02"))
    assert other.all() == [] and other.elsewhere() == {
        GrantScope("live", "liveappkey01"): 1,
        GrantScope("sandbox", SANDBOX_APP_KEY): 1,
    }
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()


def test_another_programs_database_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    from tiktok_helpers.errors import SettingsError

    path = tmp_path / ".env.grants.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('mine')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(SettingsError, match="is not this runbook's grant database"):
        GrantStore(path).all()
    assert path.read_bytes() == before


def test_a_store_writes_and_sees_only_its_own_app_and_mode(tmp_path: Path) -> None:
    from tiktok_helpers.grants import GrantScope

    path = tmp_path / ".env.grants.db"
    sandbox = GrantStore(path, scope=GrantScope("sandbox", "sbxappkey0001"), clock=Ticking())
    live = GrantStore(path, scope=GrantScope("live", "liveappkey01"), clock=Ticking())
    a = sandbox.save_tokens(tokens(1))
    b = live.save_tokens(tokens(2))  # the same seller (open_id) authorizing the live app: its own grant
    assert a.id != b.id and (a.mode, b.mode) == ("sandbox", "live")
    assert sandbox.all() == [sandbox.get(a.id)] and live.all() == [live.get(b.id)]
    with pytest.raises(MissingSettingError):
        live.get(a.id)
    with pytest.raises(MissingSettingError):
        live.save_store_key(a.id, Secret("store_key_x_000000001"))
    assert sandbox.get(a.id).api2cart_store_key.reveal() == ""


class _InterruptedAtCommit(sqlite3.Connection):
    """A connection whose first COMMIT is interrupted (Ctrl-C at the worst moment)."""

    interrupted = False

    def execute(self, statement: str, *args: object) -> sqlite3.Cursor:
        if statement == "COMMIT" and not _InterruptedAtCommit.interrupted:
            _InterruptedAtCommit.interrupted = True
            raise KeyboardInterrupt
        return super().execute(statement, *args)  # type: ignore[arg-type]


def test_a_creation_interrupted_before_its_commit_leaves_a_file_the_next_write_adopts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables, application_id and schema version are one transaction, and the file turns to WAL
    only after it: never a header without tables, which would look like another program's file."""
    from tiktok_helpers.grants import APPLICATION_ID

    path = tmp_path / ".env.grants.db"
    monkeypatch.setattr(SqliteDatabase, "connection_class", _InterruptedAtCommit)
    monkeypatch.setattr(_InterruptedAtCommit, "interrupted", False)
    with pytest.raises(KeyboardInterrupt):
        GrantStore(path).save_tokens(tokens(1))
    assert path.stat().st_size == 0  # nothing half made
    saved = GrantStore(path).save_tokens(tokens(2))
    assert saved.refresh_token.reveal().endswith("2")
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    db.close()


def file_of(store: GrantStore) -> Path:
    """The SQLite file of ``store`` (these tests are about the file)."""
    assert store.path is not None
    return store.path
