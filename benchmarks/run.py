"""Benchmarks: what each step of the runbook costs, measured (issue 8).

    .venv/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/run.py            # full run (~4 minutes)
    .venv/bin/python benchmarks/run.py --quick    # fewer repeats, 200 sellers, no nbval suite (~1 min)
    .venv/bin/python benchmarks/run.py --only grants,refresh-all   # some sections only

Every figure is a median over repeated runs in this process (after warm-up calls that are not
counted), timed with ``time.perf_counter``; the repeat counts are printed with the table and kept
in the JSON (``benchmarks/results.json`` unless ``--out``). Competing variants are run
interleaved (A, B, C, then B, C, A, ...) so that drift on a busy machine hits them alike.

What is measured (see benchmarks/README.md for what each figure means):

1. token refresh: ``TokenClient.refresh`` vs the same request with raw httpx vs the peer SDK
   ``tiktok-shop-api`` (``TikTokShopAuth.refresh``), all against the in-process sandbox;
2. a signed Get Authorized Shops call: ``OpenApiClient`` vs raw httpx + ``signing.sign`` vs the
   peer SDK (``TikTokShop(...).authorization.get_authorized_shops()``);
3. the whole sandbox flow through ``Session`` (new session each time, and warm);
4. cold imports in fresh interpreters;
5. headless execution of each notebook, and the nbval suite (wall time);
6. a refresh in a file-backed sandbox holding 10, 1,000 and 10,000 grants (does it stay flat?);
7. ``Session.refresh_all`` (``refresh --all``) for 1,000 sellers behind 50 ms of injected latency,
   sequential vs 16 at a time, and the peak memory of the concurrent run.

Nothing outside ``benchmarks/`` is written: temporary ``.env`` files and sandbox state live in
temporary folders, and the import benchmark keeps its bytecode in a temporary
``PYTHONPYCACHEPREFIX``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import importlib
import importlib.util
import io
import itertools
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import httpx

from tiktok_helpers import samples
from tiktok_helpers.authlink import AuthorizationLink
from tiktok_helpers.catcher import RedirectCatcher
from tiktok_helpers.http import USER_AGENT, Transport, new_http_client
from tiktok_helpers.openapi import AUTHORIZED_SHOPS_PATH, OpenApiClient
from tiktok_helpers.results import AuthorizeEvent, AuthorizeStep, RefreshSummary
from tiktok_helpers.sandbox import Sandbox
from tiktok_helpers.session import Session, open_session
from tiktok_helpers.signing import sign
from tiktok_helpers.tokens import TokenClient

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
APP_KEY = samples.SANDBOX_APP_KEY
APP_SECRET = samples.SANDBOX_APP_SECRET
REFRESH_PATH = "/api/v2/token/refresh"

#: Targets from the issue: (result key, comparison, bound, what it means).
TARGETS: list[tuple[str, str, float, str]] = [
    ("refresh.ours_vs_raw", "<=", 1.10, "token refresh: tiktok_helpers / raw httpx (one reused client each)"),
    ("refresh.sdk_vs_ours", ">=", 10.0, "token refresh: peer SDK / tiktok_helpers (ours at least 10x faster)"),
    ("refresh.raw_ms", "<", 5.0, "token refresh with raw httpx (no delayed-ACK stall: well under 5 ms)"),
    ("flow.new_session_ms", "<", 250.0, "whole sandbox flow, new session each time"),
    ("flow.warm_session_ms", "<", 250.0, "whole sandbox flow, warm session (one sandbox and HTTP client)"),
    ("import.package_vs_httpx", "<=", 1.30, "cold `import tiktok_helpers` / cold `import httpx` (bytecode cached)"),
    ("grants.ratio_10000_vs_10", "<=", 1.50, "sandbox refresh with 10,000 grants / with 10 grants (state file)"),
    ("refresh_all.speedup", ">=", 10.0, "refresh --all, 50 ms latency: sequential / concurrency 16"),
    ("refresh_all.c16_per_s", ">=", 150.0, "refresh --all, 50 ms latency, concurrency 16: refreshes per second"),
    ("stops.catcher_stop_ms", "<", 100.0, "catcher stop() with the listener asleep (a 0.2 s poll would give ~190 ms)"),
    ("stops.sandbox_stop_ms", "<", 10.0, "sandbox stop() with a kept-alive connection open (a 50 ms poll: ~25 ms)"),
    ("stops.catcher_done_ms", "<", 100.0, "catcher wait() after the clean page is served (the grace is 500 ms)"),
]


@dataclass(frozen=True)
class Repeats:
    micro: int  # in-process HTTP calls per variant (ours, raw httpx)
    micro_warmup: int
    sdk_refresh: int  # the peer SDK builds an httpx client per refresh: ~50 ms each
    sdk_warmup: int
    flow: int
    flow_warmup: int
    imports: int
    import_warmup: int
    notebooks: int
    notebook_warmup: int
    nbval: int
    grant_calls: int  # refreshes per grant-count variant (10, 1,000, 10,000 grants), interleaved
    grant_warmup: int
    sellers: int  # sellers in the refresh --all benchmark
    fleet_runs: int  # timed concurrency-16 runs (the sequential one runs once: ~53 s for 1,000)


FULL = Repeats(300, 30, 60, 5, 30, 3, 15, 2, 3, 1, 3, 300, 30, 1_000, 3)
QUICK = Repeats(60, 10, 15, 2, 8, 1, 5, 1, 1, 0, 0, 60, 10, 200, 1)


@dataclass
class Row:
    section: str
    name: str
    samples_ms: list[float]
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: "ms" (samples in milliseconds, shown as ms or s) or another unit shown as it is ("MB").
    unit: str = "ms"

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)

    @property
    def p90(self) -> float:
        if len(self.samples_ms) < 2:
            return self.samples_ms[0]
        return statistics.quantiles(self.samples_ms, n=10, method="inclusive")[8]

    def as_json(self) -> dict[str, Any]:
        if self.unit != "ms":
            return {
                "section": self.section,
                "name": self.name,
                "n": len(self.samples_ms),
                "unit": self.unit,
                "median": round(self.median, 4),
                "p90": round(self.p90, 4),
                "min": round(min(self.samples_ms), 4),
                "max": round(max(self.samples_ms), 4),
                "note": self.note,
                **self.extra,
            }
        return {
            "section": self.section,
            "name": self.name,
            "n": len(self.samples_ms),
            "median_ms": round(self.median, 4),
            "p90_ms": round(self.p90, 4),
            "min_ms": round(min(self.samples_ms), 4),
            "max_ms": round(max(self.samples_ms), 4),
            "note": self.note,
            **self.extra,
        }


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)  # the values the targets are judged on
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row


# --------------------------------------------------------------------------------- timing helpers


def interleaved(variants: dict[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Time each variant ``repeats`` times (ms), rotating the order every round; warm up first."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    timings: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    for i in range(repeats):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            call = variants[name]
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000.0)
    return timings


def fmt_ms(value: float) -> str:
    if value >= 1000.0:
        return f"{value / 1000.0:.2f} s"
    if value >= 100.0:
        return f"{value:.0f} ms"
    if value >= 10.0:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def fmt_value(value: float, unit: str) -> str:
    return fmt_ms(value) if unit == "ms" else f"{value:.1f} {unit}"


def fmt_figure(key: str, value: float) -> str:
    """A judged figure as the targets table shows it (the unit follows from the key)."""
    if key.endswith("_ms"):
        return f"{value:.2f} ms"
    if key.endswith("_per_s"):
        return f"{value:.0f} /s"
    return f"{value:.2f}x"


def issue_refresh_token(sandbox: Sandbox[Any]) -> tuple[str, str]:
    """A fresh grant straight from the sandbox state (setup, not timed): (access, refresh)."""
    code = sandbox.state.issue_code(APP_KEY, "global")
    data = sandbox.state.token_get(
        {"app_key": APP_KEY, "app_secret": APP_SECRET, "auth_code": code, "grant_type": "authorized_code"}
    )
    return str(data["access_token"]), str(data["refresh_token"])


def load_sdk() -> ModuleType | None:
    try:
        return importlib.import_module("tiktok_shop_api")
    except ImportError:
        return None


# --------------------------------------------------------------------------------- 1. token refresh


def bench_refresh(report: Report, reps: Repeats, *, state_file: bool) -> None:
    """Refresh through TokenClient vs raw httpx vs the peer SDK.

    The sandbox rotates the refresh token on every refresh, so each variant has its own grant and
    chains it: every call sends the refresh token the previous call of that variant received.
    """
    section = "1. token refresh" + (" (sandbox with state file)" if state_file else "")
    with contextlib.ExitStack() as stack:
        state_path = None
        if state_file:
            state_path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-"))) / "state.db"
        sandbox = stack.enter_context(Sandbox(state_path=state_path))
        base = sandbox.base_url

        ours_client = stack.enter_context(TokenClient(APP_KEY, APP_SECRET, Transport(base)))
        ours_token = [issue_refresh_token(sandbox)[1]]

        def ours() -> None:
            ours_token[0] = ours_client.refresh(ours_token[0]).refresh_token.reveal()

        raw_client = stack.enter_context(httpx.Client(timeout=15.0, headers={"user-agent": USER_AGENT}))
        raw_token = [issue_refresh_token(sandbox)[1]]
        raw_url = f"{base}{REFRESH_PATH}"

        def raw() -> None:
            params = {
                "app_key": APP_KEY,
                "app_secret": APP_SECRET,
                "refresh_token": raw_token[0],
                "grant_type": "refresh_token",
            }
            body = raw_client.get(raw_url, params=params).json()
            if body.get("code") != 0:
                raise RuntimeError(f"raw refresh failed: {body.get('message')}")
            raw_token[0] = body["data"]["refresh_token"]

        variants: dict[str, Callable[[], object]] = {"tiktok_helpers": ours, "raw httpx": raw}
        timings = interleaved(variants, reps.micro, reps.micro_warmup)
        ours_row = report.add(Row(section, "TokenClient.refresh (one client reused)", timings["tiktok_helpers"]))
        raw_row = report.add(Row(section, "raw httpx GET, one reused httpx.Client", timings["raw httpx"]))
        ratio = ours_row.median / raw_row.median
        ours_row.note = f"{ratio:.2f}x raw httpx"
        ours_row.extra["ratio_vs_raw"] = round(ratio, 4)
        key = "refresh_state_file" if state_file else "refresh"
        report.figures[f"{key}.ours_ms"] = ours_row.median
        report.figures[f"{key}.raw_ms"] = raw_row.median
        report.figures[f"{key}.ours_vs_raw"] = ratio
        if state_file:
            return

        sdk = load_sdk()
        if sdk is None:
            report.notes.append("tiktok-shop-api is not installed: peer SDK rows skipped")
            return
        # base_url is a constructor argument of TikTokShopAuth: no host constant to monkeypatch.
        auth = sdk.TikTokShopAuth(APP_KEY, APP_SECRET, samples.SANDBOX_SERVICE_ID, base_url=base)
        sdk_token = [issue_refresh_token(sandbox)[1]]

        def peer() -> None:
            sdk_token[0] = auth.refresh(sdk_token[0]).refresh_token

        sdk_times = interleaved({"sdk": peer}, reps.sdk_refresh, reps.sdk_warmup)["sdk"]
        sdk_row = report.add(
            Row(section, "tiktok-shop-api TikTokShopAuth.refresh (new httpx.Client per call)", sdk_times)
        )
        speedup = sdk_row.median / ours_row.median
        sdk_row.note = f"ours {speedup:.1f}x faster"
        sdk_row.extra["ours_speedup"] = round(speedup, 2)
        report.figures["refresh.sdk_ms"] = sdk_row.median
        report.figures["refresh.sdk_vs_ours"] = speedup


# --------------------------------------------------------------------------------- 2. authorized shops


def bench_shops(report: Report, reps: Repeats) -> None:
    section = "2. Get Authorized Shops (signed)"
    with contextlib.ExitStack() as stack:
        sandbox = stack.enter_context(Sandbox())
        base = sandbox.base_url
        access, _ = issue_refresh_token(sandbox)

        ours_client = stack.enter_context(OpenApiClient(APP_KEY, APP_SECRET, access, Transport(base)))

        def ours() -> None:
            if not ours_client.get_authorized_shops():
                raise RuntimeError("no shops")

        raw_client = stack.enter_context(httpx.Client(timeout=15.0, headers={"user-agent": USER_AGENT}))
        raw_url = f"{base}{AUTHORIZED_SHOPS_PATH}"
        raw_headers = {"x-tts-access-token": access, "content-type": "application/json"}

        def raw() -> None:
            params = {"app_key": APP_KEY, "timestamp": str(int(time.time()))}
            params["sign"] = sign(AUTHORIZED_SHOPS_PATH, params, APP_SECRET)
            body = raw_client.get(raw_url, params=params, headers=raw_headers).json()
            if body.get("code") != 0 or not body["data"]["shops"]:
                raise RuntimeError(f"raw shops failed: {body.get('message')}")

        variants: dict[str, Callable[[], object]] = {"ours": ours, "raw": raw}
        sdk = load_sdk()
        if sdk is not None:
            peer_client = sdk.TikTokShop(APP_KEY, APP_SECRET, access, base_url=base)
            stack.callback(peer_client.close)

            def peer() -> None:
                reply = peer_client.authorization.get_authorized_shops()
                if reply is None or not reply.data.shops:
                    raise RuntimeError("peer SDK: no shops")

            variants["sdk"] = peer
        timings = interleaved(variants, reps.micro, reps.micro_warmup)
        ours_row = report.add(Row(section, "OpenApiClient.get_authorized_shops", timings["ours"]))
        raw_row = report.add(Row(section, "raw httpx + signing.sign, one reused client", timings["raw"]))
        ratio = ours_row.median / raw_row.median
        ours_row.note = f"{ratio:.2f}x raw httpx"
        ours_row.extra["ratio_vs_raw"] = round(ratio, 4)
        report.figures["shops.ours_ms"] = ours_row.median
        report.figures["shops.raw_ms"] = raw_row.median
        report.figures["shops.ours_vs_raw"] = ratio
        if "sdk" in timings:
            sdk_row = report.add(
                Row(section, "tiktok-shop-api TikTokShop.authorization.get_authorized_shops", timings["sdk"])
            )
            sdk_row.note = f"{sdk_row.median / ours_row.median:.2f}x ours"
            report.figures["shops.sdk_ms"] = sdk_row.median
            report.figures["shops.sdk_vs_ours"] = sdk_row.median / ours_row.median


# --------------------------------------------------------------------------------- 3. the whole flow

FLOW_STEPS = ("link", "consent + parse", "save code", "exchange", "shops", "api2cart add", "list")
#: The Session.authorize events that end each of the first steps above.
_MARKED: Final = (
    AuthorizeStep.LINK,
    AuthorizeStep.CAUGHT,
    AuthorizeStep.CODE_SAVED,
    AuthorizeStep.EXCHANGED,
    AuthorizeStep.VERIFIED,
)


def _nobody_pastes(link: AuthorizationLink) -> str:
    raise RuntimeError("the sandbox autopilot answers the consent page; nobody is asked")


def run_flow(session: Session) -> list[float]:
    """Session.authorize (link -> consent by the sandbox autopilot, no catcher -> code saved ->
    exchange -> shops), then API2Cart add -> list. Each step is timed from the flow's own events."""
    marks = [time.perf_counter()]

    def mark(event: AuthorizeEvent) -> None:
        if event.step in _MARKED:
            marks.append(time.perf_counter())

    result = session.authorize(prompt=_nobody_pastes, sandbox_decision="authorize", on_progress=mark)
    session.add_store(custom_label="benchmark")
    marks.append(time.perf_counter())
    stores = session.list_stores()
    marks.append(time.perf_counter())
    if not result.shops or [s.custom_label for s in stores] != ["benchmark"]:
        raise RuntimeError("the flow did not end with one shop list and one store")
    if len(marks) != len(FLOW_STEPS) + 1:
        raise RuntimeError(f"expected {len(FLOW_STEPS)} timed steps, got {len(marks) - 1}")
    return [(b - a) * 1000.0 for a, b in itertools.pairwise(marks)]


