"""Sandbox state persisted in an SQLite database and shared between sandboxes (and processes)."""

from __future__ import annotations

import gc
import json
import logging
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_helpers.autopilot import walk_consent
from tiktok_helpers.samples import (
    SANDBOX_API2CART_KEY,
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_REDIRECT_URL,
)
from tiktok_helpers.sandbox import (
    ACCESS_TOKEN_TTL,
    AUTH_CODE_TTL,
    Clock,
    FakeClock,
    Sandbox,
    SandboxState,
    SystemClock,
)
from tiktok_helpers.sandbox.schema import APPLICATION_ID, SCHEMA_VERSION, TABLES
from tiktok_helpers.signing import sign

from . import sandbox_calls

PROJECT_ROOT = Path(__file__).resolve().parent.parent
START = 1_750_000_000.0
SHOPS = "/authorization/202309/shops"
POSIX = sys.platform != "win32"


class Target(Protocol):
    """A sandbox to call over HTTP: a :class:`Sandbox`, or one served by another process."""

    @property
    def base_url(self) -> str: ...
    @property
    def api2cart_base_url(self) -> str: ...
    @property
    def clock(self) -> Clock: ...


@dataclass
class Remote:
    base_url: str
    clock: Clock

    @property
    def api2cart_base_url(self) -> str:
        return f"{self.base_url}/v1.1"


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "runbook" / "sandbox-state.db"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the state database, read by a connection of its own (never raw bytes:
    opening and closing the file itself would drop SQLite's locks in this process)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def row_counts(path: Path) -> dict[str, int]:
    return {table: query(path, f"SELECT COUNT(*) FROM {table}")[0][0] for table in TABLES}  # noqa: S608


def sandbox(path: Path, clock: FakeClock | None = None, **kwargs: Any) -> Sandbox[FakeClock]:
    return Sandbox(port=0, clock=clock or FakeClock(START), state_path=path, **kwargs).start()


def new_code(sb: Sandbox[Any], client: httpx.Client, seller: str = "global") -> str:
    location = walk_consent(sandbox_calls.consent_link(sb.base_url, state="p"), seller=seller, client=client)
    return parse_qs(urlsplit(location).query)["code"][0]


def token_get(sb: Target, client: httpx.Client, code: str) -> dict[str, Any]:
    return sandbox_calls.token_get(sb.base_url, code, client)


def token_refresh(sb: Target, client: httpx.Client, refresh_token: str) -> dict[str, Any]:
    return sandbox_calls.token_refresh(sb.base_url, refresh_token, client)


def tokens(sb: Sandbox[Any], client: httpx.Client, seller: str = "global") -> dict[str, Any]:
    reply = token_get(sb, client, new_code(sb, client, seller))
    assert reply["code"] == 0, reply
    data: dict[str, Any] = reply["data"]
    return data


def shops(sb: Target, client: httpx.Client, access_token: str) -> dict[str, Any]:
    params = {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(sb.clock.now()))}
    reply = client.get(
        sb.base_url + SHOPS,
        params={**params, "sign": sign(SHOPS, params, SANDBOX_APP_SECRET)},
        headers={"content-type": "application/json", "x-tts-access-token": access_token},
    )
    body: dict[str, Any] = reply.json()
    return body


def add_store(sb: Target, client: httpx.Client, refresh_token: str, **extra: str) -> dict[str, Any]:
    reply = client.post(
        f"{sb.api2cart_base_url}/account.cart.add.json",
        headers={"x-api-key": SANDBOX_API2CART_KEY},
        json={
            "cart_id": "TikTokShop",
            "tiktokshop_app_key": SANDBOX_APP_KEY,
            "tiktokshop_app_secret": SANDBOX_APP_SECRET,
            "tiktokshop_refresh_token": refresh_token,
            **extra,
        },
    )
    body: dict[str, Any] = reply.json()
    return body


