"""The webhook receiver, over real HTTP on loopback (httpx against a :class:`Receiver` on port 0),
and its WSGI application called directly.

What TikTok expects of a receiver (TikTok Shop Partner Center docs, "Webhooks overview"): 200, or
401 when the signature fails, with an EMPTY body, within 3 seconds; otherwise it delivers again.
No fixed port and no duration compared with the clock: the slow ``apply`` waits on an Event.
"""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import httpx
import pytest

from tiktok_helpers.signing import webhook_signature
from tiktok_helpers.webhook_receiver import Receiver, make_app
from tiktok_helpers.webhooks import Notice, NoticeType, WebhookError, parse

APP_KEY = "6receivertestkey"
APP_SECRET = "receiver-test-app-secret-0123456789"
WAIT = 10.0  # seconds a test waits for an Event before it fails (never reached when all is well)


def notice_body(notification_id: str = "7327112393057371910", *, kind: int = 6) -> bytes:
    envelope = {
        "type": kind,
        "tts_notification_id": notification_id,
        "shop_id": "7494049642642441621",
        "timestamp": 1644412885,
        "data": {"message": "Shop_id {xxx} is deauthorized from your APP by merchant."},
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def signed(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": webhook_signature(APP_KEY, APP_SECRET, body)}


class Sink:
    """An ``apply`` that records every notice it is given."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self._lock = threading.Lock()

    def __call__(self, notice: Notice) -> str:
        with self._lock:
            self.notices.append(notice)
        return f"recorded {notice.notification_id}"


Serve = Callable[..., tuple[Receiver, list[str]]]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a receiver on a free loopback port: ``serve(apply, **make_app_options)`` -> (receiver, log lines)."""
    started: list[Receiver] = []

    def start(apply: Callable[[Notice], str], **options: Any) -> tuple[Receiver, list[str]]:
        lines: list[str] = []
        options.setdefault("deadline", WAIT)  # only the deadline test uses a short one
        app = make_app(app_key=APP_KEY, app_secret=APP_SECRET, apply=apply, log=lines.append, **options)
        receiver = Receiver(app).start()
        started.append(receiver)
        return receiver, lines

    yield start
    for receiver in started:
        receiver.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """One client for the file (safe across threads; each answer closes its connection)."""
    with httpx.Client(timeout=WAIT) as shared:
        yield shared


def post(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return client.post(url, content=body, headers=headers)


def test_a_signed_delivery_gets_200_with_an_empty_body_and_is_applied_once(client: httpx.Client, serve: Serve) -> None:
    sink = Sink()
    receiver, lines = serve(sink)
    assert receiver.url == f"http://127.0.0.1:{receiver.port}/"
    body = notice_body()
    response = post(client, f"{receiver.url}mounted/anywhere?x=1", body, signed(body))  # any path is accepted
    assert response.status_code == 200
    assert response.content == b"" and response.headers["content-length"] == "0"
    assert sink.notices == [parse(body)]
    assert sink.notices[0].kind is NoticeType.SELLER_DEAUTHORIZATION
    assert lines == [
        "webhook POST /mounted/anywhere 200 type=6 notification=7327112393057371910: recorded 7327112393057371910"
    ]


@pytest.mark.parametrize(
    "authorization",
    [None, "0" * 64, webhook_signature(APP_KEY, APP_SECRET, notice_body()).upper()],
    ids=["missing", "wrong", "uppercase"],
)
def test_a_missing_or_wrong_signature_gets_401_and_nothing_is_applied(
    client: httpx.Client, serve: Serve, authorization: str | None
) -> None:
    sink = Sink()
    receiver, lines = serve(sink)
    headers = {"Content-Type": "application/json"} | ({"Authorization": authorization} if authorization else {})
    response = post(client, receiver.url, notice_body(), headers)
    assert response.status_code == 401 and response.content == b""
    assert sink.notices == []
    assert len(lines) == 1 and " 401: " in lines[0]


def test_a_forged_body_that_is_not_json_gets_401_not_400(client: httpx.Client, serve: Serve) -> None:
    sink = Sink()
    receiver, _ = serve(sink)
    response = post(client, receiver.url, b"not json", {"Authorization": "0" * 64})
    assert response.status_code == 401 and sink.notices == []


def test_a_signed_body_that_is_not_a_notice_gets_400(client: httpx.Client, serve: Serve) -> None:
    sink = Sink()
    receiver, lines = serve(sink)
    response = post(client, receiver.url, b"not json", signed(b"not json"))
    assert response.status_code == 400 and response.content == b"" and sink.notices == []
    assert "400: the body is not JSON" in lines[0]


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD"])
def test_other_methods_get_405_with_allow_post(client: httpx.Client, serve: Serve, method: str) -> None:
    sink = Sink()
    receiver, _ = serve(sink)
    response = client.request(method, receiver.url)
    assert response.status_code == 405 and response.headers["allow"] == "POST" and response.content == b""
    assert sink.notices == []


def test_an_oversized_body_gets_413(client: httpx.Client, serve: Serve) -> None:
    sink = Sink()
    receiver, lines = serve(sink, max_body=1024)
    body = b" " * 100_000 + notice_body()  # JSON allows the spaces; signed, but too big
    response = post(client, receiver.url, body, signed(body))
    assert response.status_code == 413 and response.content == b"" and sink.notices == []
    assert "over the limit of 1024; not read" in lines[0]


def test_a_content_length_over_the_limit_gets_413_without_waiting_for_the_body(serve: Serve) -> None:
    receiver, _ = serve(Sink(), max_body=1024)
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=WAIT) as conn:
        conn.sendall(
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000\r\nAuthorization: x\r\n\r\n{}"
        )  # 2 of the million bytes announced: a receiver that read the body would wait for the rest
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert answer.startswith(b"HTTP/1.0 413 ") and b"content-length: 0" in head and answer.endswith(b"\r\n\r\n")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [(b"GARBAGE\r\n\r\n", b"400"), (b"GET / HTTP/9.9\r\n\r\n", b"505")],
    ids=["no-request-line", "http-9"],
)
def test_a_request_the_server_cannot_parse_gets_its_status_with_an_empty_body(
    serve: Serve, request_bytes: bytes, status: bytes
) -> None:
    receiver, lines = serve(Sink())
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=WAIT) as conn:
        conn.sendall(request_bytes)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 " + status + b" ") and answer.endswith(
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    assert lines == []  # never reached the application


