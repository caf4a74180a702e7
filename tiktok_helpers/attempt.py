"""The authorize step: one attempt (the link and the ``state`` its redirect must carry), and the flow.

The caller holds the attempt (as authlib's OAuth2 client has the caller hold ``(url, state)``):
``Session.begin_authorization()`` builds one, and the redirect that comes back, caught by a
catcher, pasted by a person or returned by the sandbox's autopilot, is checked against *that*
attempt's state, never against whatever link was built last. Nothing here is stored anywhere.

:class:`Authorizing` is the authorize part of :class:`~tiktok_helpers.session.Session` (the session
is the class that uses it; it lives here to keep each file one concern): build an attempt, catch,
paste, or let the sandbox's autopilot answer, then hand the code to the session's exchange.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Final, Literal, Protocol

import httpx

from . import autopilot
from .authlink import AuthorizationLink, build_authorization_link
from .catcher import CatcherStatus, RedirectCatcher
from .errors import FieldProblem, TikTokHelperError, ValidationError
from .openapi import Shop
from .redirect import RedirectResult, parse_redirect
from .regions import AuthType, Endpoints, Region
from .results import AuthorizeEvent, AuthorizeResult, AuthorizeStep
from .settings import Settings
from .tokens import TokenSet

__all__ = ["APP_STORE_RISK", "AuthorizationAttempt", "Authorizing", "Decision", "Progress"]

#: What accepting a redirect without state risks, said wherever a person chooses it.
APP_STORE_RISK: Final = (
    "a redirect without state cannot be tied to a link you opened: any page can send one to this computer, "
    "and TikTok may have issued its code to another seller (for this app). Accept it only for a seller who "
    "installs the app from the TikTok Shop App Store right now, and check the seller's name after the exchange"
)

Progress = Callable[[AuthorizeEvent], None]
Decision = Literal["authorize", "cancel"]


def _ignore(event: AuthorizeEvent) -> None:
    """The default progress callback: nobody is listening."""


class _Sandbox(Protocol):
    def set_redirect_url(self, url: str) -> None: ...


@dataclass(frozen=True)
class AuthorizationAttempt:
    """A built authorization link, and where its redirect is expected back."""

    link: AuthorizationLink
    #: The app's redirect URL when the attempt began (where a catcher listens).
    redirect_url: str
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    #: The person says the seller installs the app from the TikTok Shop App Store: that redirect
    #: carries no state (TikTok Shop Partner Center's seller authorization guide), so a code without
    #: any state is accepted for this attempt. It cannot then be tied to this link (see
    #: :data:`APP_STORE_RISK`).
    app_store_install: bool = False

    @property
    def state(self) -> str:
        return self.link.state

    @property
    def url(self) -> str:
        return self.link.url

    @property
    def auth_type(self) -> AuthType:
        return self.link.auth_type

    def parse(self, text: str) -> RedirectResult:
        """A pasted redirect address (or bare code), its state checked against this attempt's."""
        return parse_redirect(text, self.state, app_store_install=self.app_store_install)

    def catcher(
        self, *, timeout: float = 300.0, on_progress: Callable[[CatcherStatus], None] | None = None
    ) -> RedirectCatcher:
        """A catcher (not started) for this attempt's redirect: it checks this attempt's state."""
        return RedirectCatcher(
            self.redirect_url,
            expected_state=self.state,
            app_store_install=self.app_store_install,
            timeout=timeout,
            on_progress=on_progress,
        )

    def __str__(self) -> str:
        return self.url