def list_stores(sb: Target, client: httpx.Client) -> list[dict[str, Any]]:
    reply = client.get(f"{sb.api2cart_base_url}/account.cart.list.json", headers={"x-api-key": SANDBOX_API2CART_KEY})
    body = reply.json()
    assert body["return_code"] == 0, body
    carts: list[dict[str, Any]] = body["result"]["carts"]
    return carts


def validate_store(sb: Target, client: httpx.Client, store_key: str) -> dict[str, Any]:
    reply = client.get(
        f"{sb.api2cart_base_url}/cart.validate.json",
        headers={"x-api-key": SANDBOX_API2CART_KEY, "x-store-key": store_key},
    )
    body: dict[str, Any] = reply.json()
    return body


# ---------------------------------------------------------------- across instances (one after the other)


def test_tokens_from_one_sandbox_work_in_the_next(state_file: Path, client: httpx.Client) -> None:
    first = sandbox(state_file)
    try:
        data = tokens(first, client)
    finally:
        first.stop()
    assert state_file.exists()

    clock = FakeClock(START)
    with Sandbox(port=0, clock=clock, state_path=state_file) as second:
        reply = shops(second, client, data["access_token"])
        assert reply["code"] == 0, reply
        assert [s["region"] for s in reply["data"]["shops"]] == ["GB", "DE"]
        # expiries are absolute: they mean the same to the next sandbox's clock
        clock.set(data["access_token_expire_in"] + 1)
        assert shops(second, client, data["access_token"])["code"] == 105002
        refreshed = token_refresh(second, client, data["refresh_token"])
        assert refreshed["code"] == 0, refreshed
        assert refreshed["data"]["refresh_token_expire_in"] == data["refresh_token_expire_in"]
        assert refreshed["data"]["access_token_expire_in"] == int(clock.now()) + ACCESS_TOKEN_TTL

    with Sandbox(port=0, clock=FakeClock(clock.now()), state_path=state_file) as third:
        assert token_refresh(third, client, data["refresh_token"])["code"] == 36004005  # rotated away
        assert shops(third, client, refreshed["data"]["access_token"])["code"] == 0


def test_used_code_stays_used_and_unused_code_travels(state_file: Path, client: httpx.Client) -> None:
    with sandbox(state_file) as first:
        used = new_code(first, client)
        unused = new_code(first, client)
        assert token_get(first, client, used)["code"] == 0
    with sandbox(state_file) as second:
        assert token_get(second, client, used)["code"] == 36004004
        assert token_get(second, client, unused)["code"] == 0
    clock = FakeClock(START)
    with sandbox(state_file, clock) as third:
        late = third.state.issue_code(SANDBOX_APP_KEY, "us")
    with sandbox(state_file, FakeClock(START + AUTH_CODE_TTL + 1)) as fourth:
        assert token_get(fourth, client, late)["code"] == 36004004  # issue time is stored: expired


def test_store_added_in_one_is_listed_in_the_next(state_file: Path, client: httpx.Client) -> None:
    with sandbox(state_file) as first:
        data = tokens(first, client)
        added = add_store(first, client, data["refresh_token"], custom_label="UK")
        assert added["return_code"] == 0, added
        store_key = added["result"]["store_key"]
    with sandbox(state_file) as second:
        carts = list_stores(second, client)
        assert [(c["store_key"], c["custom_label"], c["id"]) for c in carts] == [(store_key, "UK", "1")]
        assert validate_store(second, client, store_key)["return_code"] == 0
        other = tokens(second, client, "us")
        assert add_store(second, client, other["refresh_token"])["return_code"] == 0
        assert [c["id"] for c in list_stores(second, client)] == ["1", "2"]  # the id counter is kept