@contextlib.contextmanager
def fresh_env() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        env = Path(tmp) / ".env"
        env.write_text("# benchmark run\n")
        yield env


def flow_new_session() -> tuple[float, list[float]]:
    """A fresh .env, open_session() (starts its own sandbox and HTTP client), the flow, close."""
    with fresh_env() as env:
        started = time.perf_counter()
        session = open_session(env, environ={})
        opened = time.perf_counter()
        try:
            steps = run_flow(session)
        finally:
            closing = time.perf_counter()
            session.close()
            ended = time.perf_counter()
    return (ended - started) * 1000.0, [(opened - started) * 1000.0, *steps, (ended - closing) * 1000.0]


def bench_flow(report: Report, reps: Repeats) -> None:
    section = "3. whole sandbox flow"
    new_totals: list[float] = []
    new_steps: list[list[float]] = []
    for i in range(reps.flow_warmup + reps.flow):
        total, steps = flow_new_session()
        if i >= reps.flow_warmup:
            new_totals.append(total)
            new_steps.append(steps)

    warm_totals: list[float] = []
    warm_steps: list[list[float]] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-sandbox-")))
        # Like a notebook's session: the sandbox keeps its state in an SQLite file (WAL).
        sandbox = stack.enter_context(Sandbox(state_path=tmp / ".sandbox" / "state.db"))
        http = stack.enter_context(httpx.Client(timeout=15.0, headers={"user-agent": USER_AGENT}))
        environ = {"TIKTOK_SANDBOX_URL": sandbox.base_url}
        for i in range(reps.flow_warmup + reps.flow):
            with fresh_env() as env:
                started = time.perf_counter()
                with open_session(env, environ=environ, http=http) as session:
                    steps = run_flow(session)
                total = (time.perf_counter() - started) * 1000.0
            sandbox.reset()  # not timed: forget the store so every run lists exactly one
            if i >= reps.flow_warmup:
                warm_totals.append(total)
                warm_steps.append(steps)

    new_row = report.add(
        Row(section, "new session each time: open_session + flow + close", new_totals, "fresh tmp .env each run")
    )
    names = ("open_session (sandbox start, HTTP client)", *FLOW_STEPS, "close (sandbox stop)")
    for index, name in enumerate(names):
        report.add(Row(section, f"  new session · {name}", [s[index] for s in new_steps]))
    warm_row = report.add(
        Row(
            section,
            "warm session: one sandbox + one httpx.Client reused",
            warm_totals,
            "fresh tmp .env and Session each run",
        )
    )
    for index, name in enumerate(FLOW_STEPS):
        report.add(Row(section, f"  warm session · {name}", [s[index] for s in warm_steps]))
    report.figures["flow.new_session_ms"] = new_row.median
    report.figures["flow.warm_session_ms"] = warm_row.median


