"""What a runbook step reports while it runs and what it returns when it is done.

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
    from .openapi import Shop
    from .redirect import RedirectResult
    from .tokens import TokenSet

__all__ = ["AuthorizeEvent", "AuthorizeResult", "AuthorizeStep"]


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
