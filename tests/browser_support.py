"""What the browser tests share (tests/test_browser.py, tests/test_docs_site.py): one Chromium and one
JupyterLab per test run, a fresh browser context and a folder of its own for every test, screenshots.

Fixtures (a test module imports the ``*_fixture`` functions; each is named without the suffix), the
session ones started once per run (per xdist worker: the browser tests are one xdist group, see
BROWSER_MARKS):

- ``chromium``: Debian's Chromium through Playwright (Playwright never downloads a browser here),
  one for the whole run even when two modules import the fixture;
- ``jupyter_lab``: JupyterLab on ``127.0.0.1``, on a port the system gives it (``--ServerApp.port=0``,
  read back from the server's runtime file), with its own token, runtime, settings, workspaces,
  config, data and IPython folders under pytest's temporary folder, so two runs on one machine never
  meet; stopped at the end, with a check that no process of it is left;
- ``workspace``: a folder of its own for one test, under the server's root: a copy of the notebooks
  with their stored outputs cleared (a cell's output on the page is this run's, never the committed
  one), ``.env.example`` (so the runbook takes that folder's ``.env`` as the project's settings file:
  each notebook's kernel runs in its notebook's folder) and a sandbox-mode ``.env`` whose callback
  URL takes a free port (``:0``). So a test's settings, sandbox state, grants, codes and kernels are
  its own, and so is its JupyterLab workspace (the layout: open tabs); its kernels are shut down
  when it ends;
- ``shots``: numbered screenshots in a folder of this run (printed), named after the test;
- ``browser_context``: a fresh context per test; when the test fails, a last screenshot,
  ``zz-failed``, of every page still open.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from .conftest import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip

#: Every browser test: the ``browser`` mark, one xdist group (one worker runs them all, one after
#: the other, sharing one Chromium and one JupyterLab under ``-n N --dist loadgroup``), skipped
#: with the reason when Chromium or Playwright is missing (``.ci/run`` installs both).
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(
        CHROMIUM is None, reason="browser test skipped: no chromium on this machine (apt install chromium)"
    ),
    pytest.mark.skipif(sync_playwright is None, reason="browser test skipped: playwright is not installed"),
]

#: The settings a test's notebooks start from: sandbox mode, the callback on a free port.
SANDBOX_ENV = "TIKTOK_MODE=sandbox\nTIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"
SERVER_START_TIMEOUT = 60.0


# --- Chromium -----------------------------------------------------------------------------------------

_RUNNING: list[tuple[Playwright, Browser]] = []  # this process's one Chromium, once started


def _stop_chromium() -> None:
    while _RUNNING:
        playwright, browser = _RUNNING.pop()
        browser.close()
        playwright.stop()


@pytest.fixture(scope="session", name="chromium")
def chromium_fixture(pytestconfig: pytest.Config) -> Browser:
    """One headless Chromium for the run, whichever module asks first (each module that imports this
    fixture has its own copy of it: they share the browser), closed when pytest ends. Every test
    opens its own context in it."""
    assert sync_playwright is not None and CHROMIUM is not None
    if not _RUNNING:
        playwright = sync_playwright().start()
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except BaseException:
            playwright.stop()
            raise
        _RUNNING.append((playwright, browser))
        pytestconfig.add_cleanup(_stop_chromium)
    return _RUNNING[0][1]


# --- screenshots ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session", name="screenshots_root")
def screenshots_root_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's screenshot folder: under pytest's temporary folder, or a new folder in
    ``$RUNBOOK_SCREENSHOTS`` when that is set; never one another run writes to."""
    chosen = os.environ.get("RUNBOOK_SCREENSHOTS")
    if chosen:
        Path(chosen).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="browser-", dir=chosen))
    return tmp_path_factory.mktemp("screenshots")