# --------------------------------------------------------------------------------- 4. cold imports

IMPORTS = ("httpx", "tiktok_helpers", "tiktok_helpers.session")


def time_import(module: str, env: dict[str, str], cwd: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, check=True, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def bench_imports(report: Report, reps: Repeats) -> None:
    section = "4. cold import (fresh interpreter)"
    base_env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"}}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        cache = Path(tmp) / "pycache"
        cache.mkdir()
        cwd = str(Path(tmp))
        variants = {
            # Both sides read compiled bytecode (kept in a temporary prefix, not in the repo).
            "bytecode cached": {**base_env, "PYTHONPYCACHEPREFIX": str(cache)},
            # What a kernel pays here when PYTHONDONTWRITEBYTECODE=1: httpx reads the .pyc files
            # pip wrote, the editable tiktok_helpers is compiled from source on every start.
            "no bytecode written (PYTHONDONTWRITEBYTECODE=1)": {**base_env, "PYTHONDONTWRITEBYTECODE": "1"},
        }
        for label, env in variants.items():
            for _ in range(reps.import_warmup):
                for module in IMPORTS:
                    time_import(module, env, cwd)
            timings: dict[str, list[float]] = {m: [] for m in IMPORTS}
            for i in range(reps.imports):
                shift = i % len(IMPORTS)
                for module in IMPORTS[shift:] + IMPORTS[:shift]:
                    timings[module].append(time_import(module, env, cwd))
            rows = {m: report.add(Row(section, f"import {m} · {label}", timings[m])) for m in IMPORTS}
            httpx_median = rows["httpx"].median
            for module in IMPORTS[1:]:
                ratio = rows[module].median / httpx_median
                rows[module].note = f"{ratio:.2f}x httpx"
                rows[module].extra["ratio_vs_httpx"] = round(ratio, 4)
            if label == "bytecode cached":
                report.figures["import.httpx_ms"] = httpx_median
                report.figures["import.package_ms"] = rows["tiktok_helpers"].median
                report.figures["import.package_vs_httpx"] = rows["tiktok_helpers"].median / httpx_median
                report.figures["import.session_vs_httpx"] = rows["tiktok_helpers.session"].median / httpx_median
            else:
                report.figures["import.nocache.session_vs_httpx"] = rows["tiktok_helpers.session"].median / httpx_median


# --------------------------------------------------------------------------------- 5. notebooks


def load_run_notebooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load scripts/run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_notebooks(report: Report, reps: Repeats) -> None:
    section = "5. notebooks (headless, nbclient)"
    runner = load_run_notebooks()
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    per_notebook: dict[str, list[float]] = {p.name: [] for p in paths}
    totals: list[float] = []
    baseline: list[float] = []
    empty = runner.nbformat.v4.new_notebook()
    empty.cells = [runner.nbformat.v4.new_code_cell("1")]
    saved_environ = dict(os.environ)
    try:
        for i in range(reps.notebook_warmup + reps.notebooks):
            started = time.perf_counter()
            runner.NotebookClient(empty, timeout=60, kernel_name="python3").execute()
            empty_ms = (time.perf_counter() - started) * 1000.0
            with contextlib.redirect_stdout(io.StringIO()):
                timings: dict[str, float] = runner.run(paths, write=False)
            if i < reps.notebook_warmup:
                continue
            baseline.append(empty_ms)
            for name, seconds in timings.items():
                per_notebook[name].append(seconds * 1000.0)
            totals.append(sum(timings.values()) * 1000.0)
    finally:  # run() points TIKTOK_ENV_FILE at a temporary .env and drops TIKTOK_ variables
        os.environ.clear()
        os.environ.update(saved_environ)
    for name, values in per_notebook.items():
        report.add(Row(section, name, values, "own kernel: start + all cells"))
    report.add(Row(section, "all notebooks, one after another", totals))
    report.add(Row(section, "baseline: a one-cell notebook (kernel start + shutdown)", baseline))
    report.figures["notebooks.total_ms"] = statistics.median(totals)


def bench_nbval(report: Report, reps: Repeats) -> None:
    section = "5. nbval suite"
    walls: list[float] = []
    summaries: list[str] = []
    codes: list[int] = []
    for _ in range(reps.nbval):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "notebooks"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        walls.append((time.perf_counter() - started) * 1000.0)
        lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
        summaries.append(lines[-1] if lines else "")
        codes.append(done.returncode)
    row = report.add(
        Row(section, "pytest -q notebooks (subprocess wall time)", walls, summaries[-1] if summaries else "")
    )
    row.extra.update({"summaries": summaries, "exit_codes": codes})
    report.figures["nbval.wall_ms"] = row.median
    if any(codes):
        report.notes.append(f"the nbval suite did not pass: exit codes {codes}, last summary {summaries[-1]!r}")


# --------------------------------------------------------------------------------- 6. grants vs refresh

GRANT_COUNTS: Final = (10, 1_000, 10_000)


def rotating_refresher(client: TokenClient, tokens: list[str]) -> Callable[[], None]:
    """Refresh the grants one after another, round robin, each time with the refresh token that
    grant's previous refresh returned (the sandbox rotates them)."""
    position = [0]

    def call() -> None:
        index = position[0] % len(tokens)
        position[0] += 1
        tokens[index] = client.refresh(tokens[index]).refresh_token.reveal()

    return call


def bench_grant_counts(report: Report, reps: Repeats) -> None:
    """One refresh over HTTP against file-backed sandboxes holding 10, 1,000 and 10,000 grants.

    Three sandboxes (one SQLite state file each, grants minted in one transaction, not timed), one
    ``httpx.Client`` shared by a ``TokenClient`` per sandbox, the three variants interleaved.
    """
    section = "6. refresh vs grants in the sandbox (SQLite state file)"
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-grants-")))
        http = stack.enter_context(new_http_client(tls=False))  # one client for every call
        variants: dict[str, Callable[[], object]] = {}
        mint_ms: dict[str, float] = {}
        for count in GRANT_COUNTS:
            label = f"{count:,} grants"
            sandbox = stack.enter_context(Sandbox(state_path=tmp / f"grants-{count}" / ".sandbox" / "state.db"))
            started = time.perf_counter()
            minted = sandbox.state.mint_grants(count)
            mint_ms[label] = (time.perf_counter() - started) * 1000.0
            client = TokenClient(APP_KEY, APP_SECRET, Transport(sandbox.base_url, client=http))
            variants[label] = rotating_refresher(client, [grant.refresh_token for grant in minted])
        timings = interleaved(variants, reps.grant_calls, reps.grant_warmup)
    rows = {
        label: report.add(
            Row(
                section,
                f"TokenClient.refresh, sandbox with {label} (one reused client)",
                values,
                f"{label} minted in {fmt_ms(mint_ms[label])}",
            )
        )
        for label, values in timings.items()
    }
    smallest, largest = rows[f"{GRANT_COUNTS[0]:,} grants"], rows[f"{GRANT_COUNTS[-1]:,} grants"]
    for count in GRANT_COUNTS[1:]:
        row = rows[f"{count:,} grants"]
        ratio = row.median / smallest.median
        row.note += f"; {ratio:.2f}x the {GRANT_COUNTS[0]}-grant figure"
        row.extra["ratio_vs_smallest"] = round(ratio, 4)
        report.figures[f"grants.{count}_ms"] = row.median
    report.figures[f"grants.{GRANT_COUNTS[0]}_ms"] = smallest.median
    report.figures["grants.ratio_10000_vs_10"] = largest.median / smallest.median


# --------------------------------------------------------------------------------- 7. refresh --all

FLEET_LATENCY_MS: Final = 50
FLEET_CONCURRENCY: Final = 16


def _proc_status_kb(name: str) -> int | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status, in kB (None where there is none)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (Linux: ``5`` into /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _proc_status_kb("VmHWM") is not None


@dataclass
class FleetRun:
    seconds: float
    peak_rss_mb: float  # the process's RSS high-water mark at the end of the run
    rss_growth_mb: float  # how far the run raised it: see rss_method
    rss_method: str
    traced_peak_mb: float | None = None  # tracemalloc peak (traced runs only)


def _checked(summary: RefreshSummary, sellers: int, what: str) -> None:
    """Every seller must come back ``refreshed``: a bulk refresh that silently fails is no benchmark."""
    refreshed = len(summary.refreshed)
    if refreshed != sellers or len(summary.outcomes) != sellers:
        first = next((o for o in summary.outcomes if o.status.value != "refreshed"), None)
        why = (first.error or first.reason) if first is not None else "missing outcomes"
        raise RuntimeError(
            f"{what}: {refreshed} of {sellers} sellers refreshed, {len(summary.failed)} failed, "
            f"{len(summary.skipped)} skipped (first: {why})"
        )


def sandbox_project(stack: contextlib.ExitStack, what: str) -> tuple[Sandbox[Any], Session]:
    """A file-backed sandbox (latency 0) and a session of a project whose ``.env`` points at it, both
    closed with ``stack``; the machine's environment is left out."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-project-")))
    sandbox = stack.enter_context(Sandbox(state_path=tmp / ".sandbox" / "state.db", latency_ms=0))
    env = tmp / ".env"
    env.write_text(f"# benchmark: {what}\nTIKTOK_MODE=sandbox\nTIKTOK_SANDBOX_URL={sandbox.base_url}\n")
    session = stack.enter_context(open_session(env, environ={}))
    if session.sandbox is not None:
        raise RuntimeError("the session started its own sandbox instead of using the running one")
    return sandbox, session


def fleet_run(session: Session, sellers: int, concurrency: int, *, traced: bool = False) -> FleetRun:
    """``session.refresh_all(concurrency=...)``, timed, with the process's peak memory during it."""
    gc.collect()
    hwm_reset = _reset_peak_rss()
    rss_before = _proc_status_kb("VmRSS")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        summary = session.refresh_all(concurrency=concurrency)
        seconds = time.perf_counter() - started
        traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else None
    finally:
        if traced:
            tracemalloc.stop()
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm = _proc_status_kb("VmHWM") if hwm_reset else None
    _checked(summary, sellers, f"refresh_all(concurrency={concurrency})")
    if hwm is not None and rss_before is not None:
        peak, growth, method = hwm, hwm - rss_before, "VmHWM (reset just before) - VmRSS at the start"
    else:  # no /proc/self/clear_refs: the process high-water mark can only be compared
        peak, growth = maxrss_after, maxrss_after - maxrss_before
        method = "ru_maxrss growth (getrusage; 0 if an earlier phase peaked higher)"
    return FleetRun(seconds, peak / 1024, growth / 1024, method, traced_peak)


def bench_refresh_all(report: Report, reps: Repeats) -> None:
    """``Session.refresh_all`` over ``reps.sellers`` sellers behind 50 ms of latency: sequential vs 16.

    A project folder whose ``.env`` points at a running file-backed sandbox; the sellers are minted
    in the sandbox and each refreshed once (latency 0, not timed) into the runbook's grant database,
    as if each had been authorized. Then, at 50 ms: concurrency 16, sequential, concurrency 16
    again (``reps.fleet_runs`` timed concurrency-16 runs in all), and one more concurrency-16 run
    under tracemalloc for the peak of Python allocations (tracing slows allocation: not timed).
    """
    sellers = reps.sellers
    section = f"7. refresh --all ({sellers:,} sellers, {FLEET_LATENCY_MS} ms latency)"
    with contextlib.ExitStack() as stack:
        sandbox, session = sandbox_project(stack, "refresh --all")

        started = time.perf_counter()
        minted = sandbox.state.mint_grants(sellers)
        client = session.token_client()
        for grant in minted:  # as if each seller had authorized: their pair in the grant database
            session.store.save_tokens(client.refresh(grant.refresh_token))
        fill_s = time.perf_counter() - started
        if session.store.grants.count() != sellers:
            raise RuntimeError(f"{session.store.grants.count()} grants in the database, {sellers} expected")

        sandbox.latency_ms = FLEET_LATENCY_MS
        concurrent: list[FleetRun] = [fleet_run(session, sellers, FLEET_CONCURRENCY)]
        sequential = fleet_run(session, sellers, 1)
        while len(concurrent) < reps.fleet_runs:
            concurrent.append(fleet_run(session, sellers, FLEET_CONCURRENCY))
        traced = fleet_run(session, sellers, FLEET_CONCURRENCY, traced=True)

        # Nothing lost: the runbook holds, for every seller, the refresh token the sandbox now honours.
        ours = {g.open_id: g.refresh_token.reveal() for g in session.store.grants.all()}
        theirs = {g.open_id: g.refresh_token for g in sandbox.state.store.grants()}
        if ours != theirs:
            lost = sum(1 for open_id, token in theirs.items() if ours.get(open_id) != token)
            raise RuntimeError(f"{lost} sellers' refresh tokens differ between the runbook and the sandbox")

    seq_row = report.add(Row(section, "Session.refresh_all(concurrency=1), sequential", [sequential.seconds * 1000.0]))
    c16_row = report.add(
        Row(
            section,
            f"Session.refresh_all(concurrency={FLEET_CONCURRENCY})",
            [run.seconds * 1000.0 for run in concurrent],
        )
    )
    seq_rate = sellers / sequential.seconds
    c16_rate = sellers / (c16_row.median / 1000.0)
    speedup = sequential.seconds * 1000.0 / c16_row.median
    ideal_rate = FLEET_CONCURRENCY * 1000.0 / FLEET_LATENCY_MS
    beyond_ms = sequential.seconds * 1000.0 / sellers - FLEET_LATENCY_MS
    seq_row.note = f"{seq_rate:.1f} refreshes/s; {beyond_ms:.1f} ms per refresh beyond the latency"
    c16_row.note = (
        f"{c16_rate:.0f} refreshes/s ({c16_rate / ideal_rate:.0%} of {ideal_rate:.0f}/s, 16 x 1/latency); "
        f"{speedup:.1f}x sequential"
    )
    seq_row.extra.update({"sellers": sellers, "refreshes_per_s": round(seq_rate, 2)})
    c16_row.extra.update({"sellers": sellers, "refreshes_per_s": round(c16_rate, 2), "speedup": round(speedup, 3)})

    if traced.traced_peak_mb is not None:
        report.add(
            Row(
                section,
                f"  memory · tracemalloc peak, concurrency {FLEET_CONCURRENCY} (separate traced run)",
                [traced.traced_peak_mb],
                f"Python allocations of client and in-process sandbox; traced run took {traced.seconds:.2f} s",
                unit="MB",
            )
        )
        report.figures["refresh_all.tracemalloc_peak_mb"] = traced.traced_peak_mb
    peak_rss = statistics.median(run.peak_rss_mb for run in concurrent)
    rss_row = report.add(
        Row(
            section,
            f"  memory · RSS growth during each timed concurrency-{FLEET_CONCURRENCY} run",
            [run.rss_growth_mb for run in concurrent],
            f"{concurrent[0].rss_method}; whole process (client + in-process sandbox), peak {peak_rss:.1f} MB",
            unit="MB",
        )
    )
    rss_row.extra.update({"method": concurrent[0].rss_method, "peak_rss_mb": round(peak_rss, 2)})
    report.figures["refresh_all.rss_growth_mb"] = rss_row.median
    report.figures["refresh_all.peak_rss_mb"] = peak_rss
    report.figures["refresh_all.sellers"] = sellers
    report.figures["refresh_all.fill_s"] = fill_s
    report.figures["refresh_all.sequential_ms"] = seq_row.median
    report.figures["refresh_all.c16_ms"] = c16_row.median
    report.figures["refresh_all.sequential_per_s"] = seq_rate
    report.figures["refresh_all.c16_per_s"] = c16_rate
    report.figures["refresh_all.speedup"] = speedup
    if sellers != 1_000:
        report.notes.append(f"refresh --all measured with {sellers:,} sellers, not 1,000 (quick run)")


# --------------------------------------------------------------------------------- profiling


def profile() -> None:
    """cProfile of our refresh and shops calls and of one warm flow: where the time goes."""
    with Sandbox() as sandbox, TokenClient(APP_KEY, APP_SECRET, Transport(sandbox.base_url)) as client:
        token = issue_refresh_token(sandbox)[1]
        for _ in range(50):
            token = client.refresh(token).refresh_token.reveal()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(300):
            token = client.refresh(token).refresh_token.reveal()
        profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(20)
    print("\n### cProfile: 300 x TokenClient.refresh (client + in-process sandbox threads not included)\n")
    print(stream.getvalue())


# --------------------------------------------------------------------------------- output


def render(report: Report, meta: dict[str, Any]) -> str:
    lines = [
        f"Benchmarks, {meta['date']} · {meta['cpu_count']} CPUs · Python {meta['python']} · "
        f"{meta['platform']} · {'quick' if meta['quick'] else 'full'} run · "
        f"load average {meta['load_average_1min'][0]} before, {meta['load_average_1min'][1]} after",
        "",
        f"Repeats: {meta['repeats_text']}",
        "",
        "| section | benchmark | median | p90 | n | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in report.rows:
        lines.append(
            f"| {row.section} | {row.name} | {fmt_value(row.median, row.unit)} | {fmt_value(row.p90, row.unit)} | "
            f"{len(row.samples_ms)} | "
            f"{row.note} |"
        )
    lines += ["", "| target | measured | goal | met |", "|---|---:|---:|---|"]
    for key, op, bound, text in TARGETS:
        value = report.figures.get(key)
        if value is None:
            lines.append(f"| {text} | not measured | {op} {bound:g} | - |")
            continue
        met = value <= bound if op == "<=" else value >= bound if op == ">=" else value < bound
        lines.append(f"| {text} | {fmt_figure(key, value)} | {op} {bound:g} | {'yes' if met else 'NO'} |")
    if report.notes:
        lines += ["", *(f"Note: {note}" for note in report.notes)]
    return "\n".join(lines)


def targets_json(report: Report) -> list[dict[str, Any]]:
    out = []
    for key, op, bound, text in TARGETS:
        value = report.figures.get(key)
        met = None
        if value is not None:
            met = value <= bound if op == "<=" else value >= bound if op == ">=" else value < bound
        out.append({"key": key, "what": text, "goal": f"{op} {bound:g}", "value": value, "met": met})
    return out


def sdk_version() -> str | None:
    sdk = load_sdk()
    return getattr(sdk, "__version__", None) if sdk is not None else None


def bench_stops(report: Report, reps: Repeats) -> None:
    """How fast the loopback listeners stop and hand back: the figures the tests assert only as events
    (a loaded machine would blur them there)."""
    section = "stops (catcher and sandbox)"
    catcher_stop: list[float] = []
    for _ in range(20):
        catcher = RedirectCatcher("http://127.0.0.1:0/callback", timeout=30).start()
        time.sleep(0.02)  # the listener thread asleep in its selector
        started = time.perf_counter()
        catcher.stop()
        catcher_stop.append((time.perf_counter() - started) * 1000.0)
    sandbox_stop: list[float] = []
    for _ in range(10):
        sandbox = Sandbox(port=0).start()
        with httpx.Client(timeout=5) as client:  # a kept-alive connection, still open at stop()
            client.get(f"{sandbox.base_url}/api/v2/token/get")
            time.sleep(0.01)
            started = time.perf_counter()
            sandbox.stop()
            sandbox_stop.append((time.perf_counter() - started) * 1000.0)
    done: list[float] = []
    for _ in range(10):
        with RedirectCatcher("http://127.0.0.1:0/callback", expected_state="s" * 20, timeout=30) as catcher:
            started = time.perf_counter()
            httpx.get(f"http://127.0.0.1:{catcher.port}/callback?code=TTP_x&state={'s' * 20}", follow_redirects=True)
            catcher.wait(5)
            done.append((time.perf_counter() - started) * 1000.0)
    for key, label, figures in (
        ("catcher_stop_ms", "RedirectCatcher.stop(), listener asleep", catcher_stop),
        ("sandbox_stop_ms", "Sandbox.stop(), a kept-alive connection open", sandbox_stop),
        ("catcher_done_ms", "redirect -> clean page -> wait() returns (two round trips)", done),
    ):
        report.figures[f"stops.{key}"] = report.add(Row(section, label, figures)).median


SECTIONS: Final = ("refresh", "shops", "flow", "imports", "notebooks", "nbval", "grants", "refresh-all", "stops")


def _sections(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = names - set(SECTIONS)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, one notebook run, no nbval suite")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON results (default: {DEFAULT_OUT})")
    parser.add_argument("--skip-notebooks", action="store_true", help="skip the notebooks and the nbval suite")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of TokenClient.refresh")
    parser.add_argument(
        "--only",
        type=_sections,
        default=None,
        metavar="NAMES",
        help=f"run only these sections, comma-separated: {', '.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    reps = QUICK if args.quick else FULL
    report = Report()

    load_before = os.getloadavg()
    started = time.perf_counter()
    steps: list[tuple[str, str, Callable[[], None]]] = [
        ("refresh", "token refresh", lambda: bench_refresh(report, reps, state_file=False)),
        ("refresh", "token refresh (state file)", lambda: bench_refresh(report, reps, state_file=True)),
        ("shops", "Get Authorized Shops", lambda: bench_shops(report, reps)),
        ("flow", "whole flow", lambda: bench_flow(report, reps)),
        ("imports", "cold imports", lambda: bench_imports(report, reps)),
    ]
    if not args.skip_notebooks:
        steps.append(("notebooks", "notebooks", lambda: bench_notebooks(report, reps)))
        if reps.nbval:
            steps.append(("nbval", "nbval suite", lambda: bench_nbval(report, reps)))
    steps += [
        ("grants", "refresh vs grants (10, 1,000, 10,000)", lambda: bench_grant_counts(report, reps)),
        (
            "refresh-all",
            f"refresh --all ({reps.sellers:,} sellers, 50 ms latency)",
            lambda: bench_refresh_all(report, reps),
        ),
        ("stops", "catcher and sandbox stops", lambda: bench_stops(report, reps)),
    ]
    if args.only is not None:
        steps = [step for step in steps if step[0] in args.only]
        report.notes.append(f"only these sections were run: {', '.join(sorted(args.only))}")
    for _, label, step in steps:
        print(f"… {label}", file=sys.stderr, flush=True)
        step()
    if args.quick:
        report.notes.append("quick run: fewer repeats" + (", nbval suite skipped" if not args.skip_notebooks else ""))
    if args.skip_notebooks:
        report.notes.append("notebooks and nbval suite skipped (--skip-notebooks)")

    repeats_text = (
        f"in-process HTTP calls {reps.micro} per variant after {reps.micro_warmup} warm-up calls "
        f"(peer SDK refresh {reps.sdk_refresh} after {reps.sdk_warmup}); whole flow {reps.flow} per mode after "
        f"{reps.flow_warmup}; cold imports {reps.imports} fresh interpreters per module and mode after "
        f"{reps.import_warmup}; notebooks {reps.notebooks} runs after {reps.notebook_warmup}; "
        f"nbval suite {reps.nbval} runs; refresh vs grants {reps.grant_calls} calls per grant count after "
        f"{reps.grant_warmup}; refresh --all {reps.sellers:,} sellers, sequential once, concurrency 16 "
        f"{reps.fleet_runs} timed runs + 1 traced"
    )
    meta = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "httpx": httpx.__version__,
        "tiktok_shop_api": sdk_version(),
        "quick": args.quick,
        "repeats": reps.__dict__,
        "repeats_text": repeats_text,
        "elapsed_s": round(time.perf_counter() - started, 1),
        # Other work on the machine skews every figure: the 1-minute load average before and after.
        "load_average_1min": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    print(render(report, meta))
    if args.profile:
        profile()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "meta": meta,
                "results": [row.as_json() for row in report.rows],
                "figures": {k: round(v, 4) for k, v in report.figures.items()},
                "targets": targets_json(report),
                "notes": report.notes,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwritten: {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
