"""The runbook in a real browser: JupyterLab driven by Playwright through Debian's Chromium.

Starts JupyterLab on loopback with a temporary workspace (a copy of the notebooks, its own .env,
settings, runtime and workspace folders), then does what a person does: fills the form in 01,
opens the authorization link in 02 in a new tab, presses Authorize on the sandbox's consent page,
sees the catcher receive the code, runs the exchange in 03 and sees masked tokens and the shops.
Also a refusal (Cancel) and the pasted-URL path. And what a person does after Run -> Run All Cells,
whose last cell, ``session.close()``, stops the sandbox and the catcher (in a JupyterLab of its own,
so no other test's state is in it): in 01 the form still saves and the settings cell runs again; in
02 the panel's cell run again listens anew, the link built before the close still opens the consent
page, and Authorize pressed by hand reaches the catcher; in 04 Reveal, Copy and the API2Cart key
form's Save still work, each showing its own result and no error. Screenshots of every step go to
``$TMPDIR/tiktok-runbook-browser/<test name>/`` (or ``$RUNBOOK_SCREENSHOTS/<test name>/``); the
folder is printed, and shown by pytest when a test fails. Skipped, with the reason, when Chromium or Playwright is
missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tiktok_helpers import samples

from .conftest import PROJECT_ROOT
from .saved import saved_values

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="browser test skipped: no chromium on this machine (apt install chromium)"
    ),
    pytest.mark.skipif(sync_playwright is None, reason="browser test skipped: playwright is not installed"),
]

# Outside the repository: the test leaves no state in the repo. Override with RUNBOOK_SCREENSHOTS.
ARTIFACTS = Path(os.environ.get("RUNBOOK_SCREENSHOTS") or Path(tempfile.gettempdir()) / "tiktok-runbook-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip
# A token or code in full (masked ones read TTP_…a1b2). Shop ciphers are identifiers, not secrets.
SECRETS_IN_PAGE = re.compile(r"(?<![A-Za-z])TTP_(?!sbx\w*cipher)[A-Za-z0-9_\-]{6,}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    runtime: Path
    env_file: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


@contextlib.contextmanager
def jupyterlab(base: Path) -> Iterator[Lab]:
    """JupyterLab on loopback with everything of its own in ``base``: a copy of the notebooks, a
    sandbox-mode .env (and so its own sandbox state and grants beside it), settings, runtime and
    workspaces. Stopped on exit, with no process left behind."""
    root, runtime, settings, workspaces = (base / n for n in ("work", "runtime", "settings", "workspaces"))
    shutil.copytree(PROJECT_ROOT / "notebooks", root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for folder in (runtime, settings, workspaces):
        folder.mkdir()
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))  # every cell in the DOM, for locators
    env_file = base / ".env"
    env_file.write_text("TIKTOK_MODE=sandbox\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n")
    token, port = secrets.token_hex(16), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOK_", "API2CART_"))}
    env.update(
        TIKTOK_ENV_FILE=str(env_file),
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(workspaces),
        IPYTHONDIR=str(base / "ipython"),
    )
    log = (base / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            pytest.fail(f"JupyterLab did not start: {(base / 'jupyter.log').read_text()[-2000:]}")
        time.sleep(0.3)
    try:
        yield Lab(url, token, root, runtime, env_file)
    finally:
        with pytest.MonkeyPatch.context():
            try:
                httpx.post(f"{url}/api/shutdown?token={token}", timeout=10)
                server.wait(timeout=20)
            except (httpx.TransportError, subprocess.TimeoutExpired):
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()
        leftovers = _processes_mentioning(str(base))
        assert not leftovers, f"processes left behind: {leftovers}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One JupyterLab the module's tests share (kernels and saved values carry over between them)."""
    with jupyterlab(tmp_path_factory.mktemp("jupyterlab")) as running:
        yield running


