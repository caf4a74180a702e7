"""What a runbook step reports while it runs and what it returns when it is done.

:meth:`Session.refresh_all <tiktok_helpers.session.Session.refresh_all>` reports one
:class:`RefreshOutcome` per seller as it lands and returns a :class:`RefreshSummary`.

:meth:`Session.authorize <tiktok_helpers.session.Session.authorize>` reports its progress as
:class:`AuthorizeEvent` objects (to a terminal, a notebook widget or a test) and returns one
:class:`AuthorizeResult`. Messages are sentences for a person and name no command-line syntax:
each front end adds its own ("run `exchange`", "notebook 03").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .authlink import AuthorizationLink
    from .catcher import CatcherStatus
    from .errors import TikTokHelperError
    from .grants import Grant
    from .openapi import Shop
    from .redirect import RedirectResult
    from .tokens import TokenSet

__all__ = [
    "AuthorizeEvent",
    "AuthorizeResult",
    "AuthorizeStep",
    "RefreshOutcome",
    "RefreshStatus",
    "RefreshSummary",
]


class AuthorizeStep(str, Enum):
    """The steps of the authorize flow, in order (``NOTE`` can come at any time)."""

    LINK = "link"  #: the link is built: show it (``listening`` says where the catcher waits)
    WAITING = "waiting"  #: a catcher progress report (``catcher``)
    CAUGHT = "caught"  #: the redirect is here and its state checked
    CODE_SAVED = "code_saved"  #: the code is saved, so a failed exchange can be retried
    EXCHANGED = "exchanged"  #: tokens received and saved
    VERIFIED = "verified"  #: Get Authorized Shops answered: the token works
    NOTE = "note"  #: something a person should know (a state not checked, how to retry)


@dataclass(frozen=True)
class AuthorizeEvent:
    step: AuthorizeStep
    message: str
    link: AuthorizationLink | None = None
    listening: str | None = None
    catcher: CatcherStatus | None = None
    #: With a NOTE: the runbook command that acts on it (e.g. ``exchange``), for a front end to show.
    command: str | None = None


@dataclass(frozen=True)
class AuthorizeResult:
    """Everything the authorize flow produced. Tokens and the code print masked."""

    link: AuthorizationLink | None
    redirect: RedirectResult
    tokens: TokenSet
    shops: tuple[Shop, ...]
    env_path: Path
    #: Where the seller's grant (the tokens) is kept.
    grants_path: Path


class RefreshStatus(str, Enum):
    REFRESHED = "refreshed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RefreshOutcome:
    """What a bulk refresh did for one seller."""

    seller: Grant  #: the grant as it was before
    status: RefreshStatus
    grant: Grant | None = None  #: the grant with its new pair (refreshed)
    error: TikTokHelperError | None = None  #: what went wrong (failed)
    reason: str = ""  #: why nothing was sent (skipped)


@dataclass(frozen=True)
class RefreshSummary:
    """Every seller's outcome, in the order of the grants."""

    outcomes: tuple[RefreshOutcome, ...]

    def _with(self, status: RefreshStatus) -> tuple[RefreshOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status is status)

    @property
    def refreshed(self) -> tuple[RefreshOutcome, ...]:
        return self._with(RefreshStatus.REFRESHED)

    @property
    def failed(self) -> tuple[RefreshOutcome, ...]:
        return self._with(RefreshStatus.FAILED)

    @property
    def skipped(self) -> tuple[RefreshOutcome, ...]:
        return self._with(RefreshStatus.SKIPPED)
