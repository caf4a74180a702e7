"""Build the runbook as a static documentation site: the notebooks as pages, with their stored outputs.

    python3 runbook.py docs              (or: .venv/bin/python scripts/build_docs.py [--out DIR])

The site goes to ``site/`` at the project root (git-ignored), rebuilt from scratch each time:

- one page per notebook (``notebooks/NN-*.ipynb``, in order 00..05) with the outputs stored in it.
  Nothing is executed and no environment value is read, so the pages show exactly what the
  committed notebooks show: a sandbox run, secrets masked;
- widgets as their readable text: every widget output carries a ``text/plain`` fallback next to
  its ``application/vnd.jupyter.widget-view+json`` view (``tiktok_helpers/widgets.py``); a static
  page cannot render the view, so it is dropped and the text is shown;
- ``index.html`` listing the notebooks in order with one line each (the first sentence of each
  notebook's opening paragraph), a navigation bar and previous/next links on every notebook page;
- ``trainers.html``, the drills' answer key (notebook 06 shows none of it before an answer): per
  drill the right cause and fix, the lesson, the decoys and where the step is, generated at each
  build from ``tiktok_helpers/drills.json`` and the error catalog, so it never drifts from them;
- the illustrations (``notebooks/images/``) copied beside the pages;
- links rewritten: a notebook to its page, a project file (``../SECURITY.md``, ``README.md``,
  ``.env.example``) to a page of its own under ``project/`` (Markdown rendered, other text shown
  as is), followed transitively. A link to a missing file, outside the project, or to a file that
  may hold secrets (``.env``, grant databases) stops the build with the page and the link named:
  the site never has a broken link. Loopback addresses in outputs (the sandbox's authorization
  link) stay as text: the sandbox answered them only while the notebook ran;
- never through a symbolic link: a notebook, an illustration or a linked file that is a link (or
  lies in a linked folder), or a notebook or illustration that resolves outside ``notebooks/``,
  stops the build with one error naming it, and nothing is published (``images/x.svg ->
  ../../.env`` would otherwise put the App Secret on the site).

**Tool: nbconvert** (its ``HTMLExporter`` with the ``lab`` template, and a small template of our
own on top for the navigation). Why not mkdocs + mkdocs-jupyter or Jupyter Book: nbconvert is the
Jupyter project's own converter and already installed with jupyterlab (no new dependency tree, no
theme or plugin downloads); it renders exactly what JupyterLab shows, from the stored outputs; it
works offline, both at build time (templates and CSS ship in the package) and in the browser (our
template drops the CDN scripts for require.js, MathJax and Mermaid that the notebooks do not use,
and the JupyterLab CSS is written once to ``static/notebook.css``); and it builds the whole site
in under three seconds (0.9 s of conversion after a 1.7 s import). mkdocs-jupyter would add mkdocs,
a theme and nbconvert itself; Jupyter Book adds Sphinx and a large theme; both are made for sites
larger than six pages.
"""

from __future__ import annotations

import argparse
import copy
import html
import os
import posixpath
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from tiktok_helpers.drills import DRILLS

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "site"

SITE_TITLE = "TikTok Shop → API2Cart runbook"
GENERATOR = "runbook docs (scripts/build_docs.py)"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_WITHOUT_TEXT = "[interactive widget: run the notebook in JupyterLab to use it]"
#: Project files the index always offers (when present), besides what the notebooks link to.
PROJECT_FILES = {
    "README.md": "what the runbook is, its commands, the package and the command line",
    "ARCHITECTURE.md": "who owns what in `tiktok_helpers`",
    "SECURITY.md": "what is stored where, what is masked, and how to revoke access",
    ".env.example": "every setting, explained",
}
PROJECT_DIR = "project"
#: The trainers' page (the drills' answer key), a page of the site's own like the index.
TRAINERS = "trainers"
TRAINERS_TITLE = "For trainers: the drills' answer key"
IMAGE_SUFFIXES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp"}
TEXT_SUFFIXES = {".txt", ".cfg", ".toml", ".ini", ".py", ".json", ".yml", ".yaml", ".csv", ".example"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}  # noqa: S104 - a name to compare, not a bind
SANDBOX_NOTE = "a sandbox address: it answered only while the notebook ran"

