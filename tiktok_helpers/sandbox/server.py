"""The :class:`Sandbox` runner: the simulated services on a loopback port, started and stopped.

The HTTP layer is in :mod:`.handler` (plumbing and HTTP-level choices), :mod:`.tiktok_routes` and
:mod:`.api2cart_routes`; the data and rules behind it in :mod:`.state`. Authorization links for
the sandbox are built like live ones, by :func:`tiktok_helpers.authlink.build_authorization_link`
with ``endpoints=tiktok_helpers.regions.sandbox_endpoints(sandbox.base_url)``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from pathlib import Path
from types import TracebackType
from typing import Generic, TypeVar, overload

from .clock import Clock, SystemClock
from .handler import SandboxHTTPServer, check_latency_ms
from .model import RefreshReading
from .sample_data import sample_seller_key
from .state import Revocation, SandboxState
from .webhooks import WebhookSender

__all__ = ["Sandbox", "check_port"]

logger = logging.getLogger("tiktok_helpers.sandbox")

C = TypeVar("C", bound=Clock)


def check_port(value: int) -> int:
    """``value`` if it is a TCP port to listen on (0 to 65535; 0: any free one)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ValueError("the port must be a whole number from 0 to 65535 (0: any free port)")
    return value


def _check_host(host: str) -> str:
    """``host`` if it is this computer's loopback (IPv4 127.x.y.z or ``localhost``): the sandbox
    answers only requests addressed to it, and nothing off this computer can reach it."""
    try:
        loopback = host == "localhost" or ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox listens on this computer only: 127.0.0.1 or localhost, not {host!r}")
    return host


