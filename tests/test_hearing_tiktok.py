"""TikTok's webhooks applied to the sellers' grants, and the keep-alive a scheduler runs.

Notices (TikTok Shop Partner Center, "Webhooks overview" and the topic pages "6 Seller
deauthorization", "7 Upcoming authorization expiration", "20 Creator deauthorization") are keyed by
``shop_id`` (a creator's by ``creator_open_id``) and may arrive more than once: each is applied once
per ``tts_notification_id``.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from tiktok_helpers import samples
from tiktok_helpers.grant_schema import APPLICATION_ID, MIGRATIONS
from tiktok_helpers.grant_sqlite import exclusive_lock_path
from tiktok_helpers.grants import GrantStore, Refresher, grants_path_for
from tiktok_helpers.openapi import Shop
from tiktok_helpers.signing import webhook_signature
from tiktok_helpers.webhooks import Notice

from .cli_in_process import LOOPBACK_ANY_PORT, Cli
from .saved import SANDBOX_SCOPE, grants
from .test_cli import cli_environment

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
SHOP = Shop(id="7494000000000000555", name="Shop", region="GB", seller_type="LOCAL", cipher="c1", code="GBX")


def _body(kind: int, notification_id: str, *, shop_id: str = "", sent: datetime | None = None, **data: object) -> bytes:
    envelope: dict[str, object] = {"type": kind, "tts_notification_id": notification_id}
    if shop_id:
        envelope["shop_id"] = shop_id
    envelope["timestamp"] = int((sent or datetime.now(timezone.utc)).timestamp())
    envelope["data"] = data
    return json.dumps(envelope, separators=(",", ":")).encode()


def _sign(body: bytes) -> str:
    return webhook_signature(samples.SANDBOX_APP_KEY, samples.SANDBOX_APP_SECRET, body)


def _notice(kind: int, notification_id: str, *, shop_id: str = SHOP.id, creator: str = "", sent: datetime = NOW,
            expires: datetime | None = None) -> Notice:  # fmt: skip
    return Notice(kind, notification_id, shop_id=shop_id, creator_open_id=creator, timestamp=sent, expires_at=expires)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[GrantStore]:
    """A grant store with one seller, authorized at 10:00 on NOW's day, with shop SHOP."""
    from tiktok_helpers.tokens import TokenSet

    clock = [NOW - timedelta(hours=2)]
    grants_store = GrantStore(tmp_path / "g.db", scope=SANDBOX_SCOPE, clock=lambda: clock[0])
    tokens = TokenSet.from_data(
        {
            "access_token": "TTP_a1", "access_token_expire_in": int((NOW + timedelta(days=7)).timestamp()),
            "refresh_token": "TTP_r1", "refresh_token_expire_in": int((NOW + timedelta(days=365)).timestamp()),
            "open_id": "open-1", "seller_name": "Shop One", "seller_base_region": "GB", "user_type": 0,
        }
    )  # fmt: skip
    grant = grants_store.save_tokens(tokens)
    grants_store.save_shops(grant.id, [SHOP])
    clock[0] = NOW
    yield grants_store
    grants_store.close()


# --- applying notices to grants ---------------------------------------------------------------------


def test_type_6_marks_the_seller_of_that_shop_once(store: GrantStore) -> None:
    first = store.record_notice(_notice(6, "n-1"))
    assert not first.duplicate and len(first.grant_ids) == 1
    assert "removed the app" in first.outcome
    grant = store.all()[0]
    assert grant.removed_at == NOW

    again = store.record_notice(_notice(6, "n-1", sent=NOW + timedelta(hours=1)))
    assert again.duplicate and again.grant_ids == ()
    assert again.outcome.startswith("already heard")
    assert store.all()[0].removed_at == NOW  # the second delivery changed nothing


def test_type_7_records_the_end_and_type_20_finds_a_creator_by_open_id(store: GrantStore) -> None:
    end = NOW + timedelta(days=12)
    store.record_notice(_notice(7, "n-7", expires=end))
    grant = store.all()[0]
    assert grant.authorization_ends_at == end and grant.expiry_notice_at == NOW
    assert grant.authorization_end == end  # earlier than the refresh token's own end
    assert grant.removed_at is None

    result = store.record_notice(_notice(20, "n-20", shop_id="", creator="open-1"))
    assert result.grant_ids == (grant.id,)
    assert store.all()[0].removed_at == NOW