# The lab template without its CDN scripts (require.js, MathJax, Mermaid, the widget manager): the
# pages load nothing from the internet. Placeholders are filled after the links are rewritten.
TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<meta name="generator" content="{{ resources.generator }}">
<link rel="icon" href="data:,">
<!-- site:css -->
{%- endblock extra_css -%}
{%- block notebook_css -%}{%- endblock notebook_css -%}
{%- block body_header -%}
{{ super() }}
<!-- site:header -->
{%- endblock body_header -%}
{%- block body_footer -%}
<!-- site:footer -->
{{ super() }}
{%- endblock body_footer -%}
"""

SITE_CSS = """
/* from nbconvert's lab template, which inlines them per page */
a.anchor-link { display: none; }
.jp-InputArea { overflow: hidden; }
.jp-InputArea-editor { overflow: hidden; }
.cm-editor.cm-s-jupyter .highlight pre {
  padding: var(--jp-code-padding) 4px; margin: 0;
  font-family: inherit; font-size: inherit; line-height: inherit; color: inherit;
}
.jp-OutputArea-output pre { line-height: inherit; font-family: inherit; }
.jp-RenderedText pre { color: var(--jp-content-font-color1); font-size: var(--jp-code-font-size); }
.jp-Collapser { display: none; }
/* the site's own */
body.jp-Notebook { max-width: 1100px; margin: 0 auto; }
main { padding: 0 1rem 2rem; }
.site-nav { font-family: var(--jp-ui-font-family); font-size: var(--jp-ui-font-size1);
  border-bottom: 1px solid var(--jp-border-color2); padding: 0.75rem 0; margin-bottom: 1rem; }
.site-nav.site-bottom { border-bottom: 0; border-top: 1px solid var(--jp-border-color2); margin: 2rem 0 0; }
.site-nav a { color: var(--jp-content-link-color); text-decoration: none; }
.site-nav a:hover { text-decoration: underline; }
.site-home { font-weight: 600; }
.site-pages { list-style: none; display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; padding: 0; margin: 0.5rem 0; }
.site-pages [aria-current="page"] { font-weight: 600; color: var(--jp-content-font-color1); }
.site-prevnext { display: flex; justify-content: space-between; gap: 1rem; }
a[data-sandbox-href] { color: var(--jp-content-font-color2); cursor: help; text-decoration: underline dotted; }
"""


class DocsError(Exception):
    """The site cannot be built; the message says which file and what to do."""


@dataclass(eq=False)  # a page is itself: compared by identity
class Page:
    path: str  # where it lands in the site, e.g. "02-authorize.html" or "project/SECURITY.html"
    source: Path
    kind: str  # "index", "notebook", "markdown" or "text"
    title: str = ""
    summary: str = ""
    notebook: nbformat.NotebookNode | None = None


@dataclass
class BuildResult:
    out: Path
    pages: list[str]
    notebooks: list[str]
    seconds: float
    problems: list[str] = field(default_factory=list)


# --- no symbolic links ------------------------------------------------------------------------------


def first_link(path: Path, start: Path) -> Path | None:
    """The first symbolic link among the steps from ``start`` (a real folder) to ``path`` (a path
    under it, not resolved), or None."""
    step = start
    for part in path.relative_to(start).parts:
        step = step / part
        if step.is_symlink():
            return step
    return None


def check_own_file(path: Path, folder: Path, what: str) -> None:
    """Refuse ``path`` (DocsError) when it, or a folder between ``folder`` and it, is a symbolic link,
    or when it resolves outside ``folder``: the site publishes files of the project as they are,
    never what a link points at (``.env``, a key, a file of another project)."""
    link = first_link(path, folder)
    if link is not None:
        raise DocsError(
            f"{what} {link} is a symbolic link (to {os.readlink(link)}); the site publishes no linked file: "
            "put the file itself there. Nothing was published"
        )
    if not path.resolve().is_relative_to(folder.resolve()):
        raise DocsError(f"{what} {path} lies outside {folder}; nothing was published")


# --- reading the notebooks -------------------------------------------------------------------------


def find_notebooks(folder: Path) -> list[Path]:
    """The runbook's notebooks in order; fails when none is there or a number in the sequence is missing."""
    if not folder.is_dir():
        raise DocsError(f"notebook folder not found: {folder}")
    found = sorted(folder.glob("[0-9][0-9]-*.ipynb"))
    if not found:
        raise DocsError(f"no notebooks (NN-name.ipynb) in {folder}")
    numbers = [int(p.name[:2]) for p in found]
    names = ", ".join(p.name for p in found)
    if len(set(numbers)) != len(numbers):
        raise DocsError(f"two notebooks share a number in {folder} ({names}): keep one")
    missing = [n for n in range(max(numbers) + 1) if n not in numbers]
    if missing:
        raise DocsError(f"notebook {missing[0]:02d} is missing from {folder} (found: {names})")
    for path in found:
        check_own_file(path, folder, "notebook")
    return found


