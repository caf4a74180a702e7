"""The runbook in a real browser: JupyterLab driven by Playwright through Debian's Chromium.

One JupyterLab and one Chromium serve every test of the run (tests/browser_support.py); each test
has a fresh browser context and a folder of its own under the server's root (a copy of the
notebooks with their outputs cleared, its own .env, and so its own sandbox state, grants and
kernels), so no test sees another's sellers or codes. Then it does what a person does: fills the
form in 01, opens the authorization link in 02 in a new tab, presses Authorize on the sandbox's
consent page, sees the catcher receive the code, runs the exchange in 03 and sees masked tokens and
the shops, reveals and copies a value in 04 and sees the store listed. Also a refusal (Cancel) and
the pasted-URL path. And what a person does after Run -> Run All Cells, whose last cell,
``session.close()``, stops the sandbox and the catcher: in 01 the form still saves and the settings
cell runs again; in 02 the link built before the close still opens the consent page after *Listen
again*, and Authorize pressed by hand reaches the catcher; in 04 Reveal, Copy and the API2Cart key
form's Save still work, each showing its own result and no error.

Every wait is for an event (a cell's new execution count, a text in a cell's output, the kernel
idle in the status bar), never a fixed time. A failure says which notebook and cell and what was
expected and shown, on one screen; the screenshots of every step are in a folder of this run, printed
and shown by pytest when a test fails. Skipped, with the reason, when Chromium or Playwright is
missing; ``.ci/run`` installs both.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NoReturn

import pytest

from tiktok_helpers import samples
from tiktok_helpers.drills import DRILLS, Drill, Option, find_drill

# The *_fixture names are fixtures, used by name: one Chromium and one JupyterLab per run, a browser
# context and a folder per test.
from .browser_support import (  # noqa: F401
    BROWSER_MARKS,
    Shots,
    Workspace,
    browser_context_fixture,
    chromium_fixture,
    jupyter_lab_fixture,
    screenshots_root_fixture,
    shots_fixture,
    workspace_fixture,
)
from .saved import saved_secrets, saved_values

with contextlib.suppress(ImportError):  # without Playwright every test here is skipped (BROWSER_MARKS)
    from playwright.sync_api import BrowserContext, Locator, Page, Route, expect
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = BROWSER_MARKS

# A token or code in full (masked ones read TTP_…a1b2). Shop ciphers are identifiers, not secrets.
SECRETS_IN_PAGE = re.compile(r"(?<![A-Za-z])TTP_(?!sbx\w*cipher)[A-Za-z0-9_\-]{6,}")
#: How long a step may take before the test fails: generous (a loaded machine), never waited out
#: when the step is done (every wait below returns on the event).
STEP_TIMEOUT_MS = 60_000
EVENT_TIMEOUT_MS = 20_000

#: The notebook on screen (JupyterLab keeps the others open in hidden tabs).
CURRENT = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: The status bar's kernel item once the kernel is connected and idle. (The notebook's execution
#: indicator says "idle" already while the status bar still reads "No Kernel | Initializing".)
KERNEL_IDLE = re.compile(r"\(ipykernel\) \| Idle$")
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'

#: Per cell of the notebook on screen: code cell or not, its prompt ("12", "*" or null), the text of
#: its outputs and of its error outputs.
_CELLS_JS = """(selector) => {
  const panel = document.querySelector(selector);
  if (!panel) return [];
  return [...panel.querySelectorAll('.jp-Cell')].map((cell) => {
    const prompt = cell.querySelector('.jp-InputPrompt');
    const match = /\\[(\\d+|\\*)\\]/.exec(prompt ? prompt.textContent : '');
    const area = cell.querySelector('.jp-OutputArea');
    return {
      code: cell.classList.contains('jp-CodeCell'),
      prompt: match ? match[1] : null,
      output: area ? area.innerText : '',
      errors: [...cell.querySelectorAll(STDERR)].map((e) => e.innerText),
    };
  });
}""".replace("STDERR", json.dumps(STDERR))
#: True once every target cell shows an execution count above ``floor`` and none is running, or once
#: a target that ran shows a traceback and nothing runs any more (the rest will not run).
_RAN_JS = """([selector, targets, floor]) => {
  const cells = (CELLS)(selector);
  const ran = (i) => cells[i] && /^\\d+$/.test(cells[i].prompt || '') && Number(cells[i].prompt) > floor;
  if (cells.some((c) => c.prompt === '*')) return false;
  return targets.every(ran) || targets.some((i) => ran(i) && cells[i].errors.some((e) => e.includes('Traceback')));
}""".replace("CELLS", _CELLS_JS)


def excerpt(text: str, limit: int = 600) -> str:
    """``text`` short enough for a failure message: its lines without runs of blank ones, and only
    its start and end when it is long."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}\n  [… {len(text) - limit} characters …]\n{text[-limit // 2 :]}"


def last_lines(text: str, count: int = 12) -> str:
    """The end of a traceback: where it was raised and the error's message."""
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(([f"  [… {len(lines) - count} lines …]"] if len(lines) > count else []) + lines[-count:])


def fail(message: str) -> NoReturn:
    """A failure that says what differed, with no traceback through the whole test."""
    __tracebackhide__ = True
    raise pytest.fail.Exception(message, pytrace=False) from None


def shows(text: str, expected: str | re.Pattern[str], where: str) -> None:
    """``text`` (what ``where`` shows) contains ``expected``; else a failure naming both."""
    __tracebackhide__ = True
    found = expected.search(text) if isinstance(expected, re.Pattern) else expected in text
    if not found:
        wanted = f"text matching {expected.pattern!r}" if isinstance(expected, re.Pattern) else repr(expected)
        fail(f"{where} should show {wanted}; it shows:\n{excerpt(text)}")