class Shots:
    """Numbered screenshots in a folder named after the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True)
        self.count = 0
        print(f"screenshots: {self.folder}")

    def __call__(self, page: Page, step: str) -> None:
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{step}.png"), full_page=False)


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:80] or "test"


@pytest.fixture(name="shots")
def shots_fixture(screenshots_root: Path, request: pytest.FixtureRequest) -> Shots:
    return Shots(screenshots_root / _safe_name(request.node.name))


@pytest.fixture(name="browser_context")
def browser_context_fixture(
    chromium: Browser, shots: Shots, request: pytest.FixtureRequest
) -> Iterator[BrowserContext]:
    """A fresh context (no cookies, storage or cache of another test), clipboard allowed. When the
    test fails, every page still open is photographed as ``zz-failed`` in the test's folder."""
    failed_before = request.session.testsfailed
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    try:
        yield context
    finally:
        if request.session.testsfailed > failed_before:  # this test's call failed (reported before teardown)
            for page in context.pages:
                with contextlib.suppress(Exception):  # the page may be gone; the failure says why
                    shots(page, "zz-failed")
        context.close()


# --- JupyterLab -----------------------------------------------------------------------------------------


@dataclass
class Lab:
    """A running JupyterLab: its address, token and the folder it serves."""

    url: str
    token: str = field(repr=False)
    root: Path
    log: Path
    client: httpx.Client = field(repr=False)
    #: kernel starts and shutdowns in flight, run beside the browser; waited for before the server stops
    background: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=4), repr=False)
    pending: list[Future[None]] = field(default_factory=list, repr=False)


def _free_of_tiktok(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if not k.startswith(("TIKTOK_", "API2CART_"))}


def _server_info(runtime: Path, server: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    """The ``jpserver-<pid>.json`` the server writes once it listens (with the port it got)."""
    info_file = runtime / f"jpserver-{server.pid}.json"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if info_file.is_file():
            with contextlib.suppress(ValueError):  # written but not complete yet
                return dict(json.loads(info_file.read_text()))
        if server.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"JupyterLab did not start (exit code {server.poll()}); the end of its log:\n{tail}")
        time.sleep(0.05)


@contextlib.contextmanager
def jupyterlab(base: Path) -> Iterator[Lab]:
    """JupyterLab on loopback with everything of its own in ``base``: the folder it serves
    (``work``), runtime, lab settings, workspaces, Jupyter config and data, IPython. No TIKTOK_* or
    API2CART_* variable reaches it or its kernels. Stopped on exit, with no process left behind."""
    root, runtime, settings, workspaces, config, data = (
        base / n for n in ("work", "runtime", "settings", "workspaces", "config", "data")
    )
    for folder in (root, runtime, settings, workspaces, config, data):
        folder.mkdir()
    notification = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))  # every cell in the DOM, for locators
    token = secrets.token_hex(16)
    env = _free_of_tiktok(dict(os.environ))
    env.update(
        JUPYTER_RUNTIME_DIR=str(runtime),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(workspaces),
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(data),
        IPYTHONDIR=str(base / "ipython"),
    )
    log = base / "jupyter.log"
    with log.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", "--ServerApp.port=0",
             "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
             "--ServerApp.open_browser=False", *(["--allow-root"] if os.geteuid() == 0 else [])],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        info = _server_info(runtime, server, log)
    except BaseException:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        raise
    url = f"http://127.0.0.1:{info['port']}"
    client = httpx.Client(base_url=url, headers={"Authorization": f"token {token}"}, timeout=30, trust_env=False)
    lab = Lab(url, token, root, log, client)
    try:
        client.get("/api/status").raise_for_status()
        yield lab
    finally:
        lab.background.shutdown(wait=True)  # the kernels' starts and shutdowns still running
        failures = [str(f.exception()) for f in lab.pending if f.exception() is not None]
        with contextlib.suppress(httpx.TransportError):
            client.post("/api/shutdown", timeout=10)  # stops the kernels left, then the server
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        client.close()
        leftovers = _processes_mentioning(str(base))
        assert not leftovers, f"JupyterLab left processes behind: {leftovers}"
        assert not failures, f"starting or stopping a test's kernels failed: {failures}"


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


