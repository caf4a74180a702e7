"""Moving every seller's grant between grant stores (issue #26): ``sellers export FILE`` and
``sellers import FILE`` (:mod:`tiktok_helpers.grant_transfer`, ``cli/sellers_transfer.py``).

* Every field survives SQLite -> SQLite and SQLite -> PostgreSQL -> SQLite; importing twice changes
  nothing; a seller already there keeps the newer grant.
* The file is 0600 from creation and never replaces a file; a file of another app or mode imports
  nothing; a damaged file is one line naming the entry, never a token.
* The command line never prints a token (the ``cli`` fixture checks every output at the end).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tiktok_helpers.errors import SettingsError
from tiktok_helpers.grant_rows import Grant, GrantScope, Refresher, grant_values
from tiktok_helpers.grant_transfer import (
    COLUMNS,
    FORMAT,
    GrantsFileError,
    export_grants,
    import_export,
    read_export,
)
from tiktok_helpers.grants import GrantStore, grants_path_for
from tiktok_helpers.openapi import Shop
from tiktok_helpers.regions import UserType
from tiktok_helpers.secret import Secret
from tiktok_helpers.store_url import StoreUrl

from .cli_in_process import LOOPBACK_ANY_PORT, Cli
from .saved import SANDBOX_SCOPE, grants

SCOPE = SANDBOX_SCOPE  # the sandbox's sample app: what a project without an App Key uses
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def full_grant(n: int, **changes: Any) -> Grant:
    """A grant with every field set to something other than its default."""
    base = Grant(
        id=0,
        open_id=f"70000000000000{n:05d}",
        seller_name=f"Seller {n} Señor Tienda 店",
        base_region="GB",
        user_type=UserType.SELLER,
        access_token=Secret(f"TTP_access_token_{n:020d}"),
        access_token_expires_at=at(7 * 24 * 60),
        refresh_token=Secret(f"TTP_refresh_token_{n:020d}"),
        refresh_token_expires_at=at(365 * 24 * 60),
        granted_scopes=("seller.authorization.info", "seller.shop.info"),
        shops=(
            Shop(id=f"shop{n}", name=f"Shop {n}", region="GB", seller_type="LOCAL", cipher=f"GCP_{n:012d}", code="C1"),
        ),
        api2cart_store_key=Secret(f"a2c_store_key_{n:020d}"),
        authorized_at=at(n),
        refreshed_at=at(10 + n),
        verified_at=at(20 + n),
        mode=SCOPE.mode,
        app_key=SCOPE.app_key,
        imported=False,
        refresher=Refresher.API2CART,
        refresher_reason="store-added",
        refresher_since=at(30 + n),
        removed_at=at(40 + n),
        authorization_ends_at=at(50 * 24 * 60),
        expiry_notice_at=at(60 + n),
    )
    return replace(base, **changes)


#: An older runbook's single seller: no open_id yet, no access token, no shops, the runbook refreshes.
LEGACY = full_grant(
    9, open_id="", access_token=Secret(""), shops=(), api2cart_store_key=Secret(""), imported=True,
    refresher=Refresher.RUNBOOK, refresher_reason="", refresher_since=None, removed_at=None, refreshed_at=None,
)  # fmt: skip


def values(store: GrantStore) -> dict[str, dict[str, object]]:
    """Every grant of the store by seller (open_id, else refresh token), as its columns."""
    return {g.open_id or g.refresh_token.reveal(): grant_values(g) for g in store.all()}


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[GrantStore]]:
    """Stores a test opens (closed at the end)."""
    opened: list[GrantStore] = []
    yield opened
    for store in opened:
        store.close()


def store_at(stores: list[GrantStore], location: Path | str, scope: GrantScope | None = SCOPE) -> GrantStore:
    store = GrantStore(StoreUrl.parse(location) if isinstance(location, str) else location, scope=scope)
    stores.append(store)
    return store


def filled(stores: list[GrantStore], location: Path | str) -> GrantStore:
    store = store_at(stores, location)
    for grant in (full_grant(1), full_grant(2), LEGACY):
        store.adopt(grant)
    return store


def move(source: GrantStore, target: GrantStore, path: Path) -> tuple[int, Any]:
    count = export_grants(source.all(), path, scope=SCOPE, source=source.location)
    return count, import_export(target, read_export(path))


# --- every field survives ---------------------------------------------------------------------------


def test_the_format_carries_every_column_the_store_writes() -> None:
    assert set(COLUMNS) == {*grant_values(full_grant(1)), "id_in_source"}


def test_sqlite_to_sqlite_keeps_every_field_and_importing_again_changes_nothing(
    tmp_path: Path, stores: list[GrantStore]
) -> None:
    source = filled(stores, tmp_path / "a.db")
    target = store_at(stores, tmp_path / "b.db")
    count, report = move(source, target, tmp_path / "grants.json")
    assert count == 3 and len(report.added) == 3 and not report.updated and not report.kept
    assert values(target) == values(source)
    assert {g.id for g in target.all()} == {g.id for g in source.all()}  # a fresh store keeps each #

    again = import_export(target, read_export(tmp_path / "grants.json"))
    assert (again.added, again.updated, len(again.kept)) == ((), (), 3)
    assert values(target) == values(source)


def test_sqlite_to_postgresql_to_sqlite_keeps_every_field(
    tmp_path: Path, stores: list[GrantStore], postgres_url: str
) -> None:
    source = filled(stores, tmp_path / "a.db")
    shared = store_at(stores, postgres_url)
    back = store_at(stores, tmp_path / "back.db")
    assert len(move(source, shared, tmp_path / "to-pg.json")[1].added) == 3
    assert values(shared) == values(source)
    assert len(move(shared, back, tmp_path / "from-pg.json")[1].added) == 3
    assert values(back) == values(source)
    assert read_export(tmp_path / "from-pg.json").source == shared.location  # the URL, password masked


def test_a_newer_grant_in_the_file_updates_and_an_older_one_is_kept(tmp_path: Path, stores: list[GrantStore]) -> None:
    source = filled(stores, tmp_path / "a.db")
    target = store_at(stores, tmp_path / "b.db")
    older = full_grant(1, refresh_token=Secret("TTP_refresh_token_target_old_01"), authorized_at=at(-99),
                       refreshed_at=None)  # fmt: skip
    newer = full_grant(2, refresh_token=Secret("TTP_refresh_token_target_new_02"), refreshed_at=at(999))
    target.adopt(older)
    target.adopt(newer)
    _, report = move(source, target, tmp_path / "grants.json")
    assert [label for label, _ in report.updated] == ["Seller 1 Señor Tienda 店"]
    assert [label for label, _ in report.kept] == ["Seller 2 Señor Tienda 店"]
    assert len(report.added) == 1  # the legacy seller
    now = {g.open_id: g.refresh_token.reveal() for g in target.all()}
    assert now[full_grant(1).open_id] == full_grant(1).refresh_token.reveal()  # the file's, newer
    assert now[full_grant(2).open_id] == "TTP_refresh_token_target_new_02"  # the store's, newer


# --- the file ------------------------------------------------------------------------------------------


def test_the_file_is_0600_from_creation_and_never_replaces_a_file(tmp_path: Path, stores: list[GrantStore]) -> None:
    source = filled(stores, tmp_path / "a.db")
    path = tmp_path / "grants.json"
    before = os.umask(0)
    try:
        export_grants(source.all(), path, scope=SCOPE, source=source.location)
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text(encoding="utf-8"))
    assert (document["format"], document["version"], document["mode"]) == (FORMAT, 1, "sandbox")
    assert len(document["grants"]) == 3

    path.write_text("keep me")
    with pytest.raises(GrantsFileError, match="exists already"):
        export_grants(source.all(), path, scope=SCOPE, source=source.location)
    assert path.read_text() == "keep me"
    with pytest.raises(GrantsFileError, match="does not exist"):
        export_grants(source.all(), tmp_path / "nowhere" / "g.json", scope=SCOPE, source=source.location)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []  # no temporary left


def test_without_hard_links_the_file_is_still_created_exclusively(
    tmp_path: Path, stores: list[GrantStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some USB sticks and network shares have no hard links: the name is then created with O_EXCL."""

    def no_links(source: str, target: Path) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr("tiktok_helpers.grant_transfer.os.link", no_links)
    source = filled(stores, tmp_path / "a.db")
    path = tmp_path / "out" / "grants.json"
    path.parent.mkdir()
    assert export_grants(source.all(), path, scope=SCOPE, source=source.location) == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(read_export(path).grants) == 3
    with pytest.raises(GrantsFileError, match="exists already"):
        export_grants(source.all(), path, scope=SCOPE, source=source.location)
    assert [p.name for p in path.parent.iterdir()] == ["grants.json"]