def hides(text: str, unwanted: str, where: str, meaning: str) -> None:
    __tracebackhide__ = True
    if unwanted in text:
        at = text.index(unwanted)
        fail(f"{where}: {meaning}: …{text[max(0, at - 80) : at + len(unwanted) + 80]}…")


@contextlib.contextmanager
def explained(what: str) -> Iterator[None]:
    """Playwright's failed expectation or timeout as one short message: what was being done, then
    Playwright's own first lines (expected and received), without its call log."""
    __tracebackhide__ = True
    try:
        yield
    except (AssertionError, PlaywrightTimeout) as error:
        said = str(error).split("Call log:")[0].strip()
        fail(f"{what}: {excerpt(said, 600)}")


# --- driving JupyterLab -----------------------------------------------------------------------------


@dataclass
class Notebook:
    """The notebook on screen, in a test's workspace: its cells by what their source contains."""

    page: Page
    workspace: Workspace
    name: str
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        cells = json.loads(self.workspace.notebook(self.name).read_text())["cells"]
        self.sources = ["".join(item["source"]) for item in cells]

    @property
    def panel(self) -> Locator:
        return self.page.locator(CURRENT)

    def index(self, text: str) -> int:
        """Index of the first cell whose source contains ``text``."""
        for index, source in enumerate(self.sources):
            if text in source:
                return index
        raise AssertionError(f"no cell of {self.name} contains {text!r}")

    def where(self, index: int, text: str = "") -> str:
        """The notebook, the cell, and its line with ``text`` (else its first line)."""
        lines = [line.strip() for line in self.sources[index].splitlines() if line.strip()]
        line = next((line for line in lines if text and text in line), lines[0] if lines else "")
        return f"{self.name}, cell {index} `{line[:70]}`"

    def cell(self, text: str) -> Locator:
        return self.panel.locator(".jp-Cell").nth(self.index(text))

    def output(self, text: str) -> Locator:
        """The output area of the first cell whose source contains ``text``."""
        return self.cell(text).locator(".jp-OutputArea")

    def cells(self) -> list[dict[str, object]]:
        return list(self.page.evaluate(_CELLS_JS, CURRENT))

    def output_of(self, text: str) -> str:
        """What the cell shows now (its outputs' text)."""
        return str(self.cells()[self.index(text)]["output"])

    def sees(self, text: str, *expected: str | re.Pattern[str], timeout: float = EVENT_TIMEOUT_MS) -> str:
        """Wait until the output of the cell whose source contains ``text`` shows each of
        ``expected``; return that output. A failure names the cell and what it showed instead."""
        __tracebackhide__ = True
        area = self.output(text)
        for wanted in expected:
            with contextlib.suppress(AssertionError):  # reported by shows(), with the cell and its output
                expect(area).to_contain_text(wanted, timeout=timeout, use_inner_text=True)
            shows(self.output_of(text), wanted, self.where(self.index(text), text))
        return self.output_of(text)

    def select(self, text: str) -> None:
        self.cell(text).locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Escape")  # command mode

    # running cells: each waits until the cells it ran show a new execution count

    def _run(self, trigger: Callable[[], None], first: int, last: int, allow_error: bool = False) -> None:
        """``trigger`` runs cells ``first`` to ``last``; wait until each code cell among them shows an
        execution count higher than any shown before (counts only grow in a kernel, and the copies
        start with none), or until one of them failed and nothing runs any more."""
        __tracebackhide__ = True
        before = self.cells()
        if len(before) != len(self.sources):
            fail(f"{self.name}: the page shows {len(before)} cells, the notebook has {len(self.sources)}")
        targets = [i for i in range(first, last + 1) if before[i]["code"]]
        floor = max((int(str(c["prompt"])) for c in before if str(c["prompt"]).isdigit()), default=0)
        trigger()
        with contextlib.suppress(PlaywrightTimeout):  # reported below, with the cells that did not run
            self.page.wait_for_function(_RAN_JS, arg=[CURRENT, targets, floor], timeout=STEP_TIMEOUT_MS, polling=100)
        after = self.cells()
        for i in targets:
            errors = [e for e in after[i]["errors"] if "Traceback" in e]  # type: ignore[attr-defined]
            if errors and not allow_error:
                fail(f"{self.where(i)} failed:\n{last_lines(errors[-1])}")
        pending = [f"  {self.where(i)}: [{after[i]['prompt'] or ' '}]" for i in targets if not _ran(after[i], floor)]
        if pending:
            fail(f"cells that did not run within {STEP_TIMEOUT_MS // 1000} s:\n" + "\n".join(pending))

    def _menu_run(self, item: str) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()

    def _shift_enter(self, times: int) -> None:
        for _ in range(times):
            self.page.keyboard.press("Shift+Enter")

    def run_all(self) -> None:
        """Run -> Run All Cells."""
        self._run(lambda: self._menu_run("Run All Cells"), 0, len(self.sources) - 1)

    def run_until(self, text: str) -> None:
        """Shift+Enter from the first cell through the cell whose source contains ``text``."""
        self.panel.locator(".jp-Cell").first.locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Escape")  # command mode
        last = self.index(text)
        self._run(lambda: self._shift_enter(last + 1), 0, last)

    def run_from(self, text: str) -> None:
        """Select the cell whose source contains ``text``; Run -> Run Selected Cell and All Below."""
        self.select(text)
        self._run(lambda: self._menu_run("Run Selected Cell and All Below"), self.index(text), len(self.sources) - 1)

    def run_through(self, first: str, last: str) -> None:
        """Select the cell whose source contains ``first`` and press Shift+Enter until the cell whose
        source contains ``last`` has run (a person running a few cells in a row)."""
        self.select(first)
        start, end = self.index(first), self.index(last)
        self._run(lambda: self._shift_enter(end - start + 1), start, end)

    def run_cell(self, text: str, allow_error: bool = False) -> None:
        """Select the cell whose source contains ``text`` and press Shift+Enter."""
        self.select(text)
        index = self.index(text)
        self._run(lambda: self._shift_enter(1), index, index, allow_error=allow_error)

    def assert_no_error(self) -> None:
        """No cell shows an error (JupyterLab renders tracebacks and stderr alike)."""
        __tracebackhide__ = True
        for i, cell in enumerate(self.cells()):
            for shown in cell["errors"]:  # type: ignore[attr-defined]
                if "Traceback" in shown or "Error" in shown:
                    fail(f"{self.where(i)} shows an error:\n{last_lines(shown)}")

    def assert_no_unmasked_token(self) -> None:
        __tracebackhide__ = True
        for i, cell in enumerate(self.cells()):
            found = SECRETS_IN_PAGE.search(str(cell["output"]))
            if found:
                fail(f"{self.where(i)} shows a token in full: {found.group(0)[:10]}…")


