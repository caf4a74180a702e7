"""Execute the runbook notebooks top to bottom in sandbox mode and store their outputs.

    python3 runbook.py regenerate        (or: .venv/bin/python scripts/run_notebooks.py)

Each notebook runs in its own kernel, in order, against a fresh, isolated settings file (a
temporary ``.env`` named by ``TIKTOK_ENV_FILE``), so your own ``.env`` is neither read nor
changed. Saved widget state is removed before writing. These stored outputs are what
``pytest --nbval`` compares a fresh run with.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def isolate_environment(folder: Path) -> Path:
    """Point the runbook at a fresh .env in ``folder`` and drop any TIKTOK_/API2CART_ variables."""
    for name in list(os.environ):
        if name.startswith(("TIKTOK_", "API2CART_")):
            del os.environ[name]
    env_file = folder / ".env"
    env_file.write_text("# sandbox run of the runbook notebooks\n")
    os.environ["TIKTOK_ENV_FILE"] = str(env_file)
    return env_file


def clean(notebook: nbformat.NotebookNode) -> None:
    """Remove saved widget state and per-run metadata."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("widgets", None)


def execute(
    paths: list[Path],
    folder: Path,
    *,
    timeout: int = 180,
    after_each: Callable[[Path, nbformat.NotebookNode], None] | None = None,
) -> list[tuple[Path, nbformat.NotebookNode, float]]:
    """Run each notebook in its own kernel, in order, with settings isolated in ``folder``.

    Returns each notebook as executed (outputs and the widget state nbclient recorded) with its
    wall time in seconds.
    """
    isolate_environment(folder)
    done = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        NotebookClient(
            notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
        done.append((path, notebook, time.perf_counter() - started))
        if after_each is not None:
            after_each(path, notebook)
    return done


def run(paths: list[Path], *, write: bool, timeout: int = 180) -> dict[str, float]:
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="runbook-notebooks-") as tmp:
        for path, notebook, seconds in execute(paths, Path(tmp), timeout=timeout):
            timings[path.name] = seconds
            clean(notebook)
            if write:
                nbformat.write(notebook, path)
            print(f"{path.name}: {seconds:.1f} s{' (written)' if write else ''}", flush=True)
    return timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN-*.ipynb, in order")
    parser.add_argument("--check", action="store_true", help="execute without writing")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    run(paths, write=not args.check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