class Authorizing:
    """The authorize step of a session: what it needs from the session is declared here."""

    settings: Settings
    http: httpx.Client
    sandbox: _Sandbox | None
    _catcher: RedirectCatcher | None

    # Provided by the session.
    def reopen(self) -> Authorizing:
        raise NotImplementedError

    @property
    def is_sandbox(self) -> bool:
        raise NotImplementedError

    @property
    def endpoints(self) -> Endpoints:
        raise NotImplementedError

    @property
    def grants_location(self) -> str:
        raise NotImplementedError

    @property
    def grants_name(self) -> str:
        raise NotImplementedError

    def save_code(self, result: RedirectResult) -> None:
        raise NotImplementedError

    def _exchange_saved(self, emit: Progress) -> TokenSet:
        raise NotImplementedError

    def authorized_shops(self) -> list[Shop]:
        raise NotImplementedError

    # --- step: authorize ------------------------------------------------------------------------

    def begin_authorization(
        self, auth_type: AuthType | str | None = None, state: str | None = None, *, app_store_install: bool = False
    ) -> AuthorizationAttempt:
        """A new authorization attempt: the link for the configured region and type, with a fresh
        ``state`` (or ``state``). The caller holds it; its redirect is checked against it.
        ``app_store_install``: the seller installs the app from the TikTok Shop App Store, whose
        redirect carries no state: a code without state is accepted (:data:`APP_STORE_RISK`)."""
        s = self.reopen().settings
        link = build_authorization_link(
            auth_type or s.auth_type,
            region=s.region,
            service_id=s.service_id,
            app_key=s.app_key,
            state=state,
            endpoints=self.endpoints,
        )
        return AuthorizationAttempt(link, s.redirect_url, app_store_install=app_store_install)

    def start_catcher(
        self,
        attempt: AuthorizationAttempt,
        *,
        timeout: float = 300.0,
        on_progress: Callable[[CatcherStatus], None] | None = None,
    ) -> RedirectCatcher:
        """Listen for ``attempt``'s redirect on the app's loopback redirect URL (its state checked).

        When the port cannot be listened on (another program holds it), raises
        :class:`CallbackPortBusy` naming the port and the ways on; nothing is sent anywhere.
        One catcher per session: a previous one is stopped; the autopilot follows only to this one.
        """
        self.reopen()
        catcher = attempt.catcher(timeout=timeout, on_progress=on_progress)
        catcher.start()
        previous, self._catcher = self._catcher, catcher
        if previous is not None and previous is not catcher:
            previous.stop()  # the old one would hold its port for nothing
        if self.sandbox is not None:
            self.sandbox.set_redirect_url(catcher.redirect_url)
        return catcher

    def approve_in_sandbox(
        self,
        attempt: AuthorizationAttempt,
        *,
        decision: Decision = "authorize",
        seller: str | None = None,
        follow: bool = False,
    ) -> str:
        """Sandbox only: press Authorize (or Cancel) on the consent page as the sample seller would
        (:func:`autopilot.approve`); with ``follow``, the redirect is loaded only when this session's
        catcher waits there. Returns the redirect address."""
        if not self.is_sandbox:
            raise TikTokHelperError("approving on someone's behalf only exists in sandbox mode")
        self.reopen()
        who = seller or ("us" if self.settings.region is Region.US else "global")
        try:
            return autopilot.approve(
                attempt.url,
                client=self.http,
                decision=decision,
                seller=who,
                follow=follow,
                follow_to=self._catcher,
            )
        except autopilot.SellerNotOffered as exc:  # bad input, not a broken page
            raise ValidationError([FieldProblem(autopilot.SANDBOX_SELLER_FIELD, str(exc))]) from None
        except (autopilot.ConsentPageError, httpx.HTTPError) as exc:
            raise TikTokHelperError(f"the sandbox's consent page did not work: {exc}") from None

    def approve_in_sandbox_and_report(self, attempt: AuthorizationAttempt) -> str:
        """Sandbox only: press Authorize and let the browser follow the redirect, then say in a
        sentence what happened (:func:`autopilot.approval_message`; the code is never in it)."""
        catcher = self._catcher
        before = catcher.status() if catcher is not None else None
        with warnings.catch_warnings():  # the sentence returned says it, with what to do
            warnings.filterwarnings("ignore", message=autopilot.NOT_FOLLOWED)
            location = self.approve_in_sandbox(attempt, follow=True)
        after = catcher.status() if catcher is not None else None
        return autopilot.approval_message(before, after, location)

    def authorize(
        self,
        *,
        auth_type: AuthType | str | None = None,
        pasted: str | None = None,
        prompt: Callable[[AuthorizationAttempt], str] | None = None,
        sandbox_decision: Decision | None = None,
        sandbox_seller: str | None = None,
        wait: float = 300.0,
        app_store_install: bool = False,
        on_progress: Progress | None = None,
    ) -> AuthorizeResult:
        """The whole authorization: link -> the redirect back -> save the code -> exchange -> verify.

        How the redirect comes back: by default a catcher listens on the app's loopback redirect URL
        for up to ``wait`` seconds while a person approves in a browser; ``prompt(attempt)`` returns
        what the person pasted instead; ``pasted`` is an address (or code) already in hand (no link
        is built, so its state cannot be checked); ``sandbox_decision`` (sandbox only) has the
        autopilot press Authorize or Cancel as ``sandbox_seller``. The state is checked against this
        call's own attempt; with ``app_store_install`` a redirect without any state is accepted too
        (a TikTok Shop App Store install carries none; :data:`APP_STORE_RISK`). The code is saved
        before the exchange, so a failed exchange can be retried with :meth:`exchange` within the
        code's 30 minutes.
        """
        emit = on_progress or _ignore
        if sandbox_decision is not None and not self.is_sandbox:
            raise ValidationError(
                [FieldProblem("sandbox approval", "only exists in sandbox mode: in live mode the seller presses "
                              "Authorize in a browser")]
            )  # fmt: skip
        if sandbox_seller is not None and sandbox_decision is None:
            raise ValidationError([FieldProblem(autopilot.SANDBOX_SELLER_FIELD, "only goes with a sandbox approval")])
        if pasted is not None and sandbox_decision is not None:
            raise ValidationError(
                [FieldProblem("sandbox approval", "cannot answer an address that was pasted: give one or the other")]
            )
        attempt: AuthorizationAttempt | None = None
        if pasted is not None:
            redirect = self._read_pasted(pasted, None, emit)
        else:
            attempt = self.begin_authorization(auth_type, app_store_install=app_store_install)
            if app_store_install:
                emit(AuthorizeEvent(AuthorizeStep.NOTE, f"App Store install: {APP_STORE_RISK}."))
            if prompt is not None:
                emit(AuthorizeEvent(AuthorizeStep.LINK, "Open the link and approve.", link=attempt.link))
                if sandbox_decision:
                    text = self._autopilot(attempt, sandbox_decision, sandbox_seller, follow=False, emit=emit)
                else:
                    text = prompt(attempt)
                redirect = attempt.parse(text)
            else:
                redirect = self._catch(attempt, wait, sandbox_decision, sandbox_seller, emit)
        emit(AuthorizeEvent(AuthorizeStep.CAUGHT, "The redirect came back with a code."))
        self.save_code(redirect)
        emit(AuthorizeEvent(AuthorizeStep.CODE_SAVED, f"The code is saved in {self.settings.env_path.name}."))
        tokens = self._exchange_saved(emit)
        emit(AuthorizeEvent(AuthorizeStep.EXCHANGED, f"Tokens received and saved to {self.grants_name}."))
        shops = self.authorized_shops()
        emit(AuthorizeEvent(AuthorizeStep.VERIFIED, f"The access token works: {len(shops)} shop(s) authorized."))
        link = attempt.link if attempt is not None else None
        return AuthorizeResult(link, redirect, tokens, tuple(shops), self.settings.env_path, self.grants_location)

    def _catch(
        self,
        attempt: AuthorizationAttempt,
        wait: float,
        decision: Decision | None,
        seller: str | None,
        emit: Progress,
    ) -> RedirectResult:
        def report(status: CatcherStatus) -> None:
            emit(AuthorizeEvent(AuthorizeStep.WAITING, status.message, catcher=status))

        try:
            catcher = self.start_catcher(attempt, timeout=wait, on_progress=report)
        except ValidationError:
            note = "Without the catcher, the address the browser lands on after Authorize can be pasted instead."
            emit(AuthorizeEvent(AuthorizeStep.NOTE, note))
            raise
        with catcher:
            emit(
                AuthorizeEvent(
                    AuthorizeStep.LINK, "Open the link and approve.", link=attempt.link, listening=catcher.redirect_url
                )
            )
            report(catcher.status())
            if decision is not None:
                self._autopilot(attempt, decision, seller, follow=True, emit=emit)
            return catcher.wait()

    def _autopilot(
        self, attempt: AuthorizationAttempt, decision: Decision, seller: str | None, *, follow: bool, emit: Progress
    ) -> str:
        button = "Authorize" if decision == "authorize" else "Cancel"
        who = f"sample seller {seller!r}" if seller else "the sample seller"
        emit(AuthorizeEvent(AuthorizeStep.NOTE, f"Sandbox: pressing {button} on the consent page as {who}."))
        return self.approve_in_sandbox(attempt, decision=decision, seller=seller, follow=follow)

    def read_redirect(self, text: str, attempt: AuthorizationAttempt | None) -> RedirectResult:
        """A pasted redirect address (or bare code): the state is checked against ``attempt``; with
        None (the link was built elsewhere) it cannot be checked."""
        return attempt.parse(text) if attempt is not None else parse_redirect(text)

    def exchange_pasted(
        self,
        pasted: str | None = None,
        *,
        attempt: AuthorizationAttempt | None = None,
        on_progress: Progress | None = None,
    ) -> TokenSet:
        """The exchange step as a person does it: the address the browser landed on (or just the code)
        is saved first, then exchanged; with nothing pasted, the code the authorize step saved.

        The pasted address's state is checked against ``attempt``; without one (the link was built
        elsewhere) there is nothing to compare it with, and a note says so. When the exchange fails
        for a reason other than the code itself, a note says how to retry.
        """
        emit = on_progress or _ignore
        if pasted is not None:
            self.save_code(self._read_pasted(pasted, attempt, emit))
        return self._exchange_saved(emit)

    def _read_pasted(self, text: str, attempt: AuthorizationAttempt | None, emit: Progress) -> RedirectResult:
        redirect = self.read_redirect(text, attempt)
        if attempt is None and redirect.state:
            note = "The pasted address's state is not checked: no link was built here to compare it with."
            emit(AuthorizeEvent(AuthorizeStep.NOTE, note))
        return redirect