def _ran(cell: dict[str, object], floor: int) -> bool:
    prompt = str(cell["prompt"])
    return prompt.isdigit() and int(prompt) > floor


def open_notebook(page: Page, workspace: Workspace, name: str) -> Notebook:
    """Open ``name`` (the first by its address, the next ones by a double click in the file browser,
    as a person does) and wait until its kernel is connected and idle: a Run before that is lost."""
    workspace.kernel_started(name)
    with explained(f"opening {name}"):
        if page.url == "about:blank":
            page.goto(workspace.notebook_url(name))
        else:
            item = page.locator(".jp-DirListing-item", has=page.get_by_text(name, exact=True))
            item.dblclick()
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        expect(tab).to_have_text(name, timeout=STEP_TIMEOUT_MS)
        expect(page.locator(CURRENT).locator(".jp-Cell").first).to_be_visible(timeout=STEP_TIMEOUT_MS)
        idle = page.locator(".jp-StatusBar-TextItem", has_text=KERNEL_IDLE)
        expect(idle).to_have_count(1, timeout=STEP_TIMEOUT_MS)
    return Notebook(page, workspace, name)


def start_authorize(page: Page, workspace: Workspace, shots: Shots | None = None) -> tuple[Notebook, Page]:
    """In 02: run through the catcher, wait for it, click the link; the notebook and the consent tab."""
    notebook = open_notebook(page, workspace, "02-authorize.ipynb")
    notebook.run_until("CodePanel(session, attempt")
    notebook.sees("CodePanel(session, attempt", "waiting for the browser")
    if shots is not None:
        shots(page, "02-link-and-catcher")
    with page.context.expect_page() as new_tab:
        notebook.panel.locator("#runbook-authorize-link").click()
    return notebook, new_tab.value


def wait_for_text(page: Page, text: str, what: str) -> None:
    """Until ``text`` is on ``page`` (the consent page, the catcher's page)."""
    __tracebackhide__ = True
    with contextlib.suppress(AssertionError):  # reported by shows(), with what the page shows
        expect(page.locator("body")).to_contain_text(text, timeout=EVENT_TIMEOUT_MS)
    shows(page.locator("body").inner_text(), text, what)


def env_value(workspace: Workspace, key: str) -> str:
    """A value the runbook saved (``.env``, or the newest seller's grant under its old ``.env`` name)."""
    value = saved_values(workspace.env_file).get(key)
    assert value, f"{key} was not saved (in {workspace.env_file} or the grants beside it)"
    return value


def settings_file(workspace: Workspace) -> str:
    return workspace.env_file.read_text()


def reveal_and_copy_the_refresh_token(notebook: Notebook, shots: Shots, first_shot: str) -> None:
    """04's Refresh Token row: masked; Reveal shows the saved token and hides it again; Copy, pressed
    while masked, reveals for a moment, copies the token to the clipboard and masks it again."""
    page = notebook.page
    refresh_token = env_value(notebook.workspace, "TIKTOK_REFRESH_TOKEN")
    row = notebook.panel.locator(".widget-hbox", has=page.locator(".widget-label", has_text="Refresh Token")).first
    row.scroll_into_view_if_needed()
    shown = row.locator("input").first
    masked = re.compile(r"^TTP_…[\w-]{4}$")  # tokens are URL-safe base64: "-" and "_" too
    with explained("04, Refresh Token row: masked at first"):
        expect(shown).to_have_value(masked, timeout=EVENT_TIMEOUT_MS)
    shots(page, first_shot)
    row.get_by_role("button", name="Reveal").click()
    with explained("04, Refresh Token row: Reveal shows the saved refresh token"):
        expect(shown).to_have_value(refresh_token, timeout=EVENT_TIMEOUT_MS)
    shots(page, "04-revealed")
    row.get_by_role("button", name="Reveal").click()
    with explained("04, Refresh Token row: Reveal again masks it"):
        expect(shown).to_have_value(masked, timeout=EVENT_TIMEOUT_MS)
    row.locator("button.runbook-copy").click()
    with explained("04, Refresh Token row: Copy says Copied"):
        expect(row.locator("button.runbook-copy")).to_have_text("Copied", timeout=EVENT_TIMEOUT_MS)
    copied = page.evaluate("navigator.clipboard.readText()") == refresh_token
    assert copied, "04, Refresh Token row: Copy did not put the saved refresh token on the clipboard"
    with explained("04, Refresh Token row: masked again after Copy"):
        expect(shown).to_have_value(masked, timeout=EVENT_TIMEOUT_MS)


# --- notebook 06: the drills, as a trainee plays them ---------------------------------------------------

#: What only a verdict or an applied fix says (Verdict.lines()' labels, FixResult.text(), the error's
#: own "What to do"); none is on the page before the drill's answer is checked.
VERDICT_LABELS = ("Verdict:", "The lesson:", "Right cause:", "Right fix:", "The catalog:", "Where it happens:")
NEVER_BEFORE = ("Fix applied", "What to do", "Cause: ")
DRILLS_NOTEBOOK = "06-troubleshooting-drills.ipynb"
#: A wire panel's exchange: the method, the path and the reply's status (secrets masked: "…").
WIRE_EXCHANGE = re.compile(r"\b(GET|POST) /\S+ → HTTP \d{3}")


