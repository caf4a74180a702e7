"""The docs build publishes no file through a symbolic link (``python3 runbook.py docs``).

``notebooks/images/x.svg -> ../../.env`` put the App Secret and the API2Cart key in ``site/``: the
build copied every illustration as it found it. A notebook, an illustration or a linked file that is
a symbolic link (or lies in a linked folder), or that resolves outside ``notebooks/``, now stops the
build with one error naming it, and nothing is published (no site, no staging folder left).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from scripts.build_docs import DocsError, build_site, main

from .conftest import PROJECT_ROOT

#: Each builds the site from the notebooks: seconds in all, left to the full tier.
pytestmark = pytest.mark.slow

SECRET = "TIKTOK_APP_SECRET=Qx7f3a9c7f3a9c7f3a9c-not-for-the-site\nAPI2CART_API_KEY=Kvb81d2eb81d2e-not-for-the-site\n"


def project(tmp_path: Path) -> Path:
    """A copy of the project's notebooks (with their illustrations) in ``tmp_path/project``, beside
    a ``.env`` holding secrets; the notebook folder."""
    folder = tmp_path / "project" / "notebooks"
    shutil.copytree(PROJECT_ROOT / "notebooks", folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (folder.parent / ".env").write_text(SECRET)
    return folder


def nothing_published(tmp_path: Path) -> None:
    assert not (tmp_path / "site").exists()
    assert not list(tmp_path.glob(".site-building-*")), "the staging folder was left behind"


def refused(tmp_path: Path, folder: Path, *names: str) -> str:
    with pytest.raises(DocsError) as error:
        build_site(tmp_path / "site", notebooks=folder)
    message = str(error.value)
    assert "symbolic link" in message, message
    assert all(name in message for name in names), message
    assert "not-for-the-site" not in message
    nothing_published(tmp_path)
    return message


def test_an_illustration_linked_to_the_env_file_stops_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = project(tmp_path)
    (folder / "images" / "x.svg").symlink_to(Path("..") / ".." / ".env")
    out = tmp_path / "site"
    assert main(["--out", str(out), "--notebooks", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "x.svg is a symbolic link (to ../../.env)" in err, err
    assert "nothing was published" in err.lower() and "not-for-the-site" not in err
    nothing_published(tmp_path)


def test_a_link_between_illustrations_is_refused_too(tmp_path: Path) -> None:
    folder = project(tmp_path)
    (folder / "images" / "copy.svg").symlink_to("flow-overview.svg")
    refused(tmp_path, folder, "copy.svg")


def test_a_linked_folder_of_illustrations_is_refused(tmp_path: Path) -> None:
    folder = project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.svg").write_text(f"<svg><text>{SECRET}</text></svg>")
    (folder / "images" / "more").symlink_to(elsewhere)
    refused(tmp_path, folder, "more")


def test_a_linked_illustrations_folder_is_refused(tmp_path: Path) -> None:
    folder = project(tmp_path)
    real = tmp_path / "real-images"
    (folder / "images").rename(real)
    (folder / "images").symlink_to(real)
    refused(tmp_path, folder, "images")


def test_a_notebook_that_is_a_link_is_refused(tmp_path: Path) -> None:
    folder = project(tmp_path)
    notebook = sorted(folder.glob("02-*.ipynb"))[0]
    outside = tmp_path / "outside.ipynb"
    notebook.rename(outside)
    notebook.symlink_to(outside)
    refused(tmp_path, folder, notebook.name)


def test_a_linked_project_file_is_refused(tmp_path: Path) -> None:
    """A notebook's link to a file that is a symbolic link (here to a note in the project, with a
    harmless name): refused whatever it points at, with the page and the link named."""
    folder = project(tmp_path)
    private = folder.parent / "private" / "notes.md"
    private.parent.mkdir()
    private.write_text(f"# notes\n\n{SECRET}")
    (folder / "notes.md").symlink_to(private)
    path = sorted(folder.glob("01-*.ipynb"))[0]
    with open(path, encoding="utf-8") as handle:
        notebook = nbformat.read(handle, as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("See [the notes](notes.md)."))
    nbformat.write(notebook, path)
    refused(tmp_path, folder, path.name, "'notes.md'")
