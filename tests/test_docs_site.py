"""The runbook as a static site (``python3 runbook.py docs``, scripts/build_docs.py).

Builds the site once into a temporary folder from the committed notebooks (with no kernel allowed to
start and fake secrets in the environment), then checks it two ways:

- without a browser (runs in every suite, so a notebook change that breaks the site is noticed):
  every notebook has a page, in order, with a title and previous/next links; every internal href and
  src resolves to a file in the site; no ``.ipynb`` or ``.md`` link is left; widgets show their text
  form and no widget view leaks; the illustrations are there; nothing secret-looking; and the build
  refuses a missing or unreadable notebook, a broken link, or an output folder it did not make;
- in Chromium through Playwright (``browser`` mark and xdist group, the run's one Chromium, skipped
  without chromium like test_browser.py):
  the site served over loopback, every page loads with no failed request, error status or console
  error and no request outside the site, every ``<img>`` has a natural width, every internal link
  lands on a page that exists, and the next links walk the notebooks in order.
"""

from __future__ import annotations

import contextlib
import functools
import html
import re
import shutil
import threading
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager, KernelManager

from scripts.build_docs import GENERATOR, WIDGET_VIEW, BuildResult, DocsError, build_site, main
from tiktok_helpers.samples import SANDBOX_PUBLIC_VALUES

from .browser_support import BROWSER_MARKS, chromium_fixture  # noqa: F401 - the run's one Chromium, a fixture
from .conftest import PROJECT_ROOT
from .test_notebooks import SECRET_PATTERNS

with contextlib.suppress(ImportError):  # without Playwright the browser tests are skipped (BROWSER_MARKS)
    from playwright.sync_api import Browser, ConsoleMessage, Page, Response

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
IMAGES = sorted((PROJECT_ROOT / "notebooks" / "images").glob("*.svg"))
# Values that would be secrets if they reached a page: the build must not read the environment.
ENV_SECRETS = {"TIKTOK_APP_SECRET": "Qx" + "7f3a9c" * 6, "API2CART_API_KEY": "Kv" + "b81d2e" * 6}
# Sandbox values test_notebooks.py allows too: shop ciphers, numbers (ids, times), 34-hex shop ids.
SANDBOX_VALUE = re.compile(r"(ROW|TTP)_sbx\w*cipher\w*|[0-9]+|[0-9A-F]{34}")
# The pages show code cells too: notebook 01 pastes a made-up 40-character App Key to show a validation message.
PLACEHOLDER = re.compile(r"(0123456789abcdef)+[0-9a-f]{0,15}")


def needs_browser(test: Any) -> Any:
    """The marks of test_browser.py (``browser``, its xdist group, skipped without Chromium or
    Playwright), on one test: the other tests of this module need no browser."""
    for mark in BROWSER_MARKS:
        test = mark(test)
    return test


def _no_kernel(*args: object, **kwargs: object) -> None:
    raise AssertionError("the docs build started a kernel: it must show the stored outputs, not run them")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    out = tmp_path_factory.mktemp("docs") / "site"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENV_SECRETS.items():
            patch.setenv(name, value)
        patch.setattr(KernelManager, "start_kernel", _no_kernel)
        patch.setattr(AsyncKernelManager, "start_kernel", _no_kernel)
        return build_site(out)