def lesson_shown(drill: Drill) -> str:
    """The drill's lesson as the verdict shows it (as drills.json writes it)."""
    return drill.lesson


def quiz_of(notebook: Notebook, number: int) -> Locator:
    """The output of drill ``number``'s question cell: the wire panel, the question, its buttons, the verdict."""
    return notebook.output(f"training.question({number})")


def verdict_of(quiz: Locator) -> Locator:
    """The question's verdict (its last HTML widget: empty until an answer is checked)."""
    return quiz.locator(".widget-html").last


def marks_on_screen(notebook: Notebook, drill: Drill) -> dict[str, str]:
    """Each option's text and the number (a cause) or letter (a fix) it has on the page (the order
    is the trainee's own); a failure when the question does not offer the drill's six options."""
    __tracebackhide__ = True
    quiz = quiz_of(notebook, drill.number)
    with explained(f"{DRILLS_NOTEBOOK}, drill {drill.number}: the question"):
        expect(quiz.locator("li")).to_have_count(6, timeout=EVENT_TIMEOUT_MS)
    shown = {}
    for item in quiz.locator("li").all_inner_texts():
        found = re.fullmatch(r"\s*([1-3A-C])\.\s+(.+?)\s*", item, re.DOTALL)
        if found:
            shown[found.group(2)] = found.group(1)
    offered = {option.text for option in (*drill.causes, *drill.fixes)}
    if set(shown) != offered:
        fail(f"{DRILLS_NOTEBOOK}, drill {drill.number}: the question offers {sorted(shown)}, not {sorted(offered)}")
    return shown


def giveaways(notebook: Notebook) -> dict[str, int]:
    """How often the outputs show each verdict label, applied fix and "What to do" now (the
    notebook's prose names some of them: outputs only)."""
    outputs = "\n".join(str(cell["output"]) for cell in notebook.cells())
    return {label: outputs.count(label) for label in (*VERDICT_LABELS, *NEVER_BEFORE)}


def gives_nothing_away(notebook: Notebook, drill: Drill, before: dict[str, int]) -> None:
    """Nowhere on the page a verdict or a fix for ``drill`` (its question is shown, not answered): no
    output shows a verdict label, an applied fix or a "What to do" more often than ``before`` (the
    drill's cells ran since); the page shows neither its lesson nor the catalog's cause and fix, and
    its right cause and right fix once each: as options of the question."""
    __tracebackhide__ = True
    page_text = notebook.page.locator("body").inner_text()
    where = f"{DRILLS_NOTEBOOK}, drill {drill.number} before its answer is checked"
    for label, count in giveaways(notebook).items():
        if count > before[label]:
            fail(f"{where}: the outputs show {label!r} {count} times, {before[label]} before the drill's cells ran")
    _, catalog_cause, catalog_fix = drill.cause.catalog()
    for text, what in ((drill.lesson[1:], "the lesson"), (catalog_cause, "the catalog's cause"),
                       (catalog_fix, "the catalog's fix")):  # fmt: skip
        hides(page_text, text, where, f"the page shows {what}")
    for option, what in ((drill.cause, "right cause"), (drill.fix, "right fix")):
        if page_text.count(option.text) != 1:
            fail(f"{where}: the {what}'s text is on the page {page_text.count(option.text)} times, not once "
                 f"(as an option): {option.text!r}")  # fmt: skip
    with explained(f"{where}: the question's verdict is empty"):
        expect(verdict_of(quiz_of(notebook, drill.number))).to_have_text("", timeout=EVENT_TIMEOUT_MS)


def check_answer(notebook: Notebook, drill: Drill, cause: str, fix: str) -> str:
    """Press cause ``cause`` and fix ``fix`` (the number and letter on screen), then "Check my
    answer"; wait for the verdict and return its text."""
    __tracebackhide__ = True
    quiz = quiz_of(notebook, drill.number)
    for mark in (cause, fix):
        button = quiz.locator("button.widget-toggle-button", has_text=re.compile(f"^{mark}$"))
        button.click()
        with explained(f"{DRILLS_NOTEBOOK}, drill {drill.number}: button {mark} pressed"):
            expect(button).to_have_class(re.compile(r"\bmod-active\b"), timeout=EVENT_TIMEOUT_MS)
    # The kernel writes the choice it holds: once it shows these, "Check my answer" judges them (the
    # buttons' state reaches the kernel on its own channel; a click could otherwise overtake it).
    with explained(f"{DRILLS_NOTEBOOK}, drill {drill.number}: the kernel has the choice {cause}, {fix}"):
        expect(quiz).to_contain_text(f"Your choice: cause {cause}, fix {fix}.", timeout=EVENT_TIMEOUT_MS)
    verdict = verdict_of(quiz)
    before = verdict.inner_text()
    quiz.locator("button.widget-button", has_text="Check my answer").click()
    with explained(f"{DRILLS_NOTEBOOK}, drill {drill.number}: the verdict after Check my answer"):
        expect(verdict).to_contain_text("Verdict:", timeout=EVENT_TIMEOUT_MS)
        expect(verdict).not_to_have_text(before, timeout=EVENT_TIMEOUT_MS)
    return verdict.inner_text()


def wrong_mark(shown: dict[str, str], options: tuple[Option, ...], right: Option) -> str:
    """The number or letter on screen of an option of ``options`` that is not ``right``."""
    return next(shown[option.text] for option in options if option.text != right.text)