@pytest.fixture
def fresh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab of its own, for a test that must not depend on what the others did before it."""
    with jupyterlab(tmp_path_factory.mktemp("jupyterlab-fresh")) as running:
        yield running


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None and CHROMIUM is not None
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Shots:
    """Numbered screenshots in a folder named after the test."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0
        print(f"screenshots: {self.folder}")

    def __call__(self, page: Page, step: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{step}.png"), full_page=False)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)


# --- driving JupyterLab -----------------------------------------------------------------------------


#: The status bar's kernel item once the kernel is connected and idle. (The notebook's execution
#: indicator says "idle" already while the status bar still reads "No Kernel | Initializing".)
KERNEL_IDLE = re.compile(r"\(ipykernel\) \| Idle$")


def open_notebook(page: Page, lab: Lab, name: str) -> None:
    """Open ``name`` and wait until its kernel is connected and idle: a Run before that is lost."""
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    expect(page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE)).to_have_count(1, timeout=60_000)


def wait_idle(page: Page, timeout: float = 60) -> None:
    """Until no cell shows [*] (queued or running). Waits briefly for work to start first."""
    busy = page.locator(".jp-InputPrompt", has_text="[*]")
    with contextlib.suppress(PlaywrightTimeout):
        busy.first.wait_for(state="attached", timeout=3000)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if busy.count() == 0:
            return
        time.sleep(0.2)
    raise AssertionError("cells still running")


def cell(page: Page, text: str) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell", has=page.locator(".jp-InputArea-editor", has_text=text)).first


def cell_index(lab: Lab, name: str, text: str) -> int:
    """Index of the first cell of notebook ``name`` whose source contains ``text``."""
    cells = json.loads((lab.root / name).read_text())["cells"]
    for index, item in enumerate(cells):
        if text in "".join(item["source"]):
            return index
    raise AssertionError(f"no cell of {name} contains {text!r}")


def run_cells_until(page: Page, lab: Lab, name: str, text: str) -> None:
    """Run from the first cell through the cell whose source contains ``text`` (Shift+Enter)."""
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")  # command mode
    for _ in range(cell_index(lab, name, text) + 1):
        page.keyboard.press("Shift+Enter")
    wait_idle(page)


def run_rest(page: Page) -> None:
    """Run the selected cell and every cell below it."""
    page.keyboard.press("Escape")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text="Run Selected Cell and All Below").click()
    wait_idle(page)


def select_cell(page: Page, text: str) -> None:
    target = cell(page, text)
    target.locator(".jp-InputPrompt").click()
    page.keyboard.press("Escape")


def output_text(page: Page) -> str:
    return page.locator(".jp-Notebook").inner_text()


def start_authorize(page: Page, lab: Lab, shots: Shots | None = None) -> Page:
    """In 02: run through the catcher, wait for it, click the link; return the consent tab."""
    open_notebook(page, lab, "02-authorize.ipynb")
    run_cells_until(page, lab, "02-authorize.ipynb", "CodePanel(session, attempt")
    page.wait_for_selector("text=waiting for the browser")
    if shots is not None:
        shots(page, "02-link-and-catcher")
    with page.context.expect_page() as new_tab:
        page.locator("#runbook-authorize-link").click()
    return new_tab.value


# --- the tests ------------------------------------------------------------------------------------