class Links(HTMLParser):
    """The title, every href/src, ids, and the rel=prev/next links of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.rel: dict[str, list[str]] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        for attribute in ("href", "src"):
            if attribute in values:
                self.urls.append((tag, attribute, values[attribute]))
        if tag == "a" and values.get("rel") in ("prev", "next") and "href" in values:
            self.rel.setdefault(values["rel"], []).append(values["href"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def read_notebook(path: Path) -> nbformat.NotebookNode:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nbformat's notes on cell ids; test_notebooks.py checks the files
        return nbformat.read(path, as_version=4)


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def is_internal(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and bool(parts.path)


def pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


# --- without a browser ---------------------------------------------------------------------------------


def test_every_notebook_has_a_page_in_order(built: BuildResult) -> None:
    site = built.out
    assert built.notebooks == [p.name for p in NOTEBOOKS]
    expected = [f"{p.stem}.html" for p in NOTEBOOKS]
    for name in ["index.html", *expected]:
        assert (site / name).is_file(), f"missing page {name}"
    index = parse(site / "index.html")
    listed = [u for _, a, u in index.urls if a == "href" and u in expected]
    assert list(dict.fromkeys(listed)) == expected, "the index lists the notebooks out of order"
    assert index.rel.get("next") == ["00-start-here.html"] * 2  # top and bottom
    chain = ["index.html", *expected, "index.html"]
    for before, name, after in zip(chain, chain[1:], chain[2:], strict=False):
        page = parse(site / name)
        assert page.title.strip(), f"{name} has no title"
        assert set(page.rel.get("prev", [])) == {before}, f"{name}: previous link"
        assert set(page.rel.get("next", [])) == {after}, f"{name}: next link"
    for path in pages(site):
        assert parse(path).title.strip(), f"{path.relative_to(site)} has no title"


def test_every_internal_link_resolves_to_a_file_in_the_site(built: BuildResult) -> None:
    site = built.out
    broken, notebook_links = [], []
    for path in pages(site):
        for tag, attribute, url in parse(path).urls:
            if not is_internal(url):
                continue
            target_path = unquote(urlsplit(url).path)
            if target_path.endswith((".ipynb", ".md")):
                notebook_links.append(f"{path.name}: <{tag} {attribute}={url!r}>")
            target = (path.parent / target_path).resolve()
            if not (target.is_file() and target.is_relative_to(site.resolve())):
                broken.append(f"{path.relative_to(site)}: <{tag} {attribute}={url!r}>")
    assert not broken, f"links to nothing: {broken}"
    assert not notebook_links, f"links to notebooks or Markdown instead of pages: {notebook_links}"


def test_links_to_project_files_have_pages(built: BuildResult) -> None:
    security = built.out / "project" / "SECURITY.html"
    assert security.is_file()
    assert "project/SECURITY.html" in {u for _, _, u in parse(built.out / "05-keeping-it-working.html").urls}
    env_example = (built.out / "project" / "env.example.html").read_text(encoding="utf-8")
    assert "TIKTOK_MODE=" in env_example


def test_widgets_show_their_text_form(built: BuildResult) -> None:
    fallbacks = 0
    for notebook_path in NOTEBOOKS:
        text = (built.out / f"{notebook_path.stem}.html").read_text(encoding="utf-8")
        assert WIDGET_VIEW not in text and "widget-view" not in text and "model_id" not in text
        notebook = read_notebook(notebook_path)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if WIDGET_VIEW in data and "text/plain" in data:
                    fallbacks += 1
                    assert html.escape(data["text/plain"], quote=False) in text, f"{notebook_path.name}: widget text"
    assert fallbacks, "no widget output found in the notebooks: is WIDGET_VIEW still right?"


def test_pages_show_the_stored_outputs(built: BuildResult) -> None:
    """A fresh run prints other ports, states and dates: the pages carry the notebooks' own outputs."""
    for notebook_path in NOTEBOOKS:
        text = (built.out / f"{notebook_path.stem}.html").read_text(encoding="utf-8")
        notebook = read_notebook(notebook_path)
        for cell in notebook.cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream":
                    for line in output["text"].splitlines():
                        if line.strip() and "\x1b" not in line:
                            assert html.escape(line, quote=False) in text, f"{notebook_path.name}: {line!r}"


def test_illustrations_are_copied(built: BuildResult) -> None:
    assert IMAGES
    for image in IMAGES:
        copied = built.out / "images" / image.name
        assert copied.read_bytes() == image.read_bytes()


def test_no_secret_in_the_site(built: BuildResult) -> None:
    """What the build writes (pages, stylesheet); the illustrations are the committed files, compared above."""
    for path in sorted(p for p in built.out.rglob("*") if p.suffix in (".html", ".css")):
        text = path.read_text(encoding="utf-8")
        for value in ENV_SECRETS.values():
            assert value not in text, f"{path.name}: a value from the environment"
        text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]+", "data:", text)  # pictures, not text
        text = re.sub(r"state(=|:\s*)[\w\-]+", "state=STATE", text)  # the public `state` of a link
        for pattern in SECRET_PATTERNS:
            found = {m.group(0) for m in pattern.finditer(text)} - SANDBOX_PUBLIC_VALUES
            found = {f for f in found if not (SANDBOX_VALUE.fullmatch(f) or PLACEHOLDER.fullmatch(f))}
            assert not found, f"{path.relative_to(built.out)}: secret-like values {sorted(found)[:3]}"


def test_the_pages_load_nothing_from_outside(built: BuildResult) -> None:
    for path in pages(built.out):
        for tag, attribute, url in parse(path).urls:
            if tag in ("script", "link", "img", "iframe") and attribute in ("src", "href"):
                assert is_internal(url) or url.startswith("data:"), f"{path.name}: <{tag} {attribute}={url}>"


def test_runbook_has_the_docs_command(capsys: pytest.CaptureFixture[str]) -> None:
    import runbook

    assert runbook.main(["help"]) == 0
    assert "runbook.py docs" in capsys.readouterr().out