def wire_panel_shows(panel: Locator, where: str, title: str | re.Pattern[str], secrets: set[str]) -> str:
    """A wire panel with at least one exchange: its title, the method, path and HTTP status, the masked
    form ("…"), and none of ``secrets`` (nor any token in full); returns its text."""
    __tracebackhide__ = True
    with explained(f"{where}: the wire panel"):
        expect(panel).to_contain_text(title, timeout=EVENT_TIMEOUT_MS)
        expect(panel.locator("details")).not_to_have_count(0, timeout=EVENT_TIMEOUT_MS)
    text = panel.inner_text()
    shows(text, WIRE_EXCHANGE, f"{where}, the wire panel")
    shows(text, "…", f"{where}, the wire panel (a masked value)")
    for secret in secrets:
        hides(text, secret, f"{where}, the wire panel", "a saved secret in full")
    found = SECRETS_IN_PAGE.search(text)
    if found:
        fail(f"{where}, the wire panel shows a token in full: {found.group(0)[:10]}…")
    return text


def failing_step_on_the_wire(quiz: Locator, drill: Drill, secrets: set[str]) -> None:
    """The drill's wire panel, its failure just met: the one request of the failing step, its reply
    with the failure's code (``code`` from TikTok, ``return_code`` from API2Cart), secrets masked."""
    __tracebackhide__ = True
    where = f"{DRILLS_NOTEBOOK}, drill {drill.number}"
    title = f"Drill {drill.number}: what went over the wire in the step that failed: 1 request and its reply"
    text = wire_panel_shows(quiz, where, title, secrets)
    code = drill.about.answer.removeprefix("api2cart.")
    shows(text, re.compile(rf'"(return_)?code": {re.escape(code)},'), f"{where}, the wire panel's reply")


# --- the tests ------------------------------------------------------------------------------------


@pytest.fixture
def page(workspace: Workspace, browser_context: BrowserContext) -> Page:
    """A tab of this test's own browser context (closed before the workspace's kernels stop)."""
    browser_context.set_default_timeout(STEP_TIMEOUT_MS)  # this tab's and the consent tabs' actions
    return browser_context.new_page()


NOTEBOOKS = ("00-start-here.ipynb", "01-partner-center-and-app.ipynb", "02-authorize.ipynb", "03-tokens.ipynb",
             "04-api2cart.ipynb")  # fmt: skip


def test_the_runbook_in_order(page: Page, workspace: Workspace, shots: Shots) -> None:
    workspace.start_kernels(*NOTEBOOKS)

    # 00: start here
    notebook = open_notebook(page, workspace, "00-start-here.ipynb")
    notebook.run_all()
    notebook.sees("session = open_session()", "Mode: sandbox")
    shots(page, "00-start-here")

    # 01: the form
    notebook = open_notebook(page, workspace, "01-partner-center-and-app.ipynb")
    notebook.run_until("AppForm(session)")
    form = notebook.panel.locator(".widget-vbox", has=page.get_by_role("button", name="Validate and save")).first
    for label in ("Validate and save",):  # not cut ("Validate and s…") at JupyterLab's default width
        button = form.get_by_role("button", name=label)
        assert button.evaluate("b => b.scrollWidth <= b.clientWidth"), f"01: the {label!r} button's label is cut"
    form.scroll_into_view_if_needed()
    key = form.locator(".widget-text", has_text="App Key").locator("input")
    key.fill(samples.SANDBOX_APP_SECRET)  # the secret pasted into the key field: refused, nothing saved
    form.locator("input[type=password]").fill(samples.SANDBOX_APP_SECRET)
    form.get_by_role("button", name="Validate and save").click()
    notebook.sees("AppForm(session)", "looks like the App Secret")
    shots(page, "01-form-error")
    key.fill(f"  {samples.SANDBOX_APP_KEY} ")
    form.get_by_role("button", name="United States").click()
    form.get_by_role("button", name="Validate and save").click()
    notebook.sees("AppForm(session)", "Saved to .env")
    shots(page, "01-form-saved")
    assert form.locator("input[type=password]").input_value() == "", "01: the App Secret field is not cleared"
    hides(form.inner_text(), samples.SANDBOX_APP_SECRET, "01, the form", "the App Secret is shown")
    shows(settings_file(workspace), f"TIKTOK_APP_KEY={samples.SANDBOX_APP_KEY}", "the saved .env")
    shows(settings_file(workspace), "TIKTOK_REGION=us", "the saved .env")

    # 02: the link in a new tab, Authorize, the catcher receives the code
    notebook, consent = start_authorize(page, workspace, shots)
    with explained("the consent page"):
        consent.locator("#authorize").wait_for(timeout=EVENT_TIMEOUT_MS)
    shows(consent.locator("body").inner_text(), "Sandbox", "the consent page")
    shows(consent.locator("body").inner_text(), "Sandbox US Store", "the consent page")
    consent.select_option("select[name=seller]", "us")  # log in with the US seller account
    shots(consent, "02-consent-page")
    consent.locator("#authorize").click()
    wait_for_text(consent, "You can close this tab", "the catcher's page after Authorize")
    shots(consent, "02-catcher-page")
    consent.close()
    page.bring_to_front()
    notebook.sees("CodePanel(session, attempt", "received the code")
    shots(page, "02-received")
    notebook.run_from("if panel.received")
    notebook.sees("if panel.received", "A code has already arrived")
    notebook.sees("result = panel.result(", "shop region: US", "code:        TTP_…")
    shots(page, "02-code-kept")

    # 03: exchange, masked tokens, shops
    notebook = open_notebook(page, workspace, "03-tokens.ipynb")
    notebook.run_from("from tiktok_helpers.session import open_session")
    notebook.cell("tokens_table(tokens)").scroll_into_view_if_needed()
    shots(page, "03-tokens")
    notebook.sees("tokens = session.exchange(code)", "Received tokens for Sandbox US Store")
    notebook.sees("tokens_table(tokens)", "TTP_…")
    notebook.sees("shops_table(shops)", re.compile(r"Sandbox US Store\s+\S+\s+US\s+LOCAL"))  # the shop, its cipher
    notebook.assert_no_unmasked_token()
    notebook.cell("shops_table(shops)").scroll_into_view_if_needed()
    shots(page, "03-shops")
    notebook.sees("the same code, a second time", "Invalid auth code")  # refused with the catalog's fix

    # 04: the three values (masked, Reveal, Copy), then the store through the API
    notebook = open_notebook(page, workspace, "04-api2cart.ipynb")
    notebook.run_all()
    reveal_and_copy_the_refresh_token(notebook, shots, "04-masked")
    notebook.sees("session.add_store(", "Store added; store key …")
    notebook.sees("stores_table(stores)", re.compile(r"TikTok Shop \(runbook\)\s+TikTokShop"))  # the store listed
    notebook.assert_no_unmasked_token()
    notebook.cell("stores_table(stores)").scroll_into_view_if_needed()
    shots(page, "04-store-listed")