def test_unknown_types_and_unknown_shops_are_kept_and_change_nothing(store: GrantStore) -> None:
    kept = store.record_notice(_notice(1, "order-1"))
    assert kept.grant_ids == () and "acts only on types 6, 7 and 20" in kept.outcome
    stranger = store.record_notice(_notice(6, "n-x", shop_id="999"))
    assert stranger.grant_ids == () and "no seller with shop 999" in stranger.outcome
    assert store.all()[0].removed_at is None
    # a shop id that is only part of another id matches nothing
    assert store.record_notice(_notice(6, "n-y", shop_id=SHOP.id[:-1])).grant_ids == ()


def test_the_shop_index_follows_the_grants_shops(store: GrantStore) -> None:
    grant = store.all()[0]
    other = Shop(id="7494000000000000777", name="Other", region="GB", seller_type="LOCAL", cipher="c2", code="GBY")
    store.save_shops(grant.id, [other])  # the seller's shops changed: SHOP is no longer theirs
    assert store.record_notice(_notice(6, "n-old-shop")).grant_ids == ()
    assert store.record_notice(_notice(6, "n-new-shop", shop_id=other.id)).grant_ids == (grant.id,)


def test_a_notice_sent_before_the_latest_authorization_changes_nothing(store: GrantStore) -> None:
    late = store.record_notice(_notice(6, "n-old", sent=NOW - timedelta(hours=3)))  # authorized at NOW - 2 h
    assert late.grant_ids == () and "authorized again after this notice was sent" in late.outcome
    assert store.all()[0].removed_at is None


def test_a_new_pair_from_tiktok_clears_the_removal(store: GrantStore) -> None:
    from tiktok_helpers.tokens import TokenSet

    store.record_notice(_notice(6, "n-1"))
    store.record_notice(_notice(7, "n-2", expires=NOW + timedelta(days=3)))
    grant = store.all()[0]
    tokens = TokenSet.from_data(
        {"access_token": "TTP_a2", "access_token_expire_in": 2_000_000_000, "refresh_token": "TTP_r2",
         "refresh_token_expire_in": 2_100_000_000, "open_id": "open-1"}
    )  # fmt: skip
    refreshed = store.save_tokens(tokens, grant_id=grant.id, kind="refreshed")
    assert refreshed.removed_at is None  # TikTok answered: the app is not removed
    assert refreshed.authorization_ends_at is not None  # a refresh does not move the authorization's end
    again = store.save_tokens(tokens)  # authorized again
    assert again.authorization_ends_at is None and again.expiry_notice_at is None


def test_a_version_2_file_gives_sellers_with_a_store_to_api2cart(tmp_path: Path) -> None:
    path = tmp_path / "old.grants.db"
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:2]:
        db.executescript(step)
    shops = json.dumps(
        [{"id": SHOP.id, "name": "S", "region": "GB", "seller_type": "LOCAL", "cipher": "c", "code": "X"}]
    )
    db.execute(
        "INSERT INTO grants (open_id, access_token, refresh_token, authorized_at, mode, app_key, api2cart_store_key, "
        "shops) VALUES ('a', 'TTP_a', 'TTP_r', 1, 'sandbox', ?, 'storekey1', '[]'), "
        "('b', 'TTP_b', 'TTP_s', 2, 'sandbox', ?, '', ?)",
        (samples.SANDBOX_APP_KEY, samples.SANDBOX_APP_KEY, shops),
    )
    db.execute(f"PRAGMA application_id={APPLICATION_ID}")
    db.execute("PRAGMA user_version=2")
    db.commit()
    db.close()
    store = GrantStore(path, scope=SANDBOX_SCOPE)
    try:
        by_open_id = {g.open_id: g for g in store.all()}
        found = store.record_notice(_notice(6, "n-upgraded")).grant_ids  # the upgrade indexed the shops
    finally:
        store.close()
    assert found == (by_open_id["b"].id,)
    assert by_open_id["a"].refresher is Refresher.API2CART and by_open_id["a"].refresher_why
    assert by_open_id["b"].refresher is Refresher.RUNBOOK
    assert not by_open_id["a"].damage and not by_open_id["b"].damage


# --- at the command line ----------------------------------------------------------------------------