class Sandbox(Generic[C]):
    """The simulated TikTok Shop + API2Cart services on ``http://127.0.0.1:<port>``.

    ``with Sandbox() as sb:`` starts a background server thread and stops it on exit; ``start``
    and ``stop`` are idempotent and the sandbox can be started again (its state is kept, and a
    restarted ephemeral-port sandbox tries to get its previous port back).

    Live base URLs and their sandbox equivalents: ``https://services.tiktokshop.com`` (and the US
    services host), ``https://auth.tiktok-shops.com``, ``https://open-api.tiktokglobalshop.com``
    and ``https://shop.tiktok.com`` all map to :attr:`base_url`; ``https://partner.tiktokshop.com``
    maps to :attr:`partner_base_url`; ``https://api.api2cart.com/v1.1`` to :attr:`api2cart_base_url`.

    ``redirect_url`` is the sample app's registered callback URL (default: the one saved in the
    state file, else :data:`~tiktok_helpers.samples.SANDBOX_REDIRECT_URL`). ``state_path`` keeps
    codes, tokens, API2Cart stores and the redirect URL in an SQLite database shared by every
    sandbox on that path, in this or other processes (see :mod:`tiktok_helpers.sandbox.store`).
    ``latency_ms`` (0 to 10,000) delays every reply by that many milliseconds, each in its own
    request thread, to simulate a network; :attr:`latency_ms` changes it while running.
    ``scenario`` serves a training scenario by name (:attr:`scenario` switches it while running).
    ``refresh_reading`` (``"new"`` or ``"same"``) chooses what a refresh does to the refresh token
    and ``webhook_url`` where TikTok's webhooks go (:attr:`refresh_reading`, :attr:`webhook_url`);
    neither is saved in the state file.
    """

    @overload
    def __init__(
        self: Sandbox[SystemClock],
        port: int = 0,
        clock: None = None,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        *,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
        latency_ms: int = 0,
        scenario: str | None = None,
        refresh_reading: str = "new",
        webhook_url: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Sandbox[C],
        port: int,
        clock: C,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        *,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
        latency_ms: int = 0,
        scenario: str | None = None,
        refresh_reading: str = "new",
        webhook_url: str | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self: Sandbox[C],
        port: int = 0,
        *,
        clock: C,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
        latency_ms: int = 0,
        scenario: str | None = None,
        refresh_reading: str = "new",
        webhook_url: str | None = None,
    ) -> None: ...

    def __init__(
        self,
        port: int = 0,
        clock: Clock | None = None,
        redirect_url: str | None = None,
        auto_approve: str | None = None,
        *,
        host: str = "127.0.0.1",
        state_path: str | os.PathLike[str] | None = None,
        latency_ms: int = 0,
        scenario: str | None = None,
        refresh_reading: str = "new",
        webhook_url: str | None = None,
    ) -> None:
        self._latency_ms = check_latency_ms(latency_ms)
        self.host = _check_host(host)
        self._requested_port = check_port(port)
        self.clock: C = clock if clock is not None else SystemClock()  # type: ignore[assignment]
        self.state = SandboxState(
            clock=self.clock,
            redirect_url=redirect_url,
            state_path=state_path,
            scenario=scenario,
            refresh_reading=refresh_reading,
            webhook_url=webhook_url,
        )
        self.state.auto_approve = auto_approve
        self._last_port: int | None = None
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sender = WebhookSender(self.state.webhooks.deliver_due)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox[C]:
        """Start serving in a daemon thread (no-op when already running); returns self."""
        with self._lock:
            if self._server is not None:
                return self
            server = self._bind()
            thread = threading.Thread(
                target=server.serve_forever,  # no polling: stop() wakes it at once
                name=f"tiktok-sandbox-{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
            self._last_port = int(server.server_address[1])
            if self.state.webhook_url is not None:  # no URL, no thread: starting stays cheap
                self._sender.start()
            logger.debug("sandbox listening on %s", self.base_url)
            return self

    def _bind(self) -> SandboxHTTPServer:
        if self._requested_port == 0 and self._last_port is not None:
            try:
                return SandboxHTTPServer((self.host, self._last_port), self.state, self._latency_ms)
            except OSError:
                pass
        return SandboxHTTPServer((self.host, self._requested_port), self.state, self._latency_ms)

    def stop(self) -> None:
        """Stop serving and close open connections (no-op when not running). Returns at once (in
        about a millisecond: nothing is polled) with the port released and the serving thread gone."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self._sender.stop()
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> Sandbox[C]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        server = self._server
        if server is None:
            raise RuntimeError("the sandbox is not running: call start() or use it as a context manager")
        return int(server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def partner_base_url(self) -> str:
        """Stands in for ``https://partner.tiktokshop.com``."""
        return f"{self.base_url}/partner"

    @property
    def api2cart_base_url(self) -> str:
        """Stands in for ``https://api.api2cart.com/v1.1``."""
        return f"{self.base_url}/v1.1"

    # ------------------------------------------------------------------ settings
    def set_redirect_url(self, url: str) -> None:
        """Change the sample app's registered callback URL (saved in the state file, if any)."""
        self.state.set_redirect_url(url)

    @property
    def state_path(self) -> Path | None:
        """The state file, or None when the state lives in memory only."""
        return self.state.state_path

    def reset(self) -> None:
        """Start over: forget codes, tokens and stores (in the state file too, for every sandbox on it)."""
        self.state.reset()

    @property
    def latency_ms(self) -> int:
        """Milliseconds every reply waits (0: none)."""
        return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, value: int) -> None:
        self._latency_ms = check_latency_ms(value)
        server = self._server
        if server is not None:
            server.latency_ms = self._latency_ms

    @property
    def scenario(self) -> str | None:
        """The training scenario served (:mod:`tiktok_helpers.sandbox.scenarios`), or None.

        Setting a name (again) arms it; None switches it off, which stands for the fix of a lasting
        one (``clock-ahead``, ``bad-signature``, ``api2cart-wrong-key``)."""
        return self.state.scenarios.name

    @scenario.setter
    def scenario(self, name: str | None) -> None:
        self.state.scenarios.set(name)

    @property
    def auto_approve(self) -> str | None:
        """A sample seller's key (``"global"``, ``"us"``, ``"sg"``): consent links redirect at once as
        that seller; None: show the page."""
        return self.state.auto_approve

    @auto_approve.setter
    def auto_approve(self, seller: str | None) -> None:
        self.state.auto_approve = seller

    @property
    def refresh_reading(self) -> RefreshReading:
        """``"new"`` (default): a refresh returns a NEW refresh token and the old one then answers
        36004005; ``"same"``: it returns the same refresh token, which keeps working. TikTok documents
        neither: which one is served is the sandbox's choice (see :mod:`tiktok_helpers.sandbox.tiktok`)."""
        return self.state.refresh_reading

    @refresh_reading.setter
    def refresh_reading(self, value: str) -> None:
        self.state.refresh_reading = value

    @property
    def webhook_url(self) -> str | None:
        """Where the sandbox sends TikTok's webhooks (6, 7, 20; see :mod:`tiktok_helpers.sandbox.webhooks`),
        signed with the sample app's key and secret; None (default): none is queued or sent, and no
        sender thread runs. Setting it while running starts or stops the sender."""
        return self.state.webhook_url

    @webhook_url.setter
    def webhook_url(self, url: str | None) -> None:
        with self._lock:
            self.state.webhook_url = url
            if url is None:
                self._sender.stop()
            elif self._server is not None:
                self._sender.start()

    def deliver_due(self) -> int:
        """One pass of the webhook sender now (the thread makes one every 0.2 s): with a FakeClock,
        advance it and call this; returns how many deliveries the receiver took."""
        return self.state.deliver_due()

    def deauthorize(self, seller: str) -> Revocation:
        """The sample seller ``seller`` (key or name) removes the app: every grant revoked and, with a
        webhook URL, webhook 6 (20 for a creator grant) sent at once (queued for retry if it fails)."""
        return self.state.remove_app(sample_seller_key(seller))

    def __repr__(self) -> str:
        where = self.base_url if self.running else "stopped"
        return f"<Sandbox {where} clock={self.clock!r}>"