def read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's MissingIDField/DuplicateCellId notes
            return nbformat.read(path, as_version=4)
    except (OSError, ValueError, nbformat.ValidationError) as exc:
        raise DocsError(f"cannot read notebook {path}: {exc.__class__.__name__}: {exc}") from exc


def static_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as a static page shows it: widget views replaced by their text form, no widget state."""
    nb = copy.deepcopy(notebook)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("widgets", None)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                data.setdefault("text/plain", WIDGET_WITHOUT_TEXT)
    return nb


def markdown_text(notebook: nbformat.NotebookNode) -> str:
    return "\n\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")


def first_heading(markdown: str) -> str:
    for line in markdown.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def first_sentence(markdown: str) -> str:
    """The first sentence of the first prose paragraph after the title (no heading, table, list or code)."""
    for block in re.split(r"\n\s*\n", markdown):
        text = block.strip()
        if not text or text[0] in "#|-*>`<!" or re.match(r"\d+\.\s", text):
            continue
        text = " ".join(text.split())
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a summary line carries no links
        return re.split(r"(?<=[.!?])\s+(?=[A-Z*`])", text, maxsplit=1)[0]
    return ""


def notebook_label(path: Path, title: str) -> str:
    number = path.name[:2]
    if not title:
        return f"{number} {path.stem[3:].replace('-', ' ')}"
    return title if title.startswith(number) else f"{number} {title}"


# --- the site ----------------------------------------------------------------------------------------


class SiteBuilder:
    def __init__(self, root: Path, notebooks: list[Path], out: Path) -> None:
        self.root = root.resolve()
        self.out = out
        if (notebooks[0].parent / "images").is_symlink():
            check_own_file(notebooks[0].parent / "images", notebooks[0].parent, "the illustrations folder")
        self.images = (notebooks[0].parent / "images").resolve()
        self.pages: dict[Path, Page] = {}
        self.queue: deque[Page] = deque()
        self.problems: list[str] = []
        self.sequence: list[Page] = []
        for path in notebooks:
            nb = read_notebook(path)
            text = markdown_text(nb)
            page = Page(f"{path.stem}.html", path.resolve(), "notebook", notebook=nb)
            page.title = notebook_label(path, first_heading(text))
            page.summary = first_sentence(text)
            self.pages[page.source] = page
            self.sequence.append(page)
        self.exporter = HTMLExporter(
            template_name="lab",
            extra_loaders=[DictLoader({"site.html.j2": TEMPLATE})],
            template_file="site.html.j2",
            theme="light",
        )

    # -- where a linked file goes

    def site_path(self, target: Path, link: str, page: Page) -> str | None:
        """The site path for a linked file (publishing it if needed), or None with the problem noted."""
        where = f"{page.source.relative_to(self.root) if page.source.is_relative_to(self.root) else page.source}"
        if target in self.pages:
            return self.pages[target].path
        if target.is_relative_to(self.images) and target.suffix.lower() in IMAGE_SUFFIXES and target.is_file():
            return "images/" + target.relative_to(self.images).as_posix()
        if not target.is_relative_to(self.root):
            self.problems.append(f"{where}: link {link!r} points outside the project ({target})")
            return None
        rel = target.relative_to(self.root)
        if not target.exists():
            self.problems.append(f"{where}: link {link!r} is broken: {rel} does not exist")
            return None
        name = target.name
        hidden_folder = any(part.startswith(".") for part in rel.parts[:-1])
        secret_file = (name == ".env" or name.startswith(".env.")) and name != ".env.example"
        if hidden_folder or secret_file or ".db" in name or name.startswith(".sandbox"):
            self.problems.append(f"{where}: link {link!r}: {rel} may hold secrets or local state; not published")
            return None
        if target.is_dir():
            readme = target / "README.md"
            if readme.is_file():
                return self.site_path(readme.resolve(), link, page)
            self.problems.append(f"{where}: link {link!r} points at a folder ({rel}) without a README.md")
            return None
        clean = "/".join(part.lstrip(".") or "_" for part in rel.parts)
        suffix = target.suffix.lower()
        if suffix == ".ipynb":
            self.problems.append(f"{where}: link {link!r}: {rel} is not one of the runbook's notebooks")
            return None
        if suffix in IMAGE_SUFFIXES:
            destination = self.out / PROJECT_DIR / clean
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, destination)
            return f"{PROJECT_DIR}/{clean}"
        if suffix == ".md":
            kind, path = "markdown", f"{PROJECT_DIR}/{clean[: -len('.md')]}.html"
        elif suffix in TEXT_SUFFIXES or name == ".env.example":
            kind, path = "text", f"{PROJECT_DIR}/{clean}.html"
        else:
            self.problems.append(f"{where}: link {link!r}: {rel} is neither Markdown, text nor an image")
            return None
        published = Page(path, target, kind, title=self.project_title(target, kind))
        self.pages[target] = published
        self.queue.append(published)
        return path

    def project_title(self, target: Path, kind: str) -> str:
        if kind == "markdown":
            return first_heading(target.read_text(encoding="utf-8")) or target.name
        return target.name

    # -- links

    def rewrite_links(self, text: str, page: Page) -> str:
        """Every relative href/src from the page's source folder to its place in the site."""
        base = page.source.parent

        def replace(match: re.Match[str]) -> str:
            attr, quote_char, raw = match.group(1), match.group(2), match.group(3)
            url = html.unescape(raw)
            parts = urlsplit(url)
            if parts.scheme or parts.netloc:
                if (parts.hostname or "") in LOOPBACK_HOSTS:
                    return f'data-sandbox-{attr}={quote_char}{raw}{quote_char} title="{SANDBOX_NOTE}"'
                return match.group(0)
            if not parts.path:  # "#section" or "?query"
                return match.group(0)
            if parts.path.startswith("/"):
                self.problems.append(f"{page.source.name}: link {url!r} is absolute; use a relative link")
                return match.group(0)
            linked = base / unquote(parts.path)
            link = first_link(linked, base)
            if link is not None:
                self.problems.append(f"{page.source.name}: link {url!r}: {link} is a symbolic link; not published")
                return match.group(0)
            site = self.site_path(linked.resolve(), url, page)
            if site is None:
                return match.group(0)
            new = self.relative(page.path, site) + (f"#{parts.fragment}" if parts.fragment else "")
            return f"{attr}={quote_char}{html.escape(new)}{quote_char}"

        return re.sub(r"(?<=\s)(href|src)=([\"'])(.*?)\2", replace, text)

    @staticmethod
    def relative(from_page: str, to_path: str) -> str:
        return quote(posixpath.relpath(to_path, posixpath.dirname(from_page) or "."))

    # -- navigation

    def link(self, here: Page, to: Page | None, text: str, rel: str = "") -> str:
        if to is None:
            return "<span></span>"
        attrs = f' rel="{rel}"' if rel else ""
        return f'<a href="{self.relative(here.path, to.path)}"{attrs}>{html.escape(text)}</a>'

    def navigation(self, page: Page, index: Page) -> tuple[str, str]:
        chain = [index, *self.sequence]
        prev_page = next_page = None
        if page in chain:
            at = chain.index(page)
            prev_page = chain[at - 1] if at > 0 else None
            next_page = chain[at + 1] if at + 1 < len(chain) else (index if at > 0 else None)
        else:  # a project file: back to the contents
            prev_page = index
        items = []
        for item in self.sequence:
            current = ' aria-current="page"' if item is page else ""
            href = self.relative(page.path, item.path)
            items.append(f'<li><a href="{href}"{current}>{html.escape(item.title)}</a></li>')
        prev_text = "Contents" if prev_page is index else (prev_page.title if prev_page else "")
        next_text = "Contents" if next_page is index else (next_page.title if next_page else "")
        prevnext = (
            '<div class="site-prevnext">'
            + self.link(page, prev_page, f"← {prev_text}", "prev")
            + self.link(page, next_page, f"{next_text} →", "next")
            + "</div>"
        )
        header = (
            '<nav class="site-nav site-top" aria-label="runbook">'
            f'<a class="site-home" href="{self.relative(page.path, index.path)}">{html.escape(SITE_TITLE)}</a>'
            f'<ol class="site-pages">{"".join(items)}</ol>{prevnext}</nav>'
        )
        footer = f'<nav class="site-nav site-bottom" aria-label="previous and next">{prevnext}</nav>'
        return header, footer

    # -- pages

    def index_page(self) -> Page:
        lines = [
            f"# {SITE_TITLE}",
            "",
            "The runbook's notebooks as pages, with the outputs stored from a run against the embedded "
            "sandbox (sample values; secrets masked). Forms and buttons show as text here: to use them, "
            "run the notebooks with `python3 runbook.py`.",
            "",
            "## The notebooks, in order",
            "",
        ]
        for page in self.sequence:
            rel = page.source.relative_to(self.root).as_posix()
            lines.append(f"- [{page.title}]({rel})" + (f": {page.summary}" if page.summary else ""))
        lines += [
            "",
            "## For trainers",
            "",
            f"- [{TRAINERS_TITLE}]({TRAINERS}): what notebook 06 never shows before an answer",
        ]
        extras = [name for name in PROJECT_FILES if (self.root / name).is_file()]
        if extras:
            lines += ["", "## Project files", ""]
            lines += [f"- [{name}]({name}): {PROJECT_FILES[name]}" for name in extras]
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
        page = Page("index.html", self.root / "index", "index", title=SITE_TITLE, notebook=nb)
        return page

    def trainers_page(self) -> Page:
        """The drills' answer key, from ``drills.json`` and the catalog (links to the notebooks' steps)."""
        notebooks = {page.source.name: page.source.relative_to(self.root).as_posix() for page in self.sequence}
        lines = [
            f"# {TRAINERS_TITLE}",
            "",
            "Generated from `tiktok_helpers/drills.json` and the runbook's error catalog each time the site is "
            "built, so it says what the drills judge. Notebook 06 shows none of it before the trainee answers: "
            "each drill there shows its neutral heading, the failure and the question. Per drill: the right cause "
            "and fix (the trainee sees the three causes and three fixes in an order of their own), the lesson the "
            "verdict teaches, the decoys, and where the step is. Running a class and reading a trainee's export: "
            'the README\'s section "For trainers: the drills".',
        ]
        for drill in DRILLS.values():
            notebook, section = drill.where
            place = drill.where[0]
            if notebook in notebooks:
                place = f"[{notebook}, {section}]({notebooks[notebook]}#{section.replace(' ', '-')})"
            title, cause, _ = drill.cause.catalog()
            lines += [
                "",
                f"## {drill.name}",
                "",
                f"*{drill.title}*: scenario `{drill.scenario}`; the step: {drill.step}; where: {place}.",
                "",
                f"- **Right cause:** {drill.cause.text}",
                f"- **Right fix:** {drill.fix.text}" + (f" ({drill.sandbox_note})" if drill.sandbox_note else ""),
                f"- **The lesson:** {drill.lesson[:1].upper()}{drill.lesson[1:]}",
                f"- **The catalog:** {title} ({drill.cause.label}): {cause}",
                "- **Decoy causes:** " + " / ".join(f"{o.text} ({o.label})" for o in drill.causes[1:]),
                "- **Decoy fixes:** " + " / ".join(f"{o.text} ({o.label})" for o in drill.fixes[1:]),
            ]
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(lines)))
        return Page(f"{TRAINERS}.html", self.root / TRAINERS, "index", title=TRAINERS_TITLE, notebook=nb)

    def source_notebook(self, page: Page) -> nbformat.NotebookNode:
        if page.notebook is not None:
            return static_copy(page.notebook)
        text = page.source.read_text(encoding="utf-8")
        if page.kind == "text":
            fence = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`+", text))])
            rel = page.source.relative_to(self.root).as_posix()
            text = f"# {page.source.name}\n\n`{rel}` in the project, as it is:\n\n{fence}text\n{text}\n{fence}\n"
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_markdown_cell(text))
        return nb

    def render(self, page: Page, index: Page) -> str:
        nb = self.source_notebook(page)
        nb.metadata["title"] = page.title if page is index else f"{page.title} · {SITE_TITLE}"
        resources = {"metadata": {"name": Path(page.path).stem}, "generator": GENERATOR}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            body, _ = self.exporter.from_notebook_node(nb, resources=resources)
        body = self.rewrite_links(body, page)
        header, footer = self.navigation(page, index)
        css = f'<link rel="stylesheet" href="{self.relative(page.path, "static/notebook.css")}">'
        return (
            body.replace("<!-- site:css -->", css, 1)
            .replace("<!-- site:header -->", header, 1)
            .replace("<!-- site:footer -->", footer, 1)
        )

    def stylesheet(self) -> str:
        env = self.exporter.environment
        parts = [env.loader.get_source(env, name)[0] for name in ("static/index.css", "static/theme-light.css")]
        return "\n".join([*parts, SITE_CSS])

    def build(self) -> list[str]:
        (self.out / "static").mkdir(parents=True)
        (self.out / "static" / "notebook.css").write_text(self.stylesheet(), encoding="utf-8")
        if self.images.is_dir():
            for image in sorted(self.images.rglob("*")):
                check_own_file(image, self.images, "illustration")
                if image.is_file() and image.suffix.lower() in IMAGE_SUFFIXES:
                    destination = self.out / "images" / image.relative_to(self.images)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(image, destination)
        index, trainers = self.index_page(), self.trainers_page()
        self.pages[trainers.source] = trainers  # the index links to it
        self.queue.extend([index, *self.sequence, trainers])
        written = []
        while self.queue:
            page = self.queue.popleft()
            document = self.render(page, index)
            destination = self.out / page.path
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(document, encoding="utf-8")
            written.append(page.path)
        if self.problems:
            raise DocsError("the site would have broken links:\n  " + "\n  ".join(self.problems))
        return written


def is_our_site(folder: Path) -> bool:
    index = folder / "index.html"
    try:
        return f'content="{GENERATOR}"' in index.read_text(encoding="utf-8")[:200_000]
    except OSError:
        return False


def build_site(out: Path = DEFAULT_OUT, *, notebooks: Path = NOTEBOOKS, root: Path | None = None) -> BuildResult:
    """Build the site into ``out``, replacing what a previous build left there.

    ``root`` (the project, for links to its files) defaults to the notebook folder's parent. Raises
    DocsError, with a message for a person, when a notebook is missing or unreadable, a link would
    break, or ``out`` holds something that is not a previous build (it is never deleted then).
    """
    started = time.perf_counter()
    out = out.resolve()
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not is_our_site(out))):
        raise DocsError(f"{out} exists and is not a site this command built; remove it or pick another --out")
    paths = find_notebooks(notebooks)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-building-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a site is for reading
    try:
        builder = SiteBuilder(root or notebooks.resolve().parent, paths, staging)
        pages = builder.build()
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BuildResult(out, pages, [p.name for p in paths], time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 runbook.py docs",
        description="Build the runbook as a static site from the notebooks' stored outputs (nothing is executed).",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: site/)")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="notebook folder (default: notebooks/)")
    args = parser.parse_args(argv)
    try:
        result = build_site(args.out, notebooks=args.notebooks)
    except DocsError as exc:
        print(f"[docs] FAILED: {exc}", file=sys.stderr)
        return 1
    print(
        f"[docs] built {len(result.pages)} pages from {len(result.notebooks)} notebooks in {result.seconds:.1f} s\n"
        f"[docs] site:  {result.out}\n"
        f"[docs] open:  {(result.out / 'index.html').as_uri()}\n"
        f"[docs] or serve it: python3 -m http.server --bind 127.0.0.1 --directory {result.out} 8000"
        "  then open http://127.0.0.1:8000/",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