def test_cancel_on_the_consent_page_is_reported(page: Page, workspace: Workspace, shots: Shots) -> None:
    workspace.start_kernels("02-authorize.ipynb")
    notebook, consent = start_authorize(page, workspace)
    consent.locator("#cancel").click()
    wait_for_text(consent, "Authorization refused", "the page after Cancel")
    shots(consent, "cancelled")
    consent.close()
    page.bring_to_front()
    notebook.sees("CodePanel(session, attempt", "the authorization was refused")
    notebook.run_cell("result = panel.result(", allow_error=True)
    notebook.sees("result = panel.result(", "AuthorizationDenied")
    shots(page, "refusal-in-notebook")
    notebook.sees("result = panel.result(", "Open the authorization link again and press Authorize")


def test_pasted_redirect_url(page: Page, workspace: Workspace, shots: Shots) -> None:
    workspace.start_kernels("02-authorize.ipynb")
    notebook, consent = start_authorize(page, workspace)
    # The browser is "on another machine": the consent page's redirect never reaches this
    # computer's catcher. Intercept the decision, keep where it sends the browser, and show a page.
    kept: list[str] = []

    def elsewhere(route: Route) -> None:
        reply = route.fetch(max_redirects=0)
        kept.append(reply.headers["location"])
        route.fulfill(status=200, body="elsewhere")

    consent.route(re.compile(r".*/open/authorize/decision.*"), elsewhere)
    consent.locator("#authorize").click()
    wait_for_text(consent, "elsewhere", "the page the decision redirects to")
    assert len(kept) == 1, f"the consent page's decision was sent {len(kept)} times"
    [address] = kept
    shows(address, "code=", "the address Authorize redirected to")
    shots(consent, "redirect-elsewhere")
    consent.close()
    page.bring_to_front()
    panel = notebook.output("CodePanel(session, attempt")
    panel.locator(".widget-text", has_text="Redirect URL").locator("input").fill(address)
    panel.get_by_role("button", name="Use this address").click()
    notebook.sees("CodePanel(session, attempt", "from the pasted address")
    shots(page, "pasted")
    hides(notebook.panel.inner_text(), address, "02-authorize.ipynb", "the pasted address (and its code) is echoed")
    notebook.run_from("if panel.received")
    notebook.sees("result = panel.result(", "state:       matches the link")
    shots(page, "pasted-code-kept")