def test_a_full_disk_leaves_no_file(tmp_path: Path, stores: list[GrantStore], monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    source = filled(stores, tmp_path / "a.db")
    monkeypatch.setattr("tiktok_helpers.grant_transfer.os.fsync", full)
    (tmp_path / "out").mkdir()
    with pytest.raises(SettingsError, match="No space left on device; no file was left there"):
        export_grants(source.all(), tmp_path / "out" / "grants.json", scope=SCOPE, source=source.location)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_file_of_another_app_or_mode_imports_nothing(tmp_path: Path, stores: list[GrantStore]) -> None:
    source = filled(stores, tmp_path / "a.db")
    live = store_at(stores, tmp_path / "b.db", GrantScope("live", "liveappkey01"))
    _, report = move(source, live, tmp_path / "grants.json")
    assert report.other_scope and (report.added, report.updated, report.kept) == ((), (), ())
    assert live.count() == 0 and store_at(stores, tmp_path / "b.db", None).count() == 0
    assert "nothing was imported" in report.mismatch
    assert "TIKTOK_MODE=sandbox" in report.advice and "leave TIKTOK_APP_KEY empty" in report.advice


# --- a damaged file: one line naming the entry, never a token ----------------------------------------


def _drop(entry: dict[str, Any], key: str) -> None:
    del entry[key]


#: How the line names the first entry of the file (its seller name as Python quotes it).
ENTRY = "entry 1 ('Seller 1 Señor Tienda 店')"
#: (what is done to the first entry, and what the line must say)
DAMAGE: list[tuple[str, Any, str]] = [
    ("no refresh token", lambda e: _drop(e, "refresh_token"), f"{ENTRY}: refresh_token is missing"),
    ("empty refresh token", lambda e: e.update(refresh_token=""), f"{ENTRY}: refresh_token is empty"),
    ("token as a number", lambda e: e.update(access_token=12345), "access_token is a number, not text"),
    ("time as text", lambda e: e.update(authorized_at="yesterday"), "authorized_at is text, not a whole number"),
    ("a flag as true", lambda e: e.update(imported=True), "imported is true or false, not a whole number"),
    ("shops not JSON", lambda e: e.update(shops="{x"), f"{ENTRY}: shops: not valid JSON"),
    ("unknown refresher", lambda e: e.update(refresher="someone"), "refresher: neither runbook nor api2cart"),
    ("an unknown field", lambda e: e.update(colour="red"), "unknown field colour"),
    ("another app's entry", lambda e: e.update(app_key="otherapp01"), "App Key otherapp01, not the file's"),
]  # fmt: skip


@pytest.fixture
def exported(tmp_path: Path, stores: list[GrantStore]) -> tuple[Path, dict[str, Any], set[str]]:
    """A good export, its JSON, and every secret in it."""
    source = filled(stores, tmp_path / "a.db")
    path = tmp_path / "grants.json"
    export_grants(source.all(), path, scope=SCOPE, source=source.location)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["grants"].sort(key=lambda e: e["id_in_source"])
    secrets = {
        e[k] for e in document["grants"] for k in ("access_token", "refresh_token", "api2cart_store_key") if e[k]
    }
    return path, document, secrets


def refused(path: Path, secrets: set[str]) -> str:
    with pytest.raises(GrantsFileError) as caught:
        read_export(path)
    line = str(caught.value)
    assert "\n" not in line and str(path) in line and "What to do:" in line
    assert not [s for s in secrets if s in line + repr(caught.value)]
    return line


@pytest.mark.parametrize(("case", "damage", "said"), DAMAGE, ids=[c[0] for c in DAMAGE])
def test_a_damaged_entry_is_one_line_naming_it_and_no_token(
    exported: tuple[Path, dict[str, Any], set[str]], case: str, damage: Any, said: str
) -> None:
    path, document, secrets = exported
    damage(document["grants"][0])
    bad = path.with_name("bad.json")
    bad.write_text(json.dumps(document), encoding="utf-8")
    assert said in refused(bad, secrets)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('{"format": "tiktok-runbook-grants", "version": 1, "grants": [{"refresh_token": "TTP_cut', "not valid JSON"),
        ("[1, 2]", "JSON a list, not a grants export"),
        ('{"format": "something-else", "version": 1}', "not a grants export of this runbook"),
        ('{"format": "tiktok-runbook-grants", "version": 2}', "written by a newer runbook"),
        ('{"format": "tiktok-runbook-grants", "version": 1, "mode": "sandbox"}', 'the "exported_at" field is missing'),
        ("\xff\xfe not text", "not UTF-8 text"),
    ],
)
def test_a_file_that_is_no_export_is_one_line(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(text.encode("latin-1"))
    assert said in refused(path, {"TTP_cut"})


def test_two_entries_of_one_seller_are_refused(exported: tuple[Path, dict[str, Any], set[str]]) -> None:
    path, document, secrets = exported
    document["grants"][1]["open_id"] = document["grants"][0]["open_id"]
    path.with_name("twins.json").write_text(json.dumps(document), encoding="utf-8")
    assert "entries 1 and 2 have the same open_id" in refused(path.with_name("twins.json"), secrets)


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "none.json", set())