def test_apply_raising_gets_500_and_one_log_line_without_a_traceback(client: httpx.Client, serve: Serve) -> None:
    def failing(notice: Notice) -> str:
        raise RuntimeError("the sink is down\nsecond line of detail")

    receiver, lines = serve(failing)
    body = notice_body()
    response = post(client, receiver.url, body, signed(body))
    assert response.status_code == 500 and response.content == b""
    assert lines == [
        "webhook POST / 500 type=6 notification=7327112393057371910: apply failed: RuntimeError: the sink is down"
    ]


def test_apply_slower_than_the_deadline_gets_503_and_finishes_later(client: httpx.Client) -> None:
    release, finished, late_line = threading.Event(), threading.Event(), threading.Event()
    lines: list[str] = []

    def slow(notice: Notice) -> str:
        release.wait(WAIT)
        finished.set()
        return "recorded late"

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("webhook late:"):
            late_line.set()

    app = make_app(app_key=APP_KEY, app_secret=APP_SECRET, apply=slow, deadline=0.2, log=log)
    with Receiver(app) as receiver:
        body = notice_body()
        response = post(client, receiver.url, body, signed(body))
        assert response.status_code == 503 and response.content == b""
        assert not finished.is_set()  # answered while apply still runs: it is released only now
        release.set()
        assert finished.wait(WAIT) and late_line.wait(WAIT)
    assert "503 type=6 notification=7327112393057371910: apply still running after 0.2 s" in lines[0]
    assert lines[1] == (
        "webhook late: type 6 SELLER_DEAUTHORIZATION for shop 7494049642642441621 "
        "(notification 7327112393057371910) finished after its 503, done: recorded late"
    )


def test_log_lines_never_hold_the_signature_the_secret_or_the_body(client: httpx.Client, serve: Serve) -> None:
    sink = Sink()
    receiver, lines = serve(sink)
    good = notice_body()
    sentinel = b'{"type":6,"tts_notification_id":"n","data":{"message":"BODY-SENTINEL"}}'
    not_json = b"BODY-SENTINEL not json"
    sent = [
        (good, signed(good)),
        (sentinel, signed(sentinel)),
        (sentinel, {"Authorization": "f" * 64}),
        (not_json, signed(not_json)),
    ]
    for body, headers in sent:
        post(client, receiver.url, body, headers)
    assert len(lines) == len(sent)
    secrets = {APP_SECRET, "f" * 64, "BODY-SENTINEL"} | {headers["Authorization"] for _, headers in sent}
    for line in lines:
        assert not any(secret in line for secret in secrets), line
        assert "Shop_id {xxx}" not in line  # the body's message