def test_after_run_all_a_person_can_still_click(page: Page, workspace: Workspace, shots: Shots) -> None:
    """Run -> Run All Cells ends each notebook with session.close(), which stops the sandbox and the
    catcher; the buttons a person presses afterwards must still work (the session reopens itself)."""
    workspace.start_kernels(*NOTEBOOKS[1:])

    # 01: Run All, then the form saves, and the settings cell runs again with what was saved
    notebook = open_notebook(page, workspace, "01-partner-center-and-app.ipynb")
    notebook.run_all()
    notebook.assert_no_error()
    form = notebook.panel.locator(".widget-vbox", has=page.get_by_role("button", name="Validate and save")).first
    form.scroll_into_view_if_needed()
    shots(page, "01-after-run-all")
    form.locator(".widget-text", has_text="App Key").locator("input").fill(samples.SANDBOX_APP_KEY)
    form.locator("input[type=password]").fill(samples.SANDBOX_APP_SECRET)
    form.get_by_role("button", name="United States").click()
    form.get_by_role("button", name="Validate and save").click()
    outcome = form.locator(".widget-html").last
    with explained("01 after Run All: Validate and save"):
        expect(outcome).to_contain_text("Saved to .env", timeout=EVENT_TIMEOUT_MS)
    shots(page, "01-saved-after-run-all")
    said = outcome.inner_text()
    assert "✘" not in said and "rror" not in said, f"01 after Run All: the form says {excerpt(said, 300)!r}"
    shows(settings_file(workspace), "TIKTOK_REGION=us", "the saved .env")
    notebook.run_cell("settings_table(session.settings)")
    settings = notebook.sees("settings_table(session.settings)", "us — United States")  # just saved, not Run All's
    where = notebook.where(notebook.index("settings_table(session.settings)"), "settings_table")
    hides(settings, "Traceback", where, "an error")
    hides(settings, "Error", where, "an error")
    notebook.assert_no_error()
    shots(page, "01-settings-again")

    # 02: Run All (the sandbox approves for you), then approve by hand. session.close() stopped the
    # catcher and the sandbox (the link leads to "refused to connect"), so, as the notebook says, a
    # person presses "Listen again": the session reopens, the sandbox comes back on its port, and the
    # link built before the close opens the consent page again.
    notebook = open_notebook(page, workspace, "02-authorize.ipynb")
    notebook.run_all()
    notebook.assert_no_error()
    notebook.sees("if panel.received", "the catcher received the code")
    notebook.sees("result = panel.result(", "state:       matches the link")
    shots(page, "02-after-run-all")
    panel = notebook.output("CodePanel(session, attempt")
    panel.get_by_role("button", name="Listen again").click()
    notebook.sees("CodePanel(session, attempt", "Listening again: open the link above", "waiting for the browser")
    with page.context.expect_page() as new_tab:
        notebook.panel.locator("#runbook-authorize-link").click()
    consent = new_tab.value
    consent.select_option("select[name=seller]", "us")
    consent.locator("#authorize").click()
    wait_for_text(consent, "You can close this tab", "the catcher's page after Authorize by hand")
    shots(consent, "02-catcher-page")
    consent.close()
    page.bring_to_front()
    notebook.sees("CodePanel(session, attempt", "received the code")
    shots(page, "02-received-by-hand")
    notebook.run_cell("result = panel.result(")  # the code caught by hand is kept for the exchange
    notebook.sees("result = panel.result(", "shop region: US")
    notebook.assert_no_error()

    # 03: Run All exchanges the code caught by hand (04 needs its tokens); the wire panel shows the
    # exchange's request and reply, the code, the App Secret and the tokens masked
    code = env_value(workspace, "TIKTOK_AUTH_CODE")
    notebook = open_notebook(page, workspace, "03-tokens.ipynb")
    notebook.run_all()
    notebook.assert_no_error()
    notebook.sees("tokens = session.exchange(code)", "Received tokens for Sandbox US Store")
    secrets = saved_secrets(workspace.env_file) | {code}
    assert env_value(workspace, "TIKTOK_REFRESH_TOKEN") in secrets, "03: the exchange's tokens were not saved"
    panel = notebook.output("wire_panel(session, since=mark)")
    said = wire_panel_shows(panel, "03 after Run All", re.compile(r"What went over the wire: \d+ requests?"), secrets)
    shows(said, re.compile(r"GET /api/v2/token/get → HTTP 200"), "03 after Run All, the wire panel")
    panel.scroll_into_view_if_needed()
    shots(page, "03-wire-panel")

    # 04: Run All, then Reveal, Copy, and the API2Cart key form's Save
    notebook = open_notebook(page, workspace, "04-api2cart.ipynb")
    notebook.run_all()
    notebook.assert_no_error()
    reveal_and_copy_the_refresh_token(notebook, shots, "04-after-run-all")
    save = re.compile(r"^\s*Save\s*$")  # by its text: its role name has the icon's glyph too
    key_form = notebook.panel.locator(".widget-vbox", has=page.locator("button.widget-button", has_text=save)).last
    key_form.scroll_into_view_if_needed()
    said_by = key_form.locator(".widget-html").last
    key_form.locator("button.widget-button", has_text=save).click()  # nothing typed: keeps the key
    with explained("04 after Run All: Save with nothing typed"):
        expect(said_by).to_contain_text("Keeping the saved key", timeout=EVENT_TIMEOUT_MS)
    key_form.locator("input[type=password]").fill(samples.SANDBOX_API2CART_KEY)
    key_form.locator("button.widget-button", has_text=save).click()
    with explained("04 after Run All: Save with the key typed"):
        expect(said_by).to_contain_text("Saved the API2Cart API key", timeout=EVENT_TIMEOUT_MS)
    said = said_by.inner_text()
    assert "Keeping" not in said and "✘" not in said, f"04: not this action's message only: {excerpt(said, 300)!r}"
    assert "rror" not in said, f"04: the key form says {excerpt(said, 300)!r}"
    shows(settings_file(workspace), f"API2CART_API_KEY={samples.SANDBOX_API2CART_KEY}", "the saved .env")
    page_text = notebook.panel.inner_text()
    hides(page_text, samples.SANDBOX_API2CART_KEY, "04", "the API2Cart key is shown (not masked, field not cleared)")
    notebook.assert_no_error()
    shots(page, "04-key-saved")