def test_redirect_url_persists_and_an_explicit_one_wins(state_file: Path, client: httpx.Client) -> None:
    catcher = "http://127.0.0.1:53111/callback"
    with sandbox(state_file) as first:
        assert first.state.app.redirect_url == SANDBOX_REDIRECT_URL
        first.set_redirect_url(catcher)
    with sandbox(state_file) as second:
        assert second.state.app.redirect_url == catcher
        location = walk_consent(sandbox_calls.consent_link(second.base_url, state="r"), seller="global", client=client)
        assert location.startswith(catcher + "?code=")
    other = "http://127.0.0.1:53222/cb"
    with sandbox(state_file, redirect_url=other) as third:
        assert third.state.app.redirect_url == other
    assert SandboxState(state_path=state_file).app.redirect_url == other


# ---------------------------------------------------------------- concurrent instances


def test_concurrent_instances_see_each_others_writes(state_file: Path, client: httpx.Client) -> None:
    clock = FakeClock(START)
    with sandbox(state_file, clock) as a, sandbox(state_file, clock) as b:
        assert a.port != b.port
        data = tokens(a, client)
        assert shops(b, client, data["access_token"])["code"] == 0
        # rapid alternation: each write must be seen by the other at once (no restart, no sleep)
        refresh = data["refresh_token"]
        for i in range(20):
            writer, reader = (a, b) if i % 2 == 0 else (b, a)
            reply = token_refresh(writer, client, refresh)
            assert reply["code"] == 0, (i, reply)
            assert token_refresh(reader, client, refresh)["code"] == 36004005, i  # old one is gone
            refresh = reply["data"]["refresh_token"]
            assert shops(reader, client, reply["data"]["access_token"])["code"] == 0, i
        added = add_store(b, client, refresh)
        assert added["return_code"] == 0, added
        assert [c["store_key"] for c in list_stores(a, client)] == [added["result"]["store_key"]]
        a.set_redirect_url("http://127.0.0.1:53333/cb")
        assert walk_consent(sandbox_calls.consent_link(b.base_url, state="c"), client=client).startswith(
            "http://127.0.0.1:53333/cb?"
        )
        assert b.state.deauthorize("global") == 1
        assert token_refresh(a, client, refresh)["code"] == 36004005