def test_fifty_concurrent_deliveries_all_get_200(client: httpx.Client, serve: Serve) -> None:
    sink = Sink()
    receiver, lines = serve(sink)
    together = threading.Barrier(50, timeout=WAIT)
    statuses: list[int] = []

    def deliver(number: int) -> None:
        body = notice_body(f"concurrent-{number}")
        together.wait()
        statuses.append(post(client, receiver.url, body, signed(body)).status_code)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert statuses == [200] * 50
    assert sorted(n.notification_id for n in sink.notices) == sorted(f"concurrent-{n}" for n in range(50))
    assert len(lines) == 50


def test_a_busy_port_is_a_clear_error() -> None:
    app = make_app(app_key=APP_KEY, app_secret=APP_SECRET, apply=Sink())
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(WebhookError, match=f"port {port} on 127.0.0.1 is taken") as caught:
            Receiver(app, port=port).start()
    assert "port 0" in caught.value.fix


def test_stop_is_idempotent_and_a_stopped_receiver_has_no_port() -> None:
    receiver = Receiver(make_app(app_key=APP_KEY, app_secret=APP_SECRET, apply=Sink()))
    with pytest.raises(RuntimeError, match="start"):
        _ = receiver.url
    with receiver:
        assert receiver.port > 0
    receiver.stop()
    with pytest.raises(RuntimeError):
        _ = receiver.port


def test_make_app_needs_the_apps_key_and_secret() -> None:
    with pytest.raises(ValueError, match="App Key and App Secret"):
        make_app(app_key=APP_KEY, app_secret="", apply=Sink())
    with pytest.raises(ValueError, match="App Key and App Secret"):
        make_app(app_key="", app_secret=APP_SECRET, apply=Sink())


# --- the WSGI application called directly ----------------------------------------------------------


class Untouchable(io.RawIOBase):
    """A ``wsgi.input`` that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def call(app: Any, **environ: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.update(status=status, headers=headers)

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def test_the_wsgi_app_directly() -> None:
    sink = Sink()
    lines: list[str] = []
    app = make_app(app_key=APP_KEY, app_secret=APP_SECRET, apply=sink, max_body=4096, log=lines.append)
    body = notice_body()
    status, headers, content = call(
        app,
        REQUEST_METHOD="POST",
        PATH_INFO="/tiktok/webhooks",
        CONTENT_LENGTH=str(len(body)),
        HTTP_AUTHORIZATION=signed(body)["Authorization"],
        **{"wsgi.input": io.BytesIO(body)},
    )
    assert (status, headers, content) == ("200 OK", [("Content-Length", "0")], b"")
    assert sink.notices == [parse(body)]

    untouched = {"wsgi.input": Untouchable()}
    assert call(app, REQUEST_METHOD="GET")[:2] == (
        "405 Method Not Allowed",
        [("Content-Length", "0"), ("Allow", "POST")],
    )
    assert call(app, REQUEST_METHOD="POST", **untouched)[0] == "411 Length Required"
    assert call(app, REQUEST_METHOD="POST", CONTENT_LENGTH="ten", **untouched)[0] == "400 Bad Request"
    assert call(app, REQUEST_METHOD="POST", CONTENT_LENGTH="-1", **untouched)[0] == "400 Bad Request"
    assert call(app, REQUEST_METHOD="POST", CONTENT_LENGTH="4097", **untouched)[0].startswith("413 ")
    assert call(app, REQUEST_METHOD="POST", CONTENT_LENGTH="9" * 40, **untouched)[0].startswith("413 ")
    chunked = {"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": "10"}
    assert call(app, REQUEST_METHOD="POST", **chunked, **untouched)[0] == "411 Length Required"
    short = call(app, REQUEST_METHOD="POST", CONTENT_LENGTH="100", **{"wsgi.input": io.BytesIO(b"{}")})
    assert short[0] == "400 Bad Request" and "the body ended after 2 of its 100 bytes" in lines[-1]
    assert len(sink.notices) == 1