@pytest.fixture(scope="session", name="jupyter_lab")
def jupyter_lab_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One JupyterLab for the run's browser tests; each test works in a folder of its own in it."""
    base = tmp_path_factory.mktemp("jupyterlab")
    print(f"JupyterLab: {base} (log: jupyter.log)")
    with jupyterlab(base) as lab:
        yield lab


# --- a test's own folder ----------------------------------------------------------------------------


def cleared_copy(source: Path, target: Path) -> None:
    """``source`` notebook without outputs and execution counts, as a cell shows before it runs."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for item in notebook["cells"]:
        if item["cell_type"] == "code":
            item["outputs"] = []
            item["execution_count"] = None
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")


@dataclass
class Workspace:
    """One test's folder in the shared JupyterLab: its notebooks, ``.env`` and kernels."""

    lab: Lab = field(repr=False)
    folder: Path
    starting: dict[str, Future[None]] = field(default_factory=dict, repr=False)

    @property
    def path(self) -> str:
        """The folder, relative to the server's root (as URLs and the REST API name it)."""
        return self.folder.relative_to(self.lab.root).as_posix()

    @property
    def env_file(self) -> Path:
        return self.folder / ".env"

    def notebook_url(self, name: str) -> str:
        """``name`` opened in a JupyterLab workspace (layout) of this test's own, which starts empty."""
        return f"{self.lab.url}/lab/workspaces/{self.folder.name}/tree/{self.path}/{name}?token={self.lab.token}"

    def notebook(self, name: str) -> Path:
        return self.folder / name

    def start_kernels(self, *names: str) -> None:
        """Start the kernels of these notebooks now, beside the browser (as if a person had opened
        them before): JupyterLab connects a notebook it opens to its running session."""
        for name in names:
            if name not in self.starting:
                future = self.lab.background.submit(self._start_session, f"{self.path}/{name}")
                self.starting[name] = future
                self.lab.pending.append(future)

    def _start_session(self, path: str) -> None:
        body = {"path": path, "type": "notebook", "name": "", "kernel": {"name": "python3"}}
        self.lab.client.post("/api/sessions", json=body).raise_for_status()

    def kernel_started(self, name: str) -> None:
        """Wait for a kernel :meth:`start_kernels` asked for (before the page opens the notebook)."""
        if name in self.starting:
            self.starting[name].result(timeout=SERVER_START_TIMEOUT)

    def stop_kernels(self) -> None:
        """Shut down this folder's kernels, beside the next test (the server waits for them at the end)."""
        for future in self.starting.values():
            with contextlib.suppress(Exception):  # a failed start is reported by the lab at the end
                future.result(timeout=SERVER_START_TIMEOUT)
        sessions = self.lab.client.get("/api/sessions").json()
        for session in sessions:
            if session["path"].startswith(f"{self.path}/"):
                future = self.lab.background.submit(self._stop_session, session["id"])
                self.lab.pending.append(future)

    def _stop_session(self, session_id: str) -> None:
        reply = self.lab.client.delete(f"/api/sessions/{session_id}")
        if reply.status_code not in (204, 404):
            reply.raise_for_status()


@pytest.fixture(name="workspace")
def workspace_fixture(jupyter_lab: Lab, request: pytest.FixtureRequest) -> Iterator[Workspace]:
    """A folder of this test's own in the run's JupyterLab (see the module's docstring)."""
    folder = Path(tempfile.mkdtemp(prefix=f"{_safe_name(request.node.name)}-", dir=jupyter_lab.root))
    for notebook in sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        cleared_copy(notebook, folder / notebook.name)
    shutil.copytree(PROJECT_ROOT / "notebooks" / "images", folder / "images")
    shutil.copyfile(PROJECT_ROOT / ".env.example", folder / ".env.example")
    (folder / ".env").write_text(SANDBOX_ENV)
    space = Workspace(jupyter_lab, folder)
    try:
        yield space
    finally:
        space.stop_kernels()