def test_a_trainee_plays_two_drills(page: Page, workspace: Workspace, shots: Shots) -> None:
    """Notebook 06 as a trainee plays it: the setup, then drill 1 (a wrong answer) and an API2Cart
    drill (the right one), the answers read off the page by their text (the order is the trainee's
    own). Before an answer is checked nothing gives the verdict or the fix away; the verdict says
    right or wrong, the lesson and the right number and letter; a second answer is practice, the
    first one counts, and running the question again keeps it; the score counts first answers."""
    workspace.start_kernels(DRILLS_NOTEBOOK)
    first, api2cart = find_drill(1), next(d for d in DRILLS.values() if d.scenario.startswith("api2cart-"))
    notebook = open_notebook(page, workspace, DRILLS_NOTEBOOK)
    notebook.run_cell("training.setup(TRAINEE)")
    notebook.sees("training.setup(TRAINEE)", f"Training runbook ready (sandbox mode): {len(DRILLS)} drills")
    known = {samples.SANDBOX_APP_SECRET, samples.SANDBOX_API2CART_KEY}  # the training runbook's secrets

    # Drill 1: the four cells in a row, as a person runs them: the verdict and the fix wait for an answer
    before = giveaways(notebook)
    notebook.run_through("training.meet(1)", "training.fix(1)")
    notebook.sees("training.meet(1)", f"Drill 1 of {len(DRILLS)}, the step: {first.step}", f"code {first.about.answer}")
    notebook.sees("training.verdict(1)", "Answer the question above first")
    notebook.sees("training.fix(1)", "Answer the question above first")
    quiz = quiz_of(notebook, 1)
    failing_step_on_the_wire(quiz, first, known)
    shown = marks_on_screen(notebook, first)
    gives_nothing_away(notebook, first, before)
    quiz.scroll_into_view_if_needed()
    shots(page, "06-drill-1-question")
    right_cause, right_fix = shown[first.cause.text], shown[first.fix.text]
    cause, fix = wrong_mark(shown, first.causes, first.cause), wrong_mark(shown, first.fixes, first.fix)
    said = check_answer(notebook, first, cause, fix)
    where = f"{DRILLS_NOTEBOOK}, drill 1's verdict"
    shows(said, f"{first.name}: cause {cause} and fix {fix} (your first answer: it counts)", where)
    shows(said, "Verdict: cause wrong, fix wrong", where)
    shows(said, f"The lesson: {lesson_shown(first)}", where)
    shows(said, f"Right cause: {right_cause}. {first.cause.text}", where)
    shows(said, f"Right fix: {right_fix}. {first.fix.text}", where)
    shows(said, f"Why not cause: {cause}", where)
    shows(said, f"Why not fix: {fix} is the fix when", where)
    shots(page, "06-drill-1-wrong")
    notebook.run_through("training.verdict(1)", "training.fix(1)")
    notebook.sees("training.verdict(1)", "Verdict: cause wrong, fix wrong", f"Right fix: {right_fix}.")
    notebook.sees("training.fix(1)", f"Fix applied ({right_fix}): {first.fix.text}", "Done: Tokens received")

    # The API2Cart drill: answered right
    n = api2cart.number
    before = giveaways(notebook)
    notebook.run_through(f"training.meet({n})", f"training.question({n})")
    notebook.sees(f"training.meet({n})", f"Drill {n} of {len(DRILLS)}, the step: {api2cart.step}", "API2Cart answered")
    quiz = quiz_of(notebook, n)
    failing_step_on_the_wire(quiz, api2cart, known)
    shown = marks_on_screen(notebook, api2cart)
    gives_nothing_away(notebook, api2cart, before)
    right_cause, right_fix = shown[api2cart.cause.text], shown[api2cart.fix.text]
    said = check_answer(notebook, api2cart, right_cause, right_fix)
    where = f"{DRILLS_NOTEBOOK}, drill {n}'s verdict"
    shows(said, f"{api2cart.name}: cause {right_cause} and fix {right_fix} (your first answer: it counts)", where)
    shows(said, "Verdict: cause right, fix right", where)
    shows(said, f"The lesson: {lesson_shown(api2cart)}", where)
    shows(said, f"Right cause: {right_cause}. {api2cart.cause.text}", where)
    shows(said, f"Right fix: {right_fix}. {api2cart.fix.text}", where)
    hides(said, "Why not", where, "a reason why a right answer is wrong")
    shots(page, "06-api2cart-right")
    notebook.run_through(f"training.verdict({n})", f"training.fix({n})")
    notebook.sees(f"training.verdict({n})", "Verdict: cause right, fix right")
    notebook.sees(f"training.fix({n})", f"Fix applied ({right_fix}): {api2cart.fix.text}")
    api2cart_answer = f"cause {right_cause}, fix {right_fix}"

    # Drill 1 again, answered right now: practice; the first (wrong) answer still counts
    shown = marks_on_screen(notebook, first)
    cause, fix = wrong_mark(shown, first.causes, first.cause), wrong_mark(shown, first.fixes, first.fix)
    right_cause, right_fix = shown[first.cause.text], shown[first.fix.text]
    said = check_answer(notebook, first, right_cause, right_fix)
    where = f"{DRILLS_NOTEBOOK}, drill 1's verdict on a second answer"
    first_answer = f"cause {cause} (wrong) and fix {fix} (wrong)"
    shows(said, f"Your first answer, which counts: {first_answer}. This one is practice.", where)
    shows(said, f"cause {right_cause} and fix {right_fix} (practice: only your first answer counts)", where)
    shows(said, "Verdict: cause right, fix right", where)
    shots(page, "06-drill-1-practice")

    # Drill 1's question and verdict run again: the first answer is still there, not lost nor replaced
    notebook.run_through("training.question(1)", "training.verdict(1)")
    quiz = quiz_of(notebook, 1)
    with explained(f"{DRILLS_NOTEBOOK}, drill 1's question run again"):
        expect(verdict_of(quiz)).to_contain_text("Answered before: that first answer counts", timeout=EVENT_TIMEOUT_MS)
    said = verdict_of(quiz).inner_text()
    where = f"{DRILLS_NOTEBOOK}, drill 1's question run again"
    shows(said, f"cause {cause} and fix {fix} (your first answer: it counts)", where)
    shows(said, "Verdict: cause wrong, fix wrong", where)
    wire_panel_shows(quiz, where, "Drill 1: what went over the wire", known)
    quiz.scroll_into_view_if_needed()
    shots(page, "06-drill-1-again")
    practice = f"Practice try 1 (not counted): cause {right_cause} (right) and fix {right_fix} (right)."
    notebook.sees("training.verdict(1)", "Verdict: cause wrong, fix wrong", practice)

    # The score (first answers only), the export for the trainer, the close
    notebook.run_through("training.score()", "training.close()")
    counted = "1 right of 2 answered (cause and fix, first answers only)"
    score = notebook.sees("training.score()", counted)
    shows(score, re.compile(rf"{re.escape(first.name)}\s+cause {cause}, fix {fix}\s+wrong\s+wrong\s+\d+\s+1"),
          f"{DRILLS_NOTEBOOK}, the score")  # fmt: skip
    shows(score, re.compile(rf"{re.escape(api2cart.name)}\s+{api2cart_answer}\s+right\s+right\s+\d+\s+0"),
          f"{DRILLS_NOTEBOOK}, the score")  # fmt: skip
    notebook.cell("training.score()").scroll_into_view_if_needed()
    shots(page, "06-score")
    notebook.sees("training.export()", "Your session, for the trainer (readable by you only)")
    [exported] = (workspace.folder / "drill-results").glob("drills-*.json")
    assert exported.stat().st_mode & 0o777 == 0o600, f"the export {exported.name} is not 0600"
    document = json.loads(exported.read_text())
    counts = (document["right"], document["answered"])
    assert counts == (1, 2), f"the export says {counts[0]} right of {counts[1]} answered, not 1 of 2"
    notebook.assert_no_error()
    notebook.assert_no_unmasked_token()