def run_all(page: Page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    wait_idle(page)


def env_value(lab: Lab, key: str) -> str:
    """A value the runbook saved (``.env``, or the newest seller's grant under its old ``.env`` name)."""
    value = saved_values(lab.env_file).get(key)
    assert value, f"{key} was not saved"
    return value


def reveal_and_copy_the_refresh_token(page: Page, lab: Lab, shots: Shots, first_shot: str) -> None:
    """04's Refresh Token row: masked; Reveal shows the saved token and hides it again; Copy, pressed
    while masked, reveals for a moment, copies the token to the clipboard and masks it again."""
    refresh_token = env_value(lab, "TIKTOK_REFRESH_TOKEN")
    row = page.locator(".widget-hbox", has=page.locator(".widget-label", has_text="Refresh Token")).first
    row.scroll_into_view_if_needed()
    shown = row.locator("input").first
    masked = re.compile(r"^TTP_…[\w-]{4}$")  # tokens are URL-safe base64: "-" and "_" too
    expect(shown).to_have_value(masked)
    shots(page, first_shot)
    row.get_by_role("button", name="Reveal").click()
    expect(shown).to_have_value(refresh_token)
    shots(page, "04-revealed")
    row.get_by_role("button", name="Reveal").click()
    expect(shown).to_have_value(masked)
    row.locator("button.runbook-copy").click()
    expect(row.locator("button.runbook-copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == refresh_token
    expect(shown).to_have_value(masked)


def test_the_runbook_in_order(lab: Lab, browser: Browser, shots: Shots) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()

    # 00: start here
    open_notebook(page, lab, "00-start-here.ipynb")
    run_all(page)
    assert "Mode: sandbox" in output_text(page)
    shots(page, "00-start-here")

    # 01: the form
    open_notebook(page, lab, "01-partner-center-and-app.ipynb")
    run_cells_until(page, lab, "01-partner-center-and-app.ipynb", "AppForm(session)")
    form = page.locator(".widget-vbox", has=page.get_by_role("button", name="Validate and save")).first
    for label in ("Validate and save",):  # not cut ("Validate and s…") at JupyterLab's default width
        button = form.get_by_role("button", name=label)
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth"), f"the {label!r} button's label is cut"
    form.scroll_into_view_if_needed()
    key = form.locator(".widget-text", has_text="App Key").locator("input")
    key.fill(samples.SANDBOX_APP_SECRET)  # the secret pasted into the key field: refused, nothing saved
    form.locator("input[type=password]").fill(samples.SANDBOX_APP_SECRET)
    form.get_by_role("button", name="Validate and save").click()
    page.wait_for_selector("text=looks like the App Secret")
    shots(page, "01-form-error")
    key.fill(f"  {samples.SANDBOX_APP_KEY} ")
    form.get_by_role("button", name="United States").click()
    form.get_by_role("button", name="Validate and save").click()
    page.wait_for_selector("text=Saved to .env")
    shots(page, "01-form-saved")
    assert form.locator("input[type=password]").input_value() == ""
    assert samples.SANDBOX_APP_SECRET not in form.inner_text()
    saved = lab.env_file.read_text()
    assert f"TIKTOK_APP_KEY={samples.SANDBOX_APP_KEY}" in saved
    assert "TIKTOK_REGION=us" in saved

    # 02: the link in a new tab, Authorize, the catcher receives the code
    consent = start_authorize(page, lab, shots)
    consent.wait_for_selector("#authorize")
    assert "Sandbox" in consent.locator("body").inner_text()
    assert "Sandbox US Store" in consent.locator("body").inner_text()
    consent.select_option("select[name=seller]", "us")  # log in with the US seller account
    shots(consent, "02-consent-page")
    consent.locator("#authorize").click()
    consent.wait_for_selector("text=You can close this tab")
    shots(consent, "02-catcher-page")
    consent.close()
    page.bring_to_front()
    page.wait_for_selector("text=received the code")
    shots(page, "02-received")
    select_cell(page, "if panel.received")
    run_rest(page)
    text = output_text(page)
    assert "A code has already arrived" in text
    assert "shop region: US" in text
    assert "code:        TTP_…" in text
    shots(page, "02-code-kept")

    # 03: exchange, masked tokens, shops
    open_notebook(page, lab, "03-tokens.ipynb")
    select_cell(page, "from tiktok_helpers.session import open_session")
    run_rest(page)
    text = output_text(page)
    page.locator(".jp-Cell", has_text="tokens_table(tokens)").last.scroll_into_view_if_needed()
    shots(page, "03-tokens")
    assert "Received tokens for Sandbox US Store" in text
    assert "TTP_…" in text
    assert re.search(r"Sandbox US Store\s+\S+\s+US\s+LOCAL", text), "the US shop with its cipher"
    assert not SECRETS_IN_PAGE.search(text), "an unmasked token is on the page"
    page.locator(".jp-Cell", has_text="shops_table(shops)").last.scroll_into_view_if_needed()
    shots(page, "03-shops")
    assert "Invalid auth code" in text  # the same code twice is refused with the catalog's fix

    # 04: the three values (masked, Reveal, Copy), then the store through the API
    open_notebook(page, lab, "04-api2cart.ipynb")
    run_all(page)
    reveal_and_copy_the_refresh_token(page, lab, shots, "04-masked")
    text = output_text(page)
    assert "Store added; store key …" in text
    assert re.search(r"TikTok Shop \(runbook\)\s+TikTokShop", text), "the store in the list"
    assert not SECRETS_IN_PAGE.search(text)
    page.locator(".jp-Cell", has_text="stores_table(stores)").last.scroll_into_view_if_needed()
    shots(page, "04-store-listed")
    context.close()


def test_cancel_on_the_consent_page_is_reported(lab: Lab, browser: Browser, shots: Shots) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    consent = start_authorize(page, lab)
    consent.wait_for_selector("#cancel")
    consent.locator("#cancel").click()
    consent.wait_for_selector("text=Authorization refused")
    shots(consent, "cancelled")
    consent.close()
    page.bring_to_front()
    page.wait_for_selector("text=the authorization was refused")
    select_cell(page, "result = panel.result(")
    page.keyboard.press("Shift+Enter")
    wait_idle(page)
    page.wait_for_selector("text=AuthorizationDenied")
    shots(page, "refusal-in-notebook")
    assert "Open the authorization link again and press Authorize" in output_text(page)
    context.close()


def test_pasted_redirect_url(lab: Lab, browser: Browser, shots: Shots) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    consent = start_authorize(page, lab)
    # The browser is "on another machine": the consent page's redirect never reaches this
    # computer's catcher. Intercept the decision, keep where it sends the browser, and show a page.
    kept: list[str] = []

    def elsewhere(route: Route) -> None:
        reply = route.fetch(max_redirects=0)
        kept.append(reply.headers["location"])
        route.fulfill(status=200, body="elsewhere")

    consent.route(re.compile(r".*/open/authorize/decision.*"), elsewhere)
    consent.wait_for_selector("#authorize")
    consent.locator("#authorize").click()
    consent.wait_for_selector("text=elsewhere")
    [address] = kept
    assert "code=" in address
    shots(consent, "redirect-elsewhere")
    consent.close()
    page.bring_to_front()
    page.locator(".widget-text", has_text="Redirect URL").locator("input").fill(address)
    page.get_by_role("button", name="Use this address").click()
    page.wait_for_selector("text=from the pasted address")
    shots(page, "pasted")
    assert address not in output_text(page)  # the code is not echoed
    select_cell(page, "if panel.received")
    run_rest(page)
    assert "state:       matches the link" in output_text(page)
    shots(page, "pasted-code-kept")
    context.close()


STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def assert_no_traceback(page: Page) -> None:
    """No cell of the open notebook shows an error (JupyterLab renders tracebacks as stderr)."""
    for shown in page.locator(STDERR).all_inner_texts():
        assert "Traceback" not in shown and "Error" not in shown, f"an error in the notebook: {shown[:600]}"


def cell_output(page: Page, text: str) -> Locator:
    """The output area of the first cell whose source contains ``text``."""
    return cell(page, text).locator(".jp-OutputArea")


def test_after_run_all_a_person_can_still_click(fresh_lab: Lab, browser: Browser, shots: Shots) -> None:
    """Run -> Run All Cells ends each notebook with session.close(), which stops the sandbox and the
    catcher; the buttons a person presses afterwards must still work (the session reopens itself)."""
    lab = fresh_lab  # its own .env, sandbox state and kernels: what other tests did is not here
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()

    # 01: Run All, then the form saves, and the settings cell runs again with what was saved
    open_notebook(page, lab, "01-partner-center-and-app.ipynb")
    run_all(page)
    assert_no_traceback(page)
    form = page.locator(".widget-vbox", has=page.get_by_role("button", name="Validate and save")).first
    form.scroll_into_view_if_needed()
    shots(page, "01-after-run-all")
    form.locator(".widget-text", has_text="App Key").locator("input").fill(samples.SANDBOX_APP_KEY)
    form.locator("input[type=password]").fill(samples.SANDBOX_APP_SECRET)
    form.get_by_role("button", name="United States").click()
    form.get_by_role("button", name="Validate and save").click()
    outcome = form.locator(".widget-html").last
    expect(outcome).to_contain_text("Saved to .env", timeout=20_000)
    shots(page, "01-saved-after-run-all")
    assert "✘" not in outcome.inner_text() and "rror" not in outcome.inner_text()
    assert "TIKTOK_REGION=us" in lab.env_file.read_text()
    select_cell(page, "settings_table(session.settings)")
    page.keyboard.press("Shift+Enter")
    settings = cell_output(page, "settings_table(session.settings)")
    expect(settings).to_contain_text("us — United States")  # the region just saved, not Run All's
    shown = settings.inner_text()
    assert "Traceback" not in shown and "Error" not in shown
    assert_no_traceback(page)
    shots(page, "01-settings-again")

    # 02: Run All (the sandbox approves for you), then approve by hand. session.close() stopped the
    # catcher and the sandbox (the link leads to "refused to connect"), so, as the notebook says, a
    # person presses "Listen again": the session reopens, the sandbox comes back on its port, and the
    # link built before the close opens the consent page again.
    open_notebook(page, lab, "02-authorize.ipynb")
    run_all(page)
    assert_no_traceback(page)
    assert "the catcher received the code" in output_text(page)
    assert "state:       matches the link" in output_text(page)
    shots(page, "02-after-run-all")
    panel = cell_output(page, "CodePanel(session, attempt")
    panel.get_by_role("button", name="Listen again").click()
    expect(panel).to_contain_text("Listening again: open the link above", timeout=20_000)
    expect(panel).to_contain_text("waiting for the browser", timeout=20_000)
    with page.context.expect_page() as new_tab:
        page.locator("#runbook-authorize-link").click()
    consent = new_tab.value
    consent.wait_for_selector("#authorize")
    consent.select_option("select[name=seller]", "us")
    consent.locator("#authorize").click()
    consent.wait_for_selector("text=You can close this tab")
    shots(consent, "02-catcher-page")
    consent.close()
    page.bring_to_front()
    expect(panel).to_contain_text("received the code", timeout=20_000)
    shots(page, "02-received-by-hand")
    select_cell(page, "result = panel.result(")
    page.keyboard.press("Shift+Enter")  # the code caught by hand is kept for the exchange
    expect(cell_output(page, "result = panel.result(")).to_contain_text("shop region: US")
    assert_no_traceback(page)

    # 03: Run All exchanges the code caught by hand (04 needs its tokens)
    open_notebook(page, lab, "03-tokens.ipynb")
    run_all(page)
    assert_no_traceback(page)
    assert "Received tokens for Sandbox US Store" in output_text(page)

    # 04: Run All, then Reveal, Copy, and the API2Cart key form's Save
    open_notebook(page, lab, "04-api2cart.ipynb")
    run_all(page)
    assert_no_traceback(page)
    reveal_and_copy_the_refresh_token(page, lab, shots, "04-after-run-all")
    save = re.compile(r"^\s*Save\s*$")  # by its text: its role name has the icon's glyph too
    key_form = page.locator(".widget-vbox", has=page.locator("button.widget-button", has_text=save)).last
    key_form.scroll_into_view_if_needed()
    said = key_form.locator(".widget-html").last
    key_form.locator("button.widget-button", has_text=save).click()  # nothing typed: keeps the key
    expect(said).to_contain_text("Keeping the saved key", timeout=20_000)
    key_form.locator("input[type=password]").fill(samples.SANDBOX_API2CART_KEY)
    key_form.locator("button.widget-button", has_text=save).click()
    expect(said).to_contain_text("Saved the API2Cart API key", timeout=20_000)
    assert "Keeping" not in said.inner_text() and "✘" not in said.inner_text()  # this action's message only
    assert "rror" not in said.inner_text()
    assert f"API2CART_API_KEY={samples.SANDBOX_API2CART_KEY}" in lab.env_file.read_text()
    assert samples.SANDBOX_API2CART_KEY not in output_text(page)  # masked in the message, field cleared
    assert_no_traceback(page)
    shots(page, "04-key-saved")
    context.close()
