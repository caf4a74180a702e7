"""What a runbook step reports while it runs and what it returns when it is done.

:meth:`Session.refresh <tiktok_helpers.session.Session.refresh>` returns a :class:`RefreshResult`:
the new pair, or, when another refresh of the seller landed while this one waited for it, the pair
that refresh saved (``already_refreshed_at``). :meth:`Session.refresh_all
<tiktok_helpers.session.Session.refresh_all>` reports one :class:`RefreshOutcome` per seller as it
lands and returns a :class:`RefreshSummary`; stopped (Ctrl-C, SIGTERM), it raises
:class:`RefreshInterrupted` once the refreshes in flight are saved. A pair that arrived but could
not be committed is never dropped: :class:`TokensNotSaved` carries it.

:meth:`Session.authorize <tiktok_helpers.session.Session.authorize>` reports its progress as
:class:`AuthorizeEvent` objects (to a terminal, a notebook widget or a test) and returns one
:class:`AuthorizeResult`. Messages are sentences for a person and name no command-line syntax:
each front end adds its own ("run `exchange`", "notebook 03").
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .errors import GrantNotSaved
from .secret import Secret
from .text import local_time
from .tokens import TokenSet

if TYPE_CHECKING:
    from .authlink import AuthorizationLink
    from .catcher import CatcherStatus
    from .errors import TikTokHelperError
    from .grants import Grant
    from .openapi import Shop
    from .redirect import RedirectResult

__all__ = [
    "AuthorizeEvent",
    "AuthorizeResult",
    "AuthorizeStep",
    "HandOver",
    "RefreshInterrupted",
    "RefreshOutcome",
    "RefreshResult",
    "RefreshStatus",
    "RefreshSummary",
    "TokensNotSaved",
    "already_refreshed",
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
    grants_location: str


class RefreshStatus(str, Enum):
    REFRESHED = "refreshed"
    FAILED = "failed"
    SKIPPED = "skipped"


def already_refreshed(moment: datetime | None) -> str:
    """Why a refresh sent nothing: another refresh of the seller landed while it waited."""
    return f"already refreshed at {local_time(moment)}, by another refresh of this seller: its new pair is saved"


@dataclass(frozen=True)
class HandOver:
    """The refresh token a refresh made here returned, given to the seller's store in API2Cart
    (``account.config.update``) and confirmed (``cart.validate``), in the same step as the refresh.

    ``done`` when both answered success. Otherwise ``stage`` says which call failed (``"update"``:
    API2Cart still holds the old refresh token; ``"validate"``: it was given the new one but could
    not confirm the store works), ``error`` why, and ``retry`` the runbook command, without the
    program's name, that tries again. The new pair is saved on the grant in every case.
    """

    store_key: Secret
    done: bool
    updated_items: int | None = None
    status: str = ""  #: ``cart.validate``'s ``status``, as API2Cart sent it
    stage: str = ""
    error: TikTokHelperError | None = None
    retry: str = ""

    @property
    def message(self) -> str:
        """What happened, in a sentence (no command syntax: :attr:`retry` is the command)."""
        if self.done:
            return (
                "API2Cart was given the new refresh token (account.config.update) and confirmed the store "
                "works (cart.validate)"
            )
        error = self.error
        why = "no answer" if error is None else f"{error.title}: {error.detail}" if error.detail else error.title
        if self.stage == "update":
            return f"API2Cart was NOT given the new refresh token, so the store still holds the old one: {why}"
        return f"API2Cart was given the new refresh token, but could not confirm the store works: {why}"


@dataclass(frozen=True)
class RefreshResult(TokenSet):
    """What :meth:`Session.refresh <tiktok_helpers.session.Session.refresh>` returns: a
    :class:`TokenSet` (the new pair), with, when another refresh of the seller landed while this one
    waited for it, ``already_refreshed_at``: then nothing was sent, and these are the tokens that
    refresh saved."""

    already_refreshed_at: datetime | None = None
    #: The new refresh token given to the seller's API2Cart store, for a seller that has one.
    handover: HandOver | None = None

    @property
    def already_refreshed(self) -> bool:
        return self.already_refreshed_at is not None

    @property
    def note(self) -> str:
        """A sentence for a person when nothing was sent ("already refreshed at ..."), else empty."""
        return already_refreshed(self.already_refreshed_at) if self.already_refreshed else ""

    @classmethod
    def received(cls, tokens: TokenSet, handover: HandOver | None = None) -> RefreshResult:
        if isinstance(tokens, RefreshResult):
            return dataclasses.replace(tokens, handover=handover) if handover is not None else tokens
        # Every field of the reply, whatever TokenSet gains later (a hand-written copy would drop it).
        fields = {f.name: getattr(tokens, f.name) for f in dataclasses.fields(TokenSet) if f.init}
        return cls(**fields, handover=handover)

    @classmethod
    def stored(cls, grant: Grant, moment: datetime | None) -> RefreshResult:
        """The pair ``grant`` holds (saved by the refresh that landed at ``moment``)."""
        return cls(
            access_token=grant.access_token,
            access_token_expires_at=grant.access_token_expires_at or _NOT_KNOWN,
            refresh_token=grant.refresh_token,
            refresh_token_expires_at=grant.refresh_token_expires_at or _NOT_KNOWN,
            open_id=grant.open_id,
            seller_name=grant.seller_name,
            seller_base_region=grant.base_region,
            user_type=grant.user_type,
            granted_scopes=grant.granted_scopes,
            already_refreshed_at=moment,
        )


#: An expiry a grant does not know (only an imported grant, before its first reply, has none).
_NOT_KNOWN: Final = datetime.fromtimestamp(0, tz=timezone.utc)


class TokensNotSaved(GrantNotSaved):
    """A token reply arrived and could not be committed (the store's :class:`GrantNotSaved`, or any
    error the commit met), with what the front end holding the pair says to do with it (``how``).
    ``pair`` is the pair, and nowhere else; ``grant`` the grant it refreshed (None for a new
    authorization)."""

    def __init__(self, tokens: TokenSet, *, grant: Grant | None, path: Path | str, reason: str, how: str = "") -> None:
        self.pair = tokens
        self.grant = grant
        self.how = how
        seller = grant.label if grant is not None else (tokens.seller_name or tokens.open_id or "a new seller")
        reason = reason.strip().rstrip(".")
        super().__init__(path, reason=reason, seller=seller, tokens=tokens, grant_id=grant.id if grant else None)

    @property
    def fix(self) -> str:
        return f"{self.how[:1].upper()}{self.how[1:]}." if self.how else self.entry.fix

    def _compose(self) -> str:
        return f"{self.title}: {self.detail.strip().rstrip('.')}. What to do: {self.fix}"

    def saying(self, how: str) -> TokensNotSaved:
        """The same failure, with a front end's own words on what to do."""
        return TokensNotSaved(self.pair, grant=self.grant, path=self.path, reason=self.reason, how=how)