def test_parallel_writers_lose_no_update(state_file: Path) -> None:
    first = SandboxState(clock=FakeClock(START), state_path=state_file)
    second = SandboxState(clock=FakeClock(START), state_path=state_file)
    issued: list[str] = []
    issued_lock = threading.Lock()

    def work(state: SandboxState) -> None:
        for _ in range(10):
            code = state.issue_code(SANDBOX_APP_KEY, "global")
            with issued_lock:
                issued.append(code)

    threads = [threading.Thread(target=work, args=(s,)) for s in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(row[0] for row in query(state_file, "SELECT code FROM auth_codes")) == sorted(issued)
    assert len(issued) == 40
    third = SandboxState(clock=FakeClock(START), state_path=state_file)
    assert set(third.codes) == set(issued)


def test_keep_alive_stays_fast_with_a_state_file(state_file: Path, client: httpx.Client) -> None:
    with sandbox(state_file) as sb:
        data = tokens(sb, client)  # every request reads the shared database, with a stat first
        started = time.perf_counter()
        for _ in range(50):
            assert shops(sb, client, data["access_token"])["code"] == 0
        elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"50 keep-alive requests took {elapsed:.3f} s"


def test_file_deleted_while_running_means_empty_state_for_everyone(state_file: Path, client: httpx.Client) -> None:
    """Another program deletes the file (say, ``rm -r .sandbox``): every sandbox on it notices at its
    next request and continues, together, from a fresh empty file."""
    with sandbox(state_file) as a, sandbox(state_file) as b:
        data = tokens(a, client)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{state_file}{suffix}").unlink(missing_ok=True)
        assert shops(b, client, data["access_token"])["code"] == 105001
        assert shops(a, client, data["access_token"])["code"] == 105001
        again = tokens(b, client)
        assert shops(a, client, again["access_token"])["code"] == 0
    assert row_counts(state_file)["grants"] == 1


# ---------------------------------------------------------------- the file itself


def test_file_format_and_mode(state_file: Path, client: httpx.Client) -> None:
    with sandbox(state_file) as sb:
        assert sb.state_path == state_file
        data = tokens(sb, client)
        add_store(sb, client, data["refresh_token"])
        if POSIX:
            for suffix in ("", "-wal", "-shm"):  # SQLite gives its side files the database's mode
                assert stat.S_IMODE(Path(f"{state_file}{suffix}").stat().st_mode) == 0o600, suffix
            assert stat.S_IMODE(state_file.parent.stat().st_mode) == 0o700
    assert query(state_file, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert query(state_file, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(state_file, "PRAGMA journal_mode") == [("wal",)]
    assert row_counts(state_file) == {
        "redirect_urls": 0,  # the default is not stored
        "auth_codes": 1,
        "sellers": 0,  # static data comes from code: only minted sellers are stored
        "shops": 0,
        "grants": 1,
        "carts": 1,
        "webhook_outbox": 0,  # no webhook URL: nothing is queued
        "expiry_notices": 0,
    }
    assert query(state_file, "SELECT used, issued_at FROM auth_codes") == [(1, START)]
    grant = query(state_file, "SELECT access_token, access_expires_at, refresh_expires_at, seller_key FROM grants")
    assert grant == [(data["access_token"], data["access_token_expire_in"], data["refresh_token_expire_in"], "global")]
    assert query(state_file, "SELECT id, api_key FROM carts") == [(1, SANDBOX_API2CART_KEY)]
    issued = sandbox_calls.issued_values(state_file)
    assert {data["access_token"], data["refresh_token"]} <= issued and len(issued) == 4  # + code, store key
    indexed = {row[0] for row in query(state_file, "SELECT sql FROM sqlite_master WHERE type = 'index'") if row[0]}
    for lookup in ("grants (app_key)", "grants (seller_key)", "shops (seller_key, position)"):
        assert any(lookup in sql for sql in indexed), lookup
    unique = {row[0] for row in query(state_file, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert len([name for name in unique if name.startswith("sqlite_autoindex_grants")]) == 2  # both tokens


#: The ``carts`` table of a version 2 file: a URL required, and one store per URL in an account.
_V2_CARTS = """CREATE TABLE carts_v2 (
    id INTEGER PRIMARY KEY, api_key TEXT NOT NULL, store_key TEXT NOT NULL UNIQUE,
    cart_id TEXT NOT NULL, url TEXT NOT NULL, custom_label TEXT NOT NULL, app_key TEXT NOT NULL,
    app_secret TEXT NOT NULL, refresh_token TEXT NOT NULL, access_token TEXT, UNIQUE (api_key, url))"""


def test_a_version_2_state_file_is_upgraded_keeping_its_stores(state_file: Path, client: httpx.Client) -> None:
    """Version 3 drops the by-URL rule (API2Cart documents none) and lets a store have no URL: a
    version 2 file is upgraded in place, every store kept, and then takes stores without a URL."""
    with sandbox(state_file) as first:
        old = add_store(first, client, tokens(first, client)["refresh_token"], store_url="https://old.example/shop")
        assert old["return_code"] == 0, old
    conn = sqlite3.connect(state_file)
    conn.execute(_V2_CARTS)
    conn.execute("INSERT INTO carts_v2 SELECT * FROM carts")
    conn.execute("DROP TABLE carts")
    conn.execute("ALTER TABLE carts_v2 RENAME TO carts")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with sandbox(state_file) as second:
        kept = list_stores(second, client)
        assert [(c["store_key"], c["url"]) for c in kept] == [(old["result"]["store_key"], "https://old.example/shop")]
        for _ in range(2):  # two stores without a URL, then one more at the old one's URL: all accepted
            assert add_store(second, client, tokens(second, client)["refresh_token"])["return_code"] == 0
        again = add_store(second, client, tokens(second, client)["refresh_token"], store_url="https://old.example/shop")
        assert again["return_code"] == 0, again
        assert [c["url"] for c in list_stores(second, client)] == [
            "https://old.example/shop", None, None, "https://old.example/shop"
        ]  # fmt: skip
    assert query(state_file, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(3,)]
    assert not state_file.with_name(state_file.name + ".corrupt").exists()


def _other_program_database(path: Path, *, application_id: int = 0, version: int = 0, columns: bool = True) -> bytes:
    conn = sqlite3.connect(path)
    if application_id:
        for table, names in TABLES.items():
            kept = names if columns or table != "grants" else names[:-1]
            conn.execute(f"CREATE TABLE {table} ({', '.join(kept)})")
    else:
        conn.execute("CREATE TABLE notes (text)")
    conn.execute(f"INSERT INTO {'grants (access_token)' if application_id else 'notes'} VALUES ('TTP_secret')")  # noqa: S608
    conn.execute(f"PRAGMA application_id = {application_id}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()
    content = path.read_bytes()
    path.unlink()
    return content


def _database_of(**kwargs: Any) -> Any:
    return lambda folder: _other_program_database(folder / "other.db", **kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda folder: b"{not json TTP_secret-looking-token",
        lambda folder: b"\xff\xfe garbage" * 1000,
        lambda folder: json.dumps({"version": 1, "grants": [{"access_token": "TTP_secret-looking-token"}]}).encode(),
        _database_of(),
        _database_of(application_id=APPLICATION_ID, version=SCHEMA_VERSION + 1),
        _database_of(application_id=APPLICATION_ID, version=SCHEMA_VERSION, columns=False),
        _database_of(application_id=0x12345678, version=SCHEMA_VERSION),
    ],
    ids=[
        "bad-bytes",
        "garbage-pages",
        "old-json-state",
        "another-programs-database",
        "unknown-version",
        "bad-schema",
        "other-application-id",
    ],
)
def test_corrupt_file_is_kept_aside(
    state_file: Path, client: httpx.Client, caplog: pytest.LogCaptureFixture, make: Any
) -> None:
    state_file.parent.mkdir(parents=True)
    content: bytes = make(state_file.parent)
    state_file.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="tiktok_helpers.sandbox"), sandbox(state_file) as sb:
        assert sb.state.grants == [] and sb.state.codes == {}
        assert list_stores(sb, client) == []
        data = tokens(sb, client)  # it keeps working and saves a fresh file
        assert shops(sb, client, data["access_token"])["code"] == 0
    corrupt = state_file.with_name(state_file.name + ".corrupt")
    assert corrupt.read_bytes() == content  # kept exactly as it was
    assert query(state_file, "PRAGMA application_id") == [(APPLICATION_ID,)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert str(corrupt) in message and "empty state" in message
    assert "TTP_" not in caplog.text


def test_file_corrupted_while_running(state_file: Path, client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with sandbox(state_file) as sb:
        data = tokens(sb, client)
        state_file.write_text("{}")  # another program breaks it
        with caplog.at_level(logging.WARNING, logger="tiktok_helpers.sandbox"):
            assert shops(sb, client, data["access_token"])["code"] == 105001  # empty state now
            assert shops(sb, client, data["access_token"])["code"] == 105001
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        assert state_file.with_name(state_file.name + ".corrupt").read_text() == "{}"
        assert tokens(sb, client)["access_token"]  # and it goes on, in a fresh file


def test_damage_sqlite_finds_later_is_kept_aside(state_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Pages damaged inside a database that otherwise looks right: the operation that meets them
    fails, the file is moved aside, and the next operation works on a fresh file."""
    first = SandboxState(clock=FakeClock(START), state_path=state_file)
    first.mint_grants(2000)
    del first
    gc.collect()  # closed: everything is in the file itself, none of it in a WAL
    size = state_file.stat().st_size
    with open(state_file, "r+b") as handle:
        handle.seek(4096 * 3)
        handle.write(b"\x07" * 4096 * 20)
    assert state_file.stat().st_size == size
    state = SandboxState(clock=FakeClock(START), state_path=state_file)
    with caplog.at_level(logging.WARNING, logger="tiktok_helpers.sandbox"):
        with pytest.raises(sqlite3.DatabaseError):
            _ = state.grants
        assert state.grants == []
        assert state.issue_code(SANDBOX_APP_KEY, "global") in state.codes
    assert "moved to" in caplog.text and "TTP_" not in caplog.text
    assert state_file.with_name(state_file.name + ".corrupt").stat().st_size == size


def test_unreadable_path_does_not_crash(state_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    state_file.mkdir(parents=True)  # a folder where the file should be: cannot be read
    with caplog.at_level(logging.WARNING, logger="tiktok_helpers.sandbox"):
        state = SandboxState(clock=FakeClock(START), state_path=state_file)
    assert state.codes == {}
    assert "not usable" in caplog.text
    assert state_file.with_name(state_file.name + ".corrupt").is_dir()
    state.issue_code(SANDBOX_APP_KEY, "global")
    assert state_file.is_file()


# ---------------------------------------------------------------- reset


def test_reset_clears_state_and_file(state_file: Path, client: httpx.Client) -> None:
    with sandbox(state_file) as a, sandbox(state_file) as b:
        data = tokens(a, client)
        assert add_store(a, client, data["refresh_token"])["return_code"] == 0
        a.set_redirect_url("http://127.0.0.1:53444/cb")
        assert len(list_stores(b, client)) == 1
        a.reset()
        assert set(row_counts(state_file).values()) == {0}  # emptied (not deleted: b has it open)
        assert a.state.grants == [] and a.state.codes == {}
        assert a.state.app.redirect_url == SANDBOX_REDIRECT_URL
        for sb in (a, b):
            assert list_stores(sb, client) == []
            assert shops(sb, client, data["access_token"])["code"] == 105001
        assert b.state.app.redirect_url == SANDBOX_REDIRECT_URL
        again = tokens(b, client)
        assert add_store(b, client, again["refresh_token"])["result"]["store_key"]
        assert [c["id"] for c in list_stores(a, client)] == ["1"]


def test_reset_without_a_file() -> None:
    state = SandboxState(clock=FakeClock(START))
    state.issue_code(SANDBOX_APP_KEY, "global")
    state.reset()
    assert state.codes == {} and state.state_path is None


# ---------------------------------------------------------------- CLI


def test_cli_state_flag(state_file: Path, client: httpx.Client) -> None:
    # tokens issued in this process, with the real clock, before the CLI sandbox starts
    with Sandbox(port=0, state_path=state_file) as local:
        data = tokens(local, client)
    with sandbox_calls.sandbox_cli("--state", str(state_file), cwd=PROJECT_ROOT) as running:
        assert f"state file: {state_file}" in running.banner
        cli = Remote(running.base_url, SystemClock())
        assert shops(cli, client, data["access_token"])["code"] == 0  # issued here, accepted there
        added = add_store(cli, client, data["refresh_token"], custom_label="from CLI")
        assert added["return_code"] == 0, added
        with Sandbox(port=0, state_path=state_file) as local:  # written there, seen here
            assert [c["custom_label"] for c in list_stores(local, client)] == ["from CLI"]
            refreshed = token_refresh(local, client, data["refresh_token"])
            assert refreshed["code"] == 0
        # and a write here is seen by the running CLI process without a restart
        assert token_refresh(cli, client, data["refresh_token"])["code"] == 36004005
        assert shops(cli, client, refreshed["data"]["access_token"])["code"] == 0
    assert running.process.returncode == 0
    if POSIX:
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600


def test_cli_state_flag_in_help() -> None:
    from tiktok_helpers.sandbox.command import build_parser

    args = build_parser().parse_args(["--state", "x.db"])
    assert args.state == "x.db" and args.redirect_url is None
    assert "--state" in build_parser().format_help()