# --- the command line ----------------------------------------------------------------------------------


def project(folder: Path, extra: str = "") -> Cli:
    folder.mkdir()
    (folder / ".env").write_text(LOOPBACK_ANY_PORT + extra)
    return Cli(folder / ".env")


def file_secrets(path: Path) -> set[str]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {e[k] for e in document["grants"] for k in ("access_token", "refresh_token", "api2cart_store_key") if e[k]}


def test_export_then_import_at_the_command_line(cli: Cli, tmp_path: Path) -> None:
    cli("authorize", "--sandbox-approve")
    cli("authorize", "--sandbox-approve", "--sandbox-seller", "us")
    path = tmp_path / "out" / "grants.json"
    path.parent.mkdir()
    cli("sellers", "export", str(path), "--show-secrets", code=2)  # refused: stdout is no terminal
    assert not path.exists()
    said = cli("sellers", "export", str(path)).stdout
    assert "Exported 2 grants" in said and "mode 0600" in said and str(path) in said
    assert "move it only over a safe channel and delete it after importing" in said
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "exists already" in cli("sellers", "export", str(path), code=2).stderr

    other = project(tmp_path / "other")
    other.secrets |= file_secrets(path)
    done = other.json("sellers", "import", str(path))
    assert [s["seller"] for s in done["added"]] == ["Sandbox UK Store", "Sandbox US Store"]
    assert (done["updated"], done["kept"], done["file_readable_by_others"]) == ([], [], False)
    assert done["source"] == str(grants_path_for(cli.env_file))
    text = other("sellers", "import", str(path)).stdout
    assert "0 added, 0 updated, 2 kept" in text and "two stores holding the same grants" in text
    assert {grant_values(g)["refresh_token"] for g in grants(other.env_file)} == {
        grant_values(g)["refresh_token"] for g in grants(cli.env_file)
    }
    other.assert_no_secret_shown()


