"""The webhooks the sandbox sends, received by a small HTTP server of the test's own.

Facts checked (TikTok Shop Partner Center, "Webhooks overview", "Configuration guide", topic pages
"6 Seller deauthorization", "7 Upcoming authorization expiration", "20 Creator deauthorization"):
a POST with a JSON body, signed in ``Authorization`` (App Key + raw body, HMAC-SHA256 with the App
Secret, lowercase hex); the envelopes' fields; retries after 2 min, 30 min, 3 h and 12 h and none
after the 4th retry fails; type 7 from 30 days before the authorization ends, once a day. Time is a
FakeClock, and each pass of the sender is ``deliver_due()``: nothing here waits for a duration.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tiktok_helpers.samples import SANDBOX_APP_KEY, SANDBOX_APP_SECRET
from tiktok_helpers.sandbox import FakeClock, Sandbox, SandboxState
from tiktok_helpers.sandbox.command import main
from tiktok_helpers.sandbox.schema import SCHEMA_VERSION
from tiktok_helpers.sandbox.state import Revocation
from tiktok_helpers.sandbox.webhooks import RETRY_DELAYS
from tiktok_helpers.signing import sign, webhook_signature

START = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
DAY = 24 * 3600
YEAR = 365 * DAY
UK_SHOPS = {"7494000000000000101", "7494000000000000102"}  # the sample seller "global"
US_SHOP = "7494000000000000201"


# ---------------------------------------------------------------------------- the receiver
@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # the sandbox clock when it arrived

    @property
    def envelope(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.body)
        return decoded


class Receiver:
    """An app's webhook endpoint: records every request; answers ``status`` (401 to a bad signature,
    as a receiver that checks it does), with an empty body."""

    def __init__(self) -> None:
        self.status = 200
        self.clock: FakeClock | None = None
        self.received: list[Received] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = receiver.clock.now() if receiver.clock is not None else time.time()
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(Received(self.command, self.path, headers, body, at))
                good = headers.get("authorization") == webhook_signature(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, body)
                self.send_response(receiver.status if good else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.arrived.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/tiktok/webhook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def clock(receiver: Receiver) -> FakeClock:
    receiver.clock = FakeClock(START)
    return receiver.clock


def authorize(state: SandboxState, seller: str = "global", user_type: int = 0) -> dict[str, Any]:
    code = state.issue_code(SANDBOX_APP_KEY, seller, user_type)
    params = {"app_key": SANDBOX_APP_KEY, "app_secret": SANDBOX_APP_SECRET, "auth_code": code}
    return state.token_get({**params, "grant_type": "authorized_code"})


def webhook_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("tiktok-sandbox-webhooks")]


# ---------------------------------------------------------------------------- type 6 and 20
def test_seller_deauthorization_is_delivered_signed_with_the_documented_envelope(
    receiver: Receiver, clock: FakeClock
) -> None:
    sb = Sandbox(clock=clock, webhook_url=receiver.url)  # not started: no sender thread, only this call
    authorize(sb.state, "global")
    assert sb.deauthorize("Sandbox UK Store") == Revocation(grants=1, queued=2, delivered=2)
    assert len(receiver.received) == 2 and sb.state.webhooks.outbox.pending() == []
    for got in receiver.received:
        assert (got.method, got.path) == ("POST", "/tiktok/webhook")
        assert got.headers["content-type"] == "application/json"
        assert got.headers["authorization"] == webhook_signature(SANDBOX_APP_KEY, SANDBOX_APP_SECRET, got.body)
        assert got.body == json.dumps(got.envelope, separators=(",", ":")).encode()  # compact, as signed
        envelope = got.envelope
        assert set(envelope) == {"type", "tts_notification_id", "shop_id", "timestamp", "data"}
        assert envelope["type"] == 6 and envelope["timestamp"] == int(START)
        notification_id = envelope["tts_notification_id"]
        assert isinstance(notification_id, str) and len(notification_id) == 19 and notification_id.isdigit()
        shop_id = envelope["shop_id"]
        assert envelope["data"] == {"message": f"Shop_id {shop_id} is deauthorized from your APP by merchant."}
    assert {got.envelope["shop_id"] for got in receiver.received} == UK_SHOPS
    assert len({got.envelope["tts_notification_id"] for got in receiver.received}) == 2
    assert sb.deauthorize("global") == Revocation(0, 0, 0)  # nothing left to revoke, nothing to say


def test_creator_deauthorization_is_type_20_with_the_creator_open_id(receiver: Receiver, clock: FakeClock) -> None:
    state = SandboxState(clock=clock, webhook_url=receiver.url)
    creator = authorize(state, "us", user_type=1)
    assert state.remove_app("us") == Revocation(1, 1, 1)
    [got] = receiver.received
    assert got.envelope == {
        "type": 20,
        "tts_notification_id": got.envelope["tts_notification_id"],
        "creator_open_id": creator["open_id"],
        "timestamp": int(START),
        "data": {"cancel_time": str(int(START))},
    }


# ---------------------------------------------------------------------------- retries
def test_a_failing_receiver_gets_exactly_four_retries_at_the_documented_delays(
    receiver: Receiver, clock: FakeClock
) -> None:
    receiver.status = 500
    state = SandboxState(clock=clock, webhook_url=receiver.url)
    authorize(state, "us")
    assert state.remove_app("us") == Revocation(1, 1, 0)  # the first attempt, at once, failed
    attempts = [START]
    for delay in RETRY_DELAYS:  # 2 min, 30 min, 3 h, 12 h, each from the previous attempt
        clock.advance(delay - 1)
        assert state.deliver_due() == 0
        assert len(receiver.received) == len(attempts)  # not yet
        clock.advance(1)
        assert state.deliver_due() == 0
        attempts.append(clock.now())
        assert [got.at for got in receiver.received] == attempts
    assert state.webhooks.outbox.pending() == []  # dropped after the 4th retry failed
    clock.advance(30 * DAY)
    assert state.deliver_due() == 0 and len(receiver.received) == 5
    assert len({got.body for got in receiver.received}) == 1  # the same bytes, the same signature
    assert len({got.headers["authorization"] for got in receiver.received}) == 1


def test_each_delay_counts_from_the_previous_attempt(receiver: Receiver, clock: FakeClock) -> None:
    receiver.status = 503
    state = SandboxState(clock=clock, webhook_url=receiver.url)
    authorize(state, "us")
    state.remove_app("us")
    clock.advance(RETRY_DELAYS[0] + 3600)  # the sender comes late: the retry happens now
    state.deliver_due()
    late = clock.now()
    [pending] = state.webhooks.outbox.pending()
    assert pending.attempts == 2 and pending.next_at == late + RETRY_DELAYS[1]
    receiver.status = 200
    clock.set(late + RETRY_DELAYS[1] - 1)
    assert state.deliver_due() == 0
    clock.advance(1)
    assert state.deliver_due() == 1  # taken: no more attempts
    assert state.webhooks.outbox.pending() == []
    clock.advance(YEAR // 2)
    state.deliver_due()
    assert len(receiver.received) == 3


def test_a_bad_signature_answer_counts_as_a_failure(receiver: Receiver, clock: FakeClock) -> None:
    state = SandboxState(clock=clock, webhook_url=receiver.url)
    authorize(state, "us")
    state.apps[SANDBOX_APP_KEY].app_secret = "not-the-secret-the-receiver-knows"  # it signs with another secret
    assert state.remove_app("us").delivered == 0  # the receiver answered 401
    assert [d.attempts for d in state.webhooks.outbox.pending()] == [1]


# ---------------------------------------------------------------------------- type 7
def test_upcoming_expiration_is_queued_once_a_day_within_30_days_and_not_before(
    receiver: Receiver, clock: FakeClock
) -> None:
    state = SandboxState(clock=clock, webhook_url=receiver.url)
    authorize(state, "us")
    end = int(START) + YEAR
    clock.set(end - 30 * DAY - 1)
    assert state.deliver_due() == 0 and receiver.received == []  # not before the 30 days
    clock.set(end - 30 * DAY)
    assert state.deliver_due() == 1  # as soon as the grant enters the window
    assert state.deliver_due() == 0  # once a day
    clock.advance(3600)
    assert state.deliver_due() == 0
    [first] = receiver.received
    assert first.envelope["type"] == 7 and first.envelope["shop_id"] == US_SHOP
    assert set(first.envelope) == {"type", "tts_notification_id", "shop_id", "timestamp", "data"}
    assert first.envelope["timestamp"] == end - 30 * DAY
    assert first.envelope["data"] == {
        "message": f"Authorization of shop_id {US_SHOP} is expiring in 30 days. Please direct the merchant to "
        "re-authorize.",
        "expiration_time": str(end),  # a string, as documented
    }
    days = 1
    while (midnight := (int(clock.now()) // DAY + 1) * DAY) < end:
        clock.set(midnight - 1)
        assert state.deliver_due() == 0  # nothing before 0:00
        clock.set(midnight)
        assert state.deliver_due() == 1  # at 0:00 (UTC)
        clock.advance(12 * 3600)
        assert state.deliver_due() == 0
        days += 1
    assert days == len(receiver.received) == 31  # day 30 ... the last day
    assert [got.envelope["data"]["message"].split(" in ")[1].split(" days")[0] for got in receiver.received][1:3] == [
        "29",
        "28",
    ]
    clock.set(end + 1)
    assert state.deliver_due() == 0  # the authorization has ended: no more


def test_a_newer_authorization_stops_the_expiration_notices(receiver: Receiver, clock: FakeClock) -> None:
    state = SandboxState(clock=clock, webhook_url=receiver.url)
    authorize(state, "us")
    clock.set(START + YEAR - 10 * DAY)
    assert state.deliver_due() == 1
    authorize(state, "us")  # the seller authorizes again: a grant with a later end
    clock.advance(DAY)
    assert state.deliver_due() == 0
    clock.advance(9 * DAY)
    assert state.deliver_due() == 0 and len(receiver.received) == 1


def test_two_sandboxes_on_one_state_file_queue_each_notice_once(
    receiver: Receiver, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    one = SandboxState(clock=clock, state_path=path, webhook_url=receiver.url)
    two = SandboxState(clock=clock, state_path=path, webhook_url=receiver.url)
    authorize(one, "us")
    clock.set(START + YEAR - 5 * DAY)
    assert one.deliver_due() + two.deliver_due() == 1
    # a claimed delivery is not taken by the other sandbox while the claim holds
    receiver.status = 500
    two.tiktok.deauthorize("us")  # queued, not attempted
    claimed = one.webhooks.outbox.claim_next(clock.now())
    assert claimed is not None and two.webhooks.outbox.claim_next(clock.now()) is None
    assert two.deliver_due() == 0 and len(receiver.received) == 1


# ---------------------------------------------------------------------------- no URL, the thread
def test_without_a_url_nothing_is_queued_or_sent_and_no_thread_runs(receiver: Receiver, clock: FakeClock) -> None:
    with Sandbox(clock=clock) as sb:
        assert sb.webhook_url is None and webhook_threads() == []
        authorize(sb.state, "global")
        assert sb.deauthorize("global") == Revocation(1, 0, 0)
        authorize(sb.state, "us")
        clock.set(START + YEAR - 5 * DAY)
        assert sb.deliver_due() == 0 and sb.state.webhooks.outbox.pending() == []
        assert webhook_threads() == []
        sb.webhook_url = receiver.url  # set while running: the sender starts
        assert len(webhook_threads()) == 1
        sb.webhook_url = None
        assert webhook_threads() == []
    assert receiver.received == []


def test_the_sender_thread_delivers_by_itself_and_stops_with_the_sandbox(receiver: Receiver, clock: FakeClock) -> None:
    with Sandbox(clock=clock, webhook_url=receiver.url) as sb:
        assert len(webhook_threads()) == 1
        authorize(sb.state, "us")
        sb.state.tiktok.deauthorize("us")  # queued only: the thread's next pass sends it
        assert receiver.arrived.wait(timeout=10)
        assert receiver.received[0].envelope["shop_id"] == US_SHOP
    assert webhook_threads() == []


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "not a url", "http://", "/relative", 5])
def test_the_webhook_url_is_validated(url: Any) -> None:
    with pytest.raises(ValueError, match="webhook URL"):
        Sandbox(webhook_url=url)
    sb = Sandbox()
    with pytest.raises(ValueError, match="webhook URL"):
        sb.webhook_url = url
    assert sb.webhook_url is None


def test_the_seller_deauthorized_scenario_sends_the_webhook(receiver: Receiver, clock: FakeClock) -> None:
    with Sandbox(clock=clock, scenario="seller-deauthorized") as sb:
        sb.state.webhook_url = receiver.url  # on the state: no sender thread, deliver_due is the only pass
        access = authorize(sb.state, "global")["access_token"]
        params = {"app_key": SANDBOX_APP_KEY, "timestamp": str(int(START))}
        params["sign"] = sign("/authorization/202309/shops", params, SANDBOX_APP_SECRET)
        reply = httpx.get(
            f"{sb.base_url}/authorization/202309/shops", params=params, headers={"x-tts-access-token": access}
        )
        assert reply.json()["code"] == 105001
        assert sb.deliver_due() == 2
    assert {got.envelope["shop_id"] for got in receiver.received} == UK_SHOPS
    assert {got.envelope["type"] for got in receiver.received} == {6}


# ---------------------------------------------------------------------------- sandbox --deauthorize
def test_the_deauthorize_command(receiver: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "state.db"
    authorize(SandboxState(state_path=path), "global")
    assert main(["--state", str(path), "--webhook-url", receiver.url, "--deauthorize", "global"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "Sandbox UK Store (global) removed the app: 1 authorization revoked.",
        f"2 of 2 webhook notice(s) delivered to {receiver.url}.",
    ]
    assert {got.envelope["shop_id"] for got in receiver.received} == UK_SHOPS
    # a receiver that is down: the notice stays queued for a running sandbox on the same file
    receiver.status = 500
    authorize(SandboxState(state_path=path), "us")
    assert main(["--state", str(path), "--webhook-url", receiver.url, "--deauthorize", "Sandbox US Store"]) == 0
    out = capsys.readouterr().out
    assert "0 of 1 webhook notice(s) delivered" in out and "queued" in out and "retries" in out
    receiver.status = 200
    running = SandboxState(clock=FakeClock(time.time() + RETRY_DELAYS[0] + 60), state_path=path)
    running.webhook_url = receiver.url
    assert running.deliver_due() == 1
    assert receiver.received[-1].envelope["shop_id"] == US_SHOP
    # without a URL: revoked, nothing sent
    authorize(SandboxState(state_path=path), "sg")
    assert main(["--state", str(path), "--deauthorize", "sg"]) == 0
    assert "no notice was queued or sent" in capsys.readouterr().out
    assert len(receiver.received) == 4


def test_the_deauthorize_command_refuses_an_unknown_seller_or_no_state(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--state", "unused.db", "--deauthorize", "mars"])
    assert info.value.code == 2 and "no sample seller 'mars'" in capsys.readouterr().err
    assert main(["--deauthorize", "global"]) == 2
    assert "--state" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the sellers page
def test_the_sellers_page_removes_the_app_only_from_its_own_form(receiver: Receiver, clock: FakeClock) -> None:
    with Sandbox(clock=clock) as sb, httpx.Client(base_url=sb.base_url, timeout=5) as client:
        sb.state.webhook_url = receiver.url  # on the state: no sender thread, the page's attempt is the only one
        authorize(sb.state, "global")
        page = client.get("/sandbox/sellers")
        assert page.status_code == 200 and page.text.count(">Remove the app</button>") == 3
        token = sb.state.page_token
        assert f'name="form_token" value="{token}"' in page.text
        form = {"seller": "global", "decision": "remove"}
        assert client.post("/sandbox/sellers", data=form).status_code == 403  # no token: a cross-site post
        assert client.post("/sandbox/sellers", data={**form, "form_token": "guess"}).status_code == 403
        elsewhere = {"Origin": "http://evil.example"}
        assert client.post("/sandbox/sellers", data={**form, "form_token": token}, headers=elsewhere).status_code == 403
        assert len(sb.state.grants) == 1 and receiver.received == []  # nothing happened
        done = client.post("/sandbox/sellers", data={**form, "form_token": token}, headers={"Origin": sb.base_url})
        assert done.status_code == 200
        assert "Sandbox UK Store removed the app: 1 authorization revoked." in done.text
        assert f"2 of 2 webhook notice(s) delivered to {receiver.url}." in done.text
        assert sb.state.grants == [] and len(receiver.received) == 2
        unknown = client.post("/sandbox/sellers", data={"seller": "mars", "form_token": token})
        assert unknown.status_code == 400


# ---------------------------------------------------------------------------- the state file
def test_a_version_1_state_file_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    data = authorize(SandboxState(state_path=path), "us")
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE webhook_outbox")  # what a version 1 file is
    conn.execute("DROP TABLE expiry_notices")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    state = SandboxState(state_path=path)
    assert [g.refresh_token for g in state.grants] == [data["refresh_token"]]  # kept, not moved aside
    assert not path.with_name("state.db.corrupt").exists()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("SELECT COUNT(*) FROM webhook_outbox").fetchone() == (0,)
    finally:
        conn.close()