def notebook_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "project" / "notebooks"
    shutil.copytree(PROJECT_ROOT / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return folder


def test_missing_notebook_stops_the_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = notebook_copy(tmp_path)
    missing = NOTEBOOKS[2].name
    (folder / missing).unlink()
    out = tmp_path / "site"
    assert main(["--out", str(out), "--notebooks", str(folder)]) == 1
    err = capsys.readouterr().err
    assert f"notebook {missing[:2]} is missing" in err, err
    assert not out.exists()


def test_unreadable_notebook_stops_the_build_and_keeps_the_old_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = notebook_copy(tmp_path)
    (folder / NOTEBOOKS[3].name).write_text('{"cells": [ not json')
    out = tmp_path / "site"
    out.mkdir()
    previous = f'<html><head><meta content="{GENERATOR}" name="generator"/></head></html>'
    (out / "index.html").write_text(previous)
    assert main(["--out", str(out), "--notebooks", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "cannot read notebook" in err and NOTEBOOKS[3].name in err, err
    assert (out / "index.html").read_text() == previous


@pytest.mark.slow
def test_broken_and_secret_links_stop_the_build(tmp_path: Path) -> None:
    folder = notebook_copy(tmp_path)
    (folder.parent / ".env").write_text("TIKTOK_APP_SECRET=not-for-the-site\n")
    path = folder / NOTEBOOKS[1].name
    notebook = read_notebook(path)
    notebook.cells.append(nbformat.v4.new_markdown_cell("[gone](99-gone.ipynb) and [settings](../.env)"))
    nbformat.write(notebook, path)
    with pytest.raises(DocsError) as error:
        build_site(tmp_path / "site", notebooks=folder)
    message = str(error.value)
    assert "'99-gone.ipynb' is broken" in message and "'../.env'" in message and "secrets" in message
    assert not (tmp_path / "site").exists()
    assert not list(tmp_path.glob(".site-building-*")), "the staging folder was left behind"


@pytest.mark.slow
def test_rebuild_replaces_its_own_site_and_refuses_any_other_folder(tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text(f'<meta content="{GENERATOR}" name="generator"/>')
    (out / "stale.html").write_text("from an earlier build")
    build_site(out)
    assert not (out / "stale.html").exists() and (out / "00-start-here.html").is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("not a site")
    with pytest.raises(DocsError, match="not a site this command built"):
        build_site(other)
    assert (other / "keep.txt").read_text() == "not a site"


# --- in Chromium ----------------------------------------------------------------------------------------


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(built: BuildResult) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(built.out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def watched_page(browser: Browser, base: str, problems: list[str]) -> Page:
    """A page that records failed requests, error statuses, console errors and requests outside the site."""
    context = browser.new_context()

    def route(request_route: Any) -> None:
        if request_route.request.url.startswith(base):
            request_route.continue_()
        else:
            problems.append(f"request outside the site: {request_route.request.url}")
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))

    def response(answer: Response) -> None:
        if answer.status >= 400:
            problems.append(f"HTTP {answer.status}: {answer.url}")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console error: {message.text}")

    page.on("response", response)
    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return page


@needs_browser
def test_every_page_loads_with_its_images_and_links(built: BuildResult, served: str, chromium: Browser) -> None:
    problems: list[str] = []
    page = watched_page(chromium, served, problems)
    internal: dict[str, str] = {}
    for path in pages(built.out):
        name = path.relative_to(built.out).as_posix()
        response = page.goto(served + name, wait_until="load")
        assert response is not None and response.status == 200, name
        assert page.title().strip(), f"{name}: no title"
        broken = page.eval_on_selector_all(
            "img", "images => images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
        )
        assert not broken, f"{name}: images that did not load: {broken}"
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            if href.startswith(served):
                internal.setdefault(href.split("#")[0], name)
    assert len(internal) > len(NOTEBOOKS)
    for href, found_on in sorted(internal.items()):
        response = page.goto(href, wait_until="load")
        assert response is not None and response.status == 200, f"{found_on} links to {href}: not a page"
        assert page.title().strip(), f"{found_on} links to {href}: a page without a title"
    assert not problems, problems
    page.context.close()


@needs_browser
def test_next_links_walk_the_notebooks_in_order(served: str, chromium: Browser) -> None:
    problems: list[str] = []
    page = watched_page(chromium, served, problems)
    page.goto(served + "index.html")
    visited = []
    for _ in range(len(NOTEBOOKS) + 1):
        page.locator("nav.site-top a[rel=next]").click()
        page.wait_for_load_state("load")
        visited.append(page.url.removeprefix(served))
        if visited[-1] == "index.html":
            break
    assert visited == [f"{p.stem}.html" for p in NOTEBOOKS] + ["index.html"]
    assert not problems, problems
    page.context.close()