def test_through_postgresql_at_the_command_line(cli: Cli, tmp_path: Path, postgres_url: str) -> None:
    """The file beside .env -> the team's PostgreSQL database -> another project's file: same grants."""
    cli("authorize", "--sandbox-approve")
    cli("authorize", "--sandbox-approve", "--sandbox-seller", "us")
    cli("shops")
    shared = project(tmp_path / "shared", f"TIKTOK_GRANTS_URL={postgres_url}\n")
    back = project(tmp_path / "back")
    to_pg, from_pg = tmp_path / "to-pg.json", tmp_path / "from-pg.json"
    cli("sellers", "export", str(to_pg))
    for runner in (shared, back):
        runner.secrets |= file_secrets(to_pg)
    assert len(shared.json("sellers", "import", str(to_pg))["added"]) == 2
    assert len(shared.json("sellers")["sellers"]) == 2  # the sellers are in PostgreSQL now
    assert shared.json("sellers", "export", str(from_pg))["store"] == str(StoreUrl.parse(postgres_url))
    assert len(back.json("sellers", "import", str(from_pg))["added"]) == 2
    assert [grant_values(g) for g in grants(back.env_file)] == [grant_values(g) for g in grants(cli.env_file)]
    shared.assert_no_secret_shown()
    back.assert_no_secret_shown()


