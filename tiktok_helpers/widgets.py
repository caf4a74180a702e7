"""The runbook's widgets (ipywidgets). Import this module only in notebooks.

Widgets collect input and show status; every button calls a :class:`~tiktok_helpers.session.Session`
method (or a function here that tests call directly), so nothing a widget does is untested logic.
Secret values live only in widget state, never in cell outputs, and are shown masked until a
person presses Reveal.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import ipywidgets as w
from IPython.display import HTML, display

from .attempt import APP_STORE_RISK, AuthorizationAttempt
from .authlink import AuthorizationLink
from .catcher import CatcherState, CatcherStatus, RedirectCatcher
from .display import local_time, relative, span
from .drill_widgets import DrillQuiz  # moved there (issue #25); importable from here as before
from .errors import CallbackPortBusy, MissingAuthCode, TikTokHelperError
from .protocol import AUTH_CODE_LIFETIME
from .redirect import RedirectResult
from .secret import Secret
from .session import Session
from .widget_kit import Panel, bundle, copy_button, error_message, outcome_html, run_action, session_secrets

__all__ = [
    "AppForm",
    "CodePanel",
    "DrillQuiz",
    "Panel",
    "api2cart_key_form",
    "credentials_panel",
    "link_html",
    "outcome_html",
    "refresh_all_progress",
    "seller_picker",
]

logger = logging.getLogger(__name__)

_WIDE = w.Layout(width="34em")
#: Buttons as wide as their label: ipywidgets' default fixed width cuts "Validate and save".
_FIT = w.Layout(width="auto", min_width="fit-content")
_LABEL = {"description_width": "9em"}


class AppForm:
    """Region, app type, App Key, App Secret (password), service_id and redirect URL; saves to .env."""

    def __init__(self, session: Session) -> None:
        s = session.settings
        self.session = session
        self.region = w.ToggleButtons(
            options=[("Global", "global"), ("United States", "us")],
            value=s.region.value,
            description="Region",
            style=_LABEL,
        )
        self.app_type = w.ToggleButtons(
            options=[("Custom", "custom"), ("Public", "public")],
            value=s.app_type.value,
            description="App type",
            style=_LABEL,
        )
        self.app_key = w.Text(value=s.app_key, description="App Key", layout=_WIDE, style=_LABEL)
        self.app_secret = w.Password(
            value="",
            description="App Secret",
            layout=_WIDE,
            style=_LABEL,
            placeholder=f"saved ({s.app_secret}); leave empty to keep" if s.app_secret else "paste the App Secret",
        )
        self.service_id = w.Text(value=s.service_id, description="service_id", layout=_WIDE, style=_LABEL)
        self.redirect_url = w.Text(value=s.redirect_url, description="Redirect URL", layout=_WIDE, style=_LABEL)
        self.save_button = w.Button(description="Validate and save", button_style="primary", icon="check", layout=_FIT)
        self.outcome = w.HTML()
        self.save_button.on_click(lambda _: self.save())
        self.widget = w.VBox(
            [
                self.region,
                self.app_type,
                self.app_key,
                self.app_secret,
                self.service_id,
                self.redirect_url,
                self.save_button,
                self.outcome,
            ]
        )

    def save(self) -> bool:
        """What the button does: validate every field and save them all, or none."""

        def action() -> str:
            secret: Secret | str = self.app_secret.value or self.session.settings.app_secret
            s = self.session.save_app(
                region=self.region.value,
                app_type=self.app_type.value,
                app_key=self.app_key.value,
                app_secret=secret,
                service_id=self.service_id.value,
                redirect_url=self.redirect_url.value,
            )
            self.app_secret.value = ""
            self.app_secret.placeholder = f"saved ({s.app_secret}); leave empty to keep"
            return (
                f"Saved to {s.env_path.name} (mode 0600): App Key {s.app_key}, App Secret {s.app_secret}, "
                f"service_id {s.service_id}, region {s.region.value}, {s.app_type.value} app."
            )

        ok = run_action(action, self.outcome, session=self.session, secrets=[self.app_secret.value])
        if not ok and self.app_secret.value:
            # A refused secret must not stay in the widget: "Save widget state" would write it into
            # the notebook file. The person pastes it again after fixing what the message names.
            self.app_secret.value = ""
            self.outcome.value += outcome_html(False, "The App Secret field was cleared: paste it again.")
        return ok

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return bundle(
            self.widget,
            "[form: Region, App type, App Key, App Secret (password), service_id, Redirect URL, "
            "and a 'Validate and save' button; run the notebook to use it]",
            **kwargs,
        )


# --- 02: the link, the catcher and the paste field ---------------------------------------------------


def link_html(link: AuthorizationLink) -> HTML:
    """The authorization link as a clickable link with a copy button."""
    url = html.escape(link.url, quote=True)
    return HTML(
        f'<div class="runbook-link"><a href="{url}" target="_blank" rel="noopener" id="runbook-authorize-link">'
        f"Open the authorization link</a> "
        f'<button type="button" data-value="{url}" '
        "onclick=\"navigator.clipboard.writeText(this.dataset.value);this.textContent='Copied'\">Copy link</button>"
        f'<pre style="white-space:pre-wrap;word-break:break-all">{url}</pre></div>'
    )


class CodePanel:
    """Catcher status (waiting with time left, received, timed out) and the paste-the-URL fallback."""

    def __init__(self, session: Session, attempt: AuthorizationAttempt, *, timeout: float = 600.0) -> None:
        self.session = session
        #: The authorization attempt this panel catches (or takes the pasted address) for.
        self.attempt = attempt
        self._pasted: RedirectResult | None = None
        self._lock = threading.Lock()
        self.status = w.HTML(value=outcome_html(True, "starting the catcher ..."))
        self.paste = w.Text(
            description="Redirect URL",
            placeholder="…or paste the address the browser ended on",
            layout=_WIDE,
            style=_LABEL,
        )
        self.use_button = w.Button(description="Use this address", icon="paste", layout=_FIT)
        self.again_button = w.Button(
            description="Listen again",
            icon="refresh",
            layout=_FIT,
            tooltip="start catching again for the same link: after Run All, a timeout, or to approve once more",
        )
        self.stop_button = w.Button(
            description="Stop waiting",
            icon="stop",
            layout=_FIT,
            tooltip="stop listening: for instance after the seller pressed Cancel",
        )
        self.app_store = w.Checkbox(
            value=attempt.app_store_install,
            description="App Store install: accept a redirect without state",
            indent=False,
            layout=_WIDE,
        )
        self.outcome = w.HTML()
        self.use_button.on_click(lambda _: self.use_pasted())
        self.again_button.on_click(lambda _: self.listen_again())
        self.stop_button.on_click(lambda _: self.stop_waiting())
        self.app_store.observe(lambda change: self.set_app_store_install(bool(change["new"])), names="value")
        self._timeout = timeout
        self.catcher: RedirectCatcher | None = None
        self._start()
        row = w.HBox([self.paste, self.use_button, self.again_button, self.stop_button])
        self.widget = w.VBox([self.status, row, self.app_store, self.outcome])

    def _start(self) -> bool:
        try:
            self.catcher = self.session.start_catcher(self.attempt, timeout=self._timeout, on_progress=self._progress)
            return True
        except Exception as exc:  # shown here, before the link is used
            message = error_message(exc, session_secrets(self.session))
            if not isinstance(exc, CallbackPortBusy):  # that one already says to paste
                message += " Paste the redirect address below instead."
            self.status.value = outcome_html(False, f"No catcher: {message}")
            return False

    def listen_again(self) -> bool:
        """What "Listen again" does: stop the current catcher, forget a pasted code, and start a new
        catcher for the same link, bringing back the session (and the sandbox) if a closing cell
        stopped them, so the link above works again."""

        def action() -> str:
            old, self.catcher = self.catcher, None
            if old is not None:
                old.stop()
            with self._lock:
                self._pasted = None
            if not self._start():
                raise TikTokHelperError("the catcher could not start again (see above)")
            return "Listening again: open the link above and press Authorize."

        return run_action(action, self.outcome, session=self.session)

    def _progress(self, status: CatcherStatus) -> None:
        ok = status.state.value in ("waiting", "received") and not status.refused_without_state
        stop = " (press Stop waiting)" if status.refused_without_state and not status.done else ""
        self.status.value = outcome_html(ok, f"Catcher at {status.address}: {status.message}{stop}.")

    def stop_waiting(self) -> bool:
        """What "Stop waiting" does: the catcher stops listening (the link can be answered again after
        "Listen again"). For a refusal without state, which never ends the wait by itself."""

        def action() -> str:
            if self.catcher is not None:
                self.catcher.stop()
            return "Stopped listening. If the seller pressed Cancel, ask them again later; 'Listen again' resumes."

        return run_action(action, self.outcome, session=self.session)

    def set_app_store_install(self, accept: bool) -> bool:
        """What the checkbox does: this attempt accepts (or no longer accepts) a redirect without state,
        as a TikTok Shop App Store install sends, and the catcher listens again with that rule."""
        self.attempt = dataclasses.replace(self.attempt, app_store_install=accept)
        self.app_store.value = accept
        if not self.listen_again():
            return False
        if accept:
            self.outcome.value = outcome_html(True, f"App Store install: {APP_STORE_RISK}.")
        return True

    def use_pasted(self) -> bool:
        """What the button does: parse the pasted address (state checked) and keep the code."""

        def action() -> str:
            result = self.attempt.parse(self.paste.value)
            with self._lock:
                self._pasted = result
            if self.catcher is not None:
                self.catcher.stop()
            self.paste.value = ""
            return f"Got the code {result.code} from the pasted address."

        return run_action(action, self.outcome, session=self.session, secrets=[self.paste.value])

    @property
    def received(self) -> bool:
        """True once a code is here: pasted, or caught by the catcher."""
        with self._lock:
            if self._pasted is not None:
                return True
        return self.catcher is not None and self.catcher.status().state is CatcherState.RECEIVED

    def result(self, timeout: float | None = None) -> RedirectResult:
        """The code: pasted, or caught (waiting up to ``timeout`` seconds). Saved for the next step."""
        with self._lock:
            pasted = self._pasted
        if pasted is not None:
            result = pasted
        elif self.catcher is not None:
            result = self.catcher.wait(timeout)
        else:
            raise MissingAuthCode(
                "paste the redirect address in the field above, press 'Use this address', and run again"
            )
        self.session.save_code(result)
        return result

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        return bundle(
            self.widget,
            "[catcher status (waiting with time left / received / timed out), a field to paste the "
            "redirect address with a 'Use this address' button, 'Listen again', 'Stop waiting' and an "
            "App Store install checkbox; run the notebook to use them]",
            **kwargs,
        )


def code_validity(received_at: datetime | None) -> str:
    """'valid until 09:42 UTC (in 29 minutes), once'."""
    if received_at is None:
        return f"valid for {span(AUTH_CODE_LIFETIME)} after it was issued, once"
    until = received_at + AUTH_CODE_LIFETIME
    return f"valid until {local_time(until)} ({relative(until, datetime.now(timezone.utc))}), for one exchange"


# --- 04: API2Cart ------------------------------------------------------------------------------------


def credentials_panel(session: Session) -> Panel:
    """The three values the API2Cart admin panel asks for: masked, with Reveal and Copy.

    A secret's real value is sent to the browser only while Reveal is pressed (Copy presses it for
    a moment), so it is not in the widget state otherwise."""
    s, grant = session.settings, session.seller
    refresh_token = grant.refresh_token if grant is not None else Secret("")
    rows: list[Any] = []
    for label, value in (
        ("App Key", Secret(s.app_key)),
        ("App Secret", s.app_secret),
        ("Refresh Token", refresh_token),
    ):
        shown = w.Text(value=value.masked if label != "App Key" else value.reveal(), disabled=True, layout=_WIDE)
        reveal = w.ToggleButton(description="Reveal", icon="eye", value=False, disabled=label == "App Key")

        def flip(change: dict[str, Any], shown: w.Text = shown, value: Secret = value, label: str = label) -> None:
            if label != "App Key":
                shown.value = value.reveal() if change["new"] else value.masked

        reveal.observe(flip, names="value")
        rows.append(w.HBox([w.Label(label, layout=w.Layout(width="8em")), shown, reveal, copy_button()]))
    text = "\n".join(f"{label:14} {value}" for label, value in (
        ("App Key", s.app_key), ("App Secret", s.app_secret), ("Refresh Token", refresh_token)
    ))  # fmt: skip
    return Panel(w.VBox(rows), f"{text}\n[Reveal and Copy buttons: run the notebook to use them]")


def api2cart_key_form(session: Session) -> Panel:
    """Password field for the API2Cart account API key; Save stores it in .env."""
    s = session.settings
    key = w.Password(
        description="API key",
        layout=_WIDE,
        style=_LABEL,
        placeholder=f"saved ({s.api2cart_api_key}); leave empty to keep" if s.api2cart_api_key else "API2Cart API key",
    )
    button = w.Button(description="Save", button_style="primary", icon="check", layout=_FIT)
    out = w.HTML()

    def save(_: object) -> None:
        def action() -> str:
            if not key.value:
                return f"Keeping the saved key {session.settings.api2cart_api_key}."
            saved = session.save({"API2CART_API_KEY": key.value})
            return f"Saved the API2Cart API key {saved.api2cart_api_key}."

        ok = run_action(action, out, session=session, secrets=[key.value])
        if key.value:
            key.value = ""  # saved or refused, the secret leaves the widget (widget state is savable)
            if not ok:
                out.value += outcome_html(False, "The API key field was cleared: paste it again.")

    button.on_click(save)
    return Panel(
        w.VBox([w.HBox([key, button]), out]),
        "[API2Cart API key (password field) and a 'Save' button; run the notebook to use them]",
    )


# --- many sellers ---------------------------------------------------------------------------------


def seller_picker(session: Session) -> Panel:
    """A dropdown of every authorized seller (the newest chosen); the one-seller steps below it
    (add the store, refresh, shops) work on the seller it shows."""
    grants = session.sellers()
    options = [(f"{g.label} ({g.base_region or '?'})", g.id) for g in grants]
    picker = w.Dropdown(
        options=options or [("(no seller has authorized yet: notebook 02)", 0)],
        value=session.seller.id if session.seller else (options[0][1] if options else 0),
        description="Seller",
        layout=_WIDE,
        style=_LABEL,
        disabled=not options,
    )
    out = w.HTML()

    def chosen(change: dict[str, Any]) -> None:
        def action() -> str:
            grant = session.select_seller(str(change["new"]))
            return f"Working on {grant.label}."

        run_action(action, out, session=session)

    picker.observe(chosen, names="value")
    text = "\n".join(f"- {label}" for label, _ in options) or "(no seller has authorized yet)"
    return Panel(w.VBox([picker, out]), f"[seller picker; the sellers:]\n{text}")


def refresh_all_progress(session: Session, *, concurrency: int = 8, due_within: timedelta | None = None) -> Any:
    """Refresh every seller with a progress bar that fills as each new pair lands (and is saved);
    returns the :class:`~tiktok_helpers.results.RefreshSummary`."""
    total = len(session.sellers())
    bar = w.IntProgress(value=0, min=0, max=max(total, 1), description="Refreshing", layout=_WIDE, style=_LABEL)
    label = w.HTML(f"0 of {total}")
    display(Panel(w.HBox([bar, label]), f"[progress bar: {total} sellers]"))

    def landed(outcome: Any, done: int, count: int) -> None:
        bar.value = done
        label.value = html.escape(f"{done} of {count}: {outcome.seller.label} {outcome.status.value}")

    summary = session.refresh_all(concurrency=concurrency, due_within=due_within, on_progress=landed)
    bar.bar_style = "danger" if summary.failed else "success"
    return summary
