#!/usr/bin/env python3
"""Set up and run the TikTok Shop -> API2Cart runbook. Needs only Python 3.10+.

    python3 runbook.py              start JupyterLab on the first notebook
    python3 runbook.py test         run the whole test suite (lint, types, tests, notebooks, browser)
    python3 runbook.py test --quick the edit loop: no browser, no multi-process durability, no
                                    slow tests, fewer generated examples
    python3 runbook.py regenerate   re-run the notebooks in sandbox mode and store their outputs
    python3 runbook.py docs         build the notebooks (stored outputs) as a static site in site/

Both create ``.venv`` when it is missing and install requirements.txt into it; when nothing
changed since the last install they skip straight to the work. Extra arguments go to JupyterLab
or to pytest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".runbook-installed"
PYCACHE = VENV / "pycache"
FIRST_NOTEBOOK = "notebooks/00-start-here.ipynb"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def say(message: str) -> None:
    print(f"[runbook] {message}", flush=True)


def fingerprint() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for name in ("requirements.txt", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> Path:
    """Create .venv and install what is needed, unless it is already up to date."""
    if sys.version_info < (3, 10):
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    python = BIN / "python"
    if not python.exists():
        say(f"creating {VENV.relative_to(ROOT)} ...")
        try:
            venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(VENV)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(f"Could not create .venv ({exc}). On Debian/Ubuntu install python3-venv first.")
    wanted = fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return python
    say("installing requirements (first run, or requirements changed) ...")
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
    subprocess.run([*pip, "-r", str(ROOT / "requirements.txt")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)
    say("environment ready")
    return python


def browser_note() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        say(f"browser tests: will drive {chromium} through Playwright")
    else:
        say("browser tests: SKIPPED - no chromium on this machine (Debian/Ubuntu: sudo apt install chromium)")


def workers() -> int:
    """One pytest worker more than the cores this process may use: many tests wait (on sockets,
    timers, subprocesses, a browser), and the spare worker runs meanwhile (on 2 cores, 3 workers:
    the whole suite 93 s instead of 108, the quick tier 32 s instead of 38)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return cores + 1


#: Across the cores; a group (the notebooks, the browser tests) stays in one worker, in order.
PARALLEL = ["-n", str(workers()), "--dist", "loadgroup", "--no-loadscope-reorder"]
QUICK = ["-m", "not browser and not durability and not slow"]


def pytest_arguments(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """pytest's arguments and extra environment for ``test [--quick] [pytest arguments]``."""
    quick = "--quick" in args
    rest = [a for a in args if a != "--quick"]
    chosen = any(a in ("-n", "--numprocesses", "-p") or a.startswith(("-n", "--numprocesses=")) for a in rest)
    extra = [] if chosen else PARALLEL
    if quick:
        return [*extra, *QUICK, *rest], {"RUNBOOK_TEST_TIER": "quick"}
    return [*extra, *rest], {}


def run_tests(python: Path, args: list[str]) -> int:
    pytest_args, tier = pytest_arguments(args)
    if not tier:
        browser_note()
    else:
        say(
            "quick tier: no browser, no multi-process durability, no slow tests (notebooks run again, a peer SDK), "
            "fewer generated examples"
        )
    steps = [
        ("lint (ruff)", [str(python), "-m", "ruff", "check", "."]),
        ("types (mypy)", [str(python), "-m", "mypy"]),
        ("tests (pytest)", [str(python), "-m", "pytest", *pytest_args]),
    ]
    started = time.monotonic()
    env = {**os.environ, **tier, "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    # Bytecode is kept (in .venv, out of the tree): without it every worker, kernel and subprocess
    # compiles the package and pytest rewrites every test module again (seconds each).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for title, command in steps:
        say(title)
        code = subprocess.run(command, cwd=ROOT, env=env).returncode
        if code != 0:
            say(f"FAILED: {title} (exit {code})")
            return code
    say(f"all checks passed in {time.monotonic() - started:.0f} s")
    return 0


def start_runbook(args: list[str]) -> int:
    jupyter = BIN / "jupyter"
    say(f"starting JupyterLab on {FIRST_NOTEBOOK} (Ctrl-C to stop)")
    command = [str(jupyter), "lab", FIRST_NOTEBOOK, "--ServerApp.ip=127.0.0.1", *args]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        command.append("--allow-root")  # containers and CI often run as root
    try:
        return subprocess.run(command, cwd=ROOT).returncode
    except KeyboardInterrupt:
        return 0


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__)
        return 0
    python = ensure_environment()
    if argv[:1] == ["test"]:
        return run_tests(python, argv[1:])
    if argv[:1] == ["regenerate"]:
        script = ROOT / "scripts" / "run_notebooks.py"
        return subprocess.run([str(python), str(script), *argv[1:]], cwd=ROOT).returncode
    if argv[:1] == ["docs"]:
        script = ROOT / "scripts" / "build_docs.py"
        return subprocess.run([str(python), str(script), *argv[1:]], cwd=ROOT).returncode
    if argv[:1] == ["setup"]:
        return 0
    return start_runbook(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