def test_the_command_line_says_what_is_wrong_in_one_line(cli: Cli, tmp_path: Path) -> None:
    cli("authorize", "--sandbox-approve")
    path = tmp_path / "grants.json"
    cli("sellers", "export", str(path))
    document = json.loads(path.read_text(encoding="utf-8"))
    del document["grants"][0]["refresh_token"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    cli.secrets |= file_secrets(path)
    said = cli("sellers", "import", str(bad), code=2)
    errors = [line for line in said.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "entry 1 ('Sandbox UK Store'): refresh_token is missing" in errors[0]
    error = cli.json("sellers", "import", str(bad), code=2)["error"]
    assert error["title"] == "Grants file not usable" and error["problems"][0]["field"] == str(bad)


def test_a_live_project_refuses_a_sandbox_file_and_says_how_to_switch(cli: Cli, tmp_path: Path) -> None:
    cli("authorize", "--sandbox-approve")
    path = tmp_path / "grants.json"
    cli("sellers", "export", str(path))
    live = project(
        tmp_path / "live",
        "TIKTOK_MODE=live\nTIKTOK_APP_KEY=abcd1234efgh5\nTIKTOK_APP_SECRET=0123456789abcdef0123456789abcdef01234567\n"
        "TIKTOK_SERVICE_ID=7000000000000000099\n",
    )
    live.secrets |= file_secrets(path)
    said = live("sellers", "import", str(path), code=2).stderr
    assert "nothing was imported" in said and "TIKTOK_MODE=sandbox" in said
    assert grants(live.env_file) == []
    live.assert_no_secret_shown()


def test_a_file_others_can_read_is_imported_with_a_warning(cli: Cli, tmp_path: Path) -> None:
    cli("authorize", "--sandbox-approve")
    path = tmp_path / "grants.json"
    cli("sellers", "export", str(path))
    path.chmod(0o644)
    other = project(tmp_path / "other")
    other.secrets |= file_secrets(path)
    said = other("sellers", "import", str(path), "--json")
    assert json.loads(said.stdout)["file_readable_by_others"] is True
    assert "other users of this machine can read" in said.stderr and "0644" in said.stderr
    other.assert_no_secret_shown()


def test_damaged_sellers_are_named_on_export(cli: Cli, tmp_path: Path) -> None:
    cli("authorize", "--sandbox-approve")
    cli("authorize", "--sandbox-approve", "--sandbox-seller", "us")
    db = sqlite3.connect(grants_path_for(cli.env_file))
    try:
        with db:
            db.execute("UPDATE grants SET shops = '{x' WHERE id = 1")
            db.execute("UPDATE grants SET refresh_token = '' WHERE id = 2")
    finally:
        db.close()
    done = cli.json("sellers", "export", str(tmp_path / "grants.json"))
    assert done["exported"] == 1
    assert [(s["id"], s["problem"]) for s in done["left_out"]] == [
        (2, "its row in the grant database is damaged (refresh_token: empty)")
    ]
    assert [(s["id"], s["repair"]) for s in done["damaged"]] == [(1, ["shops --seller #1"])]
    assert len(read_export(tmp_path / "grants.json").grants) == 1


def test_nothing_to_export_writes_no_file(cli: Cli, tmp_path: Path) -> None:
    said = cli("sellers", "export", str(tmp_path / "grants.json"), code=2).stderr
    assert "no seller of sandbox mode" in said and not (tmp_path / "grants.json").exists()


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("export",), "sellers export needs a FILE"),
        (("import",), "sellers import needs a FILE"),
        (("list", "grants.json"), "a FILE goes with `sellers export` and `sellers import`"),
        (("import-env", "grants.json"), "not with `sellers import-env`"),
        (("export", "grants.json", "--to", "runbook"), "--to goes with `sellers refresher`"),
        (("export", "grants.json", "--seller", "#1"), "--seller does not go with `sellers export`"),
        (("import", "grants.json", "--expiring", "2"), "--expiring does not go with `sellers import`"),
    ],
)
def test_file_goes_with_export_and_import_only(cli: Cli, args: tuple[str, ...], said: str) -> None:
    assert said in cli("sellers", *args, code=2).stderr


def test_the_help_tells_how_to_move_grants(cli: Cli) -> None:
    text = cli("sellers", "--help").stdout
    assert "export grants.json" in text and "import grants.json" in text and "safe" in text