def _save(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "delivery.json"
    path.write_bytes(body)
    return path


def test_a_verified_type_6_shows_the_seller_as_removed_everywhere(cli: Cli, tmp_path: Path) -> None:
    cli("authorize", "--sandbox-approve")
    grant = grants(cli.env_file)[0]
    shop_id = grant.shops[0].id
    body = _body(6, "7380066284010030001", shop_id=shop_id, message=f"Shop_id {shop_id} is deauthorized")
    delivery = _save(tmp_path, body)

    bad = cli.json("webhooks", "verify", str(delivery), "--signature", "0" * 64, code=1)
    assert bad["verified"] is False
    assert cli.json("sellers")["sellers"][0]["removed_at"] is None

    done = cli.json("webhooks", "verify", str(delivery), "--signature", _sign(body), "--apply")
    assert done["verified"] is True and "removed the app" in done["applied"]
    seller = cli.json("sellers")["sellers"][0]
    assert seller["removed_at"] is not None
    assert "removed the app" in seller["attention"]
    assert cli.json("refresh", "--all")["outcomes"][0]["status"] == "skipped"

    again = cli.json("webhooks", "verify", str(delivery), "--signature", _sign(body), "--apply")
    assert again["duplicate"] is True

    report = cli.json("keepalive", code=1)
    assert report["needs_person"] is True
    assert [a["seller"] for a in report["attention"]] == [grant.label]

    # the seller authorizes again: all is well
    cli("authorize", "--sandbox-approve")
    assert cli.json("sellers")["sellers"][0]["removed_at"] is None
    assert cli.json("keepalive")["needs_person"] is False


def test_keepalive_refreshes_what_is_due_checks_api2cart_and_reports_endings(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve", "--sandbox-seller", "us")
    cli("authorize", "--sandbox-approve")
    cli("api2cart", "add")  # the newest seller's store: API2Cart refreshes them
    quiet = cli.json("keepalive")
    assert quiet["ok"] is True and quiet["refreshed"] == 0  # nothing due within 2 days
    assert [s["ok"] for s in quiet["stores"]] == [True]

    due = cli.json("keepalive", "--due-within", "8")
    assert due["refreshed"] == 1 and due["skipped"] == 1  # the API2Cart seller is left alone
    assert cli.json("api2cart", "validate")["validated"] is True

    ending = cli.json("keepalive", "--ending-within", "400", code=1)  # the sandbox grants last 365 days
    assert {a["seller"] for a in ending["attention"]} == {"Sandbox UK Store", "Sandbox US Store"}
    assert all("ask the seller to authorize again" in a["why"] for a in ending["attention"])
    assert "A person is needed" in cli("keepalive", "--ending-within", "400", code=1).stdout


def test_two_keepalive_passes_never_overlap(cli: Cli) -> None:
    cli("authorize", "--sandbox-approve")
    lock = exclusive_lock_path(grants_path_for(cli.env_file), "keepalive")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, b"4242", 0)
        busy = cli.json("keepalive", "--due-within", "8")
    finally:
        os.close(fd)
    assert busy["busy"] == "another keep-alive is running (process 4242)" and busy["refreshed"] == 0
    assert cli.json("keepalive", "--due-within", "8")["refreshed"] == 1  # the lock is free again


def test_webhooks_serve_answers_200_401_400_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    process = subprocess.Popen(
        [sys.executable, "-m", "tiktok_helpers", "--env-file", str(env), "webhooks", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_environment(),
        cwd=tmp_path,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "Listening for TikTok Shop webhooks" in line, line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        body = _body(6, "n-serve", shop_id="123", message="Shop_id 123 is deauthorized")
        with httpx.Client(timeout=10) as client:
            ok = client.post(
                url, content=body, headers={"Authorization": _sign(body), "Content-Type": "application/json"}
            )
            forged = client.post(url, content=body, headers={"Authorization": "f" * 64})
            missing = client.post(url, content=body)
            garbage = b"not json"
            not_json = client.post(url, content=garbage, headers={"Authorization": _sign(garbage)})
            get = client.get(url)
        assert (ok.status_code, ok.content) == (200, b"")
        assert (forged.status_code, missing.status_code, not_json.status_code, get.status_code) == (401, 401, 400, 405)
        process.terminate()
        _, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Stopped." in err
    assert _sign(body) not in err and "n-serve" in err  # the log names the notice, never the signature


def test_the_sandbox_tells_the_runbook_a_sample_seller_removed_the_app(tmp_path: Path) -> None:
    from tiktok_helpers.session import open_session

    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    with open_session(env, environ={}) as session:
        session.authorize(sandbox_decision="authorize", sandbox_seller="us")
        session.authorize(sandbox_decision="authorize", sandbox_seller="global")
        receiver = session.listen_for_webhooks()
        try:
            assert session.sandbox is not None and session.sandbox.webhook_url == receiver.url
            revoked = session.sandbox.deauthorize("us")  # delivered at once, signed with the sample app's secret
        finally:
            receiver.stop()
        by_name = {g.seller_name: g for g in session.sellers()}
    assert revoked
    assert by_name["Sandbox US Store"].removed_at is not None
    assert by_name["Sandbox UK Store"].removed_at is None