class RefreshInterrupted(KeyboardInterrupt):
    """A bulk refresh stopped (Ctrl-C, SIGTERM, SIGHUP): nothing new was sent, and every refresh in
    flight was waited for and its pair saved. ``summary`` holds the sellers done before the stop."""

    def __init__(self, summary: RefreshSummary, total: int) -> None:
        self.summary = summary
        self.total = total
        super().__init__(f"stopped after {len(summary.outcomes)} of {total} sellers")


@dataclass(frozen=True)
class RefreshOutcome:
    """What a bulk refresh did for one seller."""

    seller: Grant  #: the grant as it was before
    status: RefreshStatus
    grant: Grant | None = None  #: the grant with its new pair (refreshed)
    error: TikTokHelperError | None = None  #: what went wrong (failed)
    reason: str = ""  #: why nothing was sent (skipped)
    #: The pair received (refreshed), or received and NOT saved (failed with :class:`TokensNotSaved`):
    #: kept so a caller can save it again (``Session.save_tokens(outcome.tokens, seller=outcome.seller)``).
    tokens: TokenSet | None = None
    #: For a seller with an API2Cart store: the new refresh token given to it (refreshed).
    handover: HandOver | None = None

    @property
    def unsaved(self) -> bool:
        """A new pair arrived for this seller and could not be saved: it is in :attr:`tokens` only."""
        return self.status is RefreshStatus.FAILED and self.tokens is not None


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

    @property
    def handover_failed(self) -> tuple[RefreshOutcome, ...]:
        """Refreshed, but their API2Cart store was not given the new refresh token (or not confirmed)."""
        return tuple(o for o in self.refreshed if o.handover is not None and not o.handover.done)
