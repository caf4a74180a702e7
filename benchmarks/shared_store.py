"""Benchmark of the shared grant store (issue 26): ``refresh --all`` from 1 and from several processes
at once against one PostgreSQL database, and the cost of a refresh on PostgreSQL vs on SQLite.

    .venv/bin/python benchmarks/shared_store.py            # the issue's run: 10,000 sellers, 50 ms, 4 processes
    .venv/bin/python benchmarks/shared_store.py --quick    # smoke run: 400 sellers (~1 minute)
    .venv/bin/python benchmarks/shared_store.py --sellers 2000 --latency-ms 50 --processes 4 --concurrency 8

Options: ``--sellers N`` (default 10,000; 400 with ``--quick``), ``--latency-ms`` (the sandbox's
injected latency for the throughput runs, default 50), ``--processes P`` (default 4),
``--concurrency C`` (each process's ``--concurrency``, default 8), ``--also-concurrency C2``
(the 1-process and P-process runs again with ``--concurrency C2``, default 4; 0 skips them: on a
machine with few cores C threads per process may saturate the CPU, and C2 shows the division of
the sellers with less CPU per second), ``--share-sellers`` (sellers of the in-process store-share
runs, default min(N, 2,000)).

Set-up (not timed): a throwaway PostgreSQL server (``tests/pg_server.py``, ``durable=True``: fsync,
synchronous_commit and full_page_writes on, as a real server; unix socket only; as root it runs as
the ``postgres`` user) and a file-backed sandbox on loopback in THIS process (``benchmarks/run.py``'s
``sandbox_project``). Each measurement gets a project folder of its own whose ``.env`` says
``TIKTOK_MODE=sandbox``, ``TIKTOK_SANDBOX_URL=<the sandbox>`` and, for PostgreSQL, ``TIKTOK_GRANTS_URL=``
a fresh database (``server.new_database()``); without it the grants are in the SQLite file beside
``.env``. Its sellers are new: ``sandbox.state.mint_grants(N)``, then each minted refresh token is
refreshed once by the sandbox's own ``token_refresh`` rules, called in process (no HTTP: the reply
is the one ``/api/v2/token/refresh`` would send), and the reply is saved with
``session.store.save_tokens`` (as ``run.py``/``after_day_one.py`` seed, minus the HTTP round trip:
about 1 ms a seller, each one commit of the store under test). The sandbox's latency is 0 while
seeding and set for the measurement afterwards.

A PostgreSQL database is then ``ANALYZE``d (``--no-analyze`` skips it). Ten thousand rows inserted
seconds before the run have no planner statistics until autovacuum gets round to them (within about
a minute, at a moment of its choosing), and until then PostgreSQL reads a seller by id, and claims
sellers, through the ``grants_by_app`` (mode, app_key) index: every row of the app, ~2.5 ms and ~5 ms
at 10,000 sellers instead of ~0.03 ms, so the figures would depend on when autovacuum ran. A store
that grew over time has its statistics; the cold case is printed anyway (``GrantStore.get`` timed
on the fresh table, and after ANALYZE) and can be measured with ``--no-analyze``.

What is measured:

1. **Throughput, latency ``--latency-ms``** (PostgreSQL): ``python -m tiktok_helpers --env-file ENV
   refresh --all --json --concurrency C`` as real subprocesses: 1 process, then P processes started
   back to back (``Popen``, no wait in between) against the same database and sandbox. *seconds* is
   the wall time from just before the first process is started to the exit of the last: Python's
   start-up and imports, reading the grants, the refreshes, the JSON output. *refreshes/s* = sellers /
   seconds; *at sandbox* = sellers / (last refresh the sandbox served - first one), which leaves out
   start-up and output. *speed-up* = refreshes/s of P processes / of 1 process (same C).
2. **Checks of every run** (any failure makes the script exit 1 and say so): from the runs' JSON,
   the ``outcomes`` with status ``refreshed``, counted per seller id across the runs; from the
   sandbox, the refreshes it served, counted per seller (``SandboxState.token_refresh`` of the
   running sandbox is wrapped in this process: it rotates the refresh token, so a second refresh
   with a spent token would be refused, and is counted as refused); from the database afterwards
   (psycopg, or sqlite3 read-only), every seller's ``grants.refresh_round`` and the runs of
   ``refresh_runs``. *refreshed twice*: sellers with more than one refresh by either count. *left out*:
   sellers with no refresh by either count, or whose ``refresh_round`` is not the one round's id.
   *failed*: ``failed`` outcomes plus refreshes the sandbox refused. *lost*: sellers whose stored
   refresh token is not the one the sandbox now honours. Also: each process's exit code, and that
   all runs joined ONE round.
3. **CPU**, for every run: the machine's busy share over the run (``/proc/stat``: all CPUs, whoever
   used them), split into CPU seconds of the ``refresh --all`` processes (``wait4`` rusage), of this
   process (the sandbox's threads; the benchmark only polls meanwhile), of the PostgreSQL server (the
   postmaster's own, its ended backends' and its live children's, from ``/proc``) and "other work on
   the machine" (the busy time left over: other programs, rounding).
4. **Cost per refresh, PostgreSQL vs SQLite** (latency 0, 1 process, ``--concurrency C``): the same
   subprocess run against a fresh SQLite project and a fresh PostgreSQL database. *ms/refresh* = wall
   / sellers (includes start-up and output, spread over the sellers); CPU ms per refresh of the
   refresh process (client side: HTTP, JSON, the store's driver and, for SQLite, SQLite itself), of
   the PostgreSQL server, of the sandbox. Then the **store's share**, in process:
   ``Session.refresh_all(concurrency=1)`` over ``--share-sellers`` fresh sellers of each store, with
   the store's database object (``session.store.grants.db``) wrapped by timers: wall time inside its
   ``read`` and ``write`` (a write is one transaction) and inside taking and releasing the seller's
   refresh lock, kept apart for the worker thread (per seller: lock, read as stored now, the new
   pair's commit) and the main thread (reading the list, beginning and ending the run, claiming the
   next sellers, which overlaps the worker's refresh). The worker's sum against the run's wall time
   is the store's share; the rest is HTTP, the sandbox's work (same process) and Python.

The PostgreSQL figures also carry ``pg_stat_database``'s transactions (commits, rollbacks, deadlocks)
of the run's database, read after the runs' connections closed. Nothing outside temporary folders
is written; the PostgreSQL server and its folder are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import psycopg
from run import fmt_ms, sandbox_project  # benchmarks/run.py: the sandbox-backed project, the formats

from tiktok_helpers import samples
from tiktok_helpers.grants import grants_path_for
from tiktok_helpers.sandbox import Sandbox
from tiktok_helpers.session import open_session
from tiktok_helpers.tokens import TokenSet

ROOT: Final = Path(__file__).resolve().parent.parent
APP_KEY: Final = samples.SANDBOX_APP_KEY
APP_SECRET: Final = samples.SANDBOX_APP_SECRET
CPUS: Final = os.cpu_count() or 1
TICK: Final = os.sysconf("SC_CLK_TCK")
#: Goals from the issue (speed-up of P processes over 1, same concurrency).
GOAL_SPEEDUP: Final = 3.0
SHARE_SELLERS: Final = 2_000
#: "skipped" details that are expected in a run of several processes.
BY_ANOTHER_RUN: Final = "by another run of this refresh"


def load_pg_server() -> ModuleType:
    """tests/pg_server.py (the tests' throwaway PostgreSQL server), loaded from its file: ``tests`` is
    not on this script's path."""
    spec = importlib.util.spec_from_file_location("pg_server", ROOT / "tests" / "pg_server.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot load tests/pg_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def say(text: str) -> None:
    print(f"  · {text}", flush=True)


# --------------------------------------------------------------------------------- the sandbox's record


class RefreshLog:
    """Counts the refreshes the running sandbox serves, per seller (open_id), while recording:
    ``sandbox.state.token_refresh`` is wrapped in this process (the sandbox keeps no such count)."""

    def __init__(self, sandbox: Sandbox[Any]) -> None:
        self._lock = threading.Lock()
        self._recording = False
        self.served: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # by the refusal's words
        self.first = self.last = 0.0
        original = sandbox.state.token_refresh

        def counted(params: Mapping[str, str]) -> dict[str, Any]:
            try:
                data = original(params)
            except Exception as exc:
                with self._lock:
                    if self._recording:
                        self.refused[str(exc) or type(exc).__name__] += 1
                raise
            moment = time.perf_counter()
            with self._lock:
                if self._recording:
                    self.served[str(data.get("open_id", ""))] += 1
                    self.first = self.first or moment
                    self.last = moment
            return data

        sandbox.state.token_refresh = counted  # type: ignore[method-assign]

    def start(self) -> None:
        with self._lock:
            self.served, self.refused = Counter(), Counter()
            self.first = self.last = 0.0
            self._recording = True

    def stop(self) -> None:
        with self._lock:
            self._recording = False


# --------------------------------------------------------------------------------- projects


@dataclass(frozen=True)
class Project:
    label: str
    env: Path
    url: str | None  # TIKTOK_GRANTS_URL (PostgreSQL); None: the SQLite file beside .env
    open_ids: frozenset[str]
    seed_s: float
    #: PostgreSQL: median ms of ``GrantStore.get`` on the freshly seeded table, and after ANALYZE (if run).
    get_ms: tuple[float, float | None] | None = None

    @property
    def store(self) -> str:
        return "PostgreSQL" if self.url else "SQLite"

    @property
    def database_name(self) -> str:
        assert self.url is not None
        return self.url.split("@/", 1)[1].split("?", 1)[0]


def new_project(
    root: Path, sandbox: Sandbox[Any], url: str | None, sellers: int, label: str, *, analyze: bool = True
) -> Project:
    """A project folder whose ``.env`` points at the running sandbox (and at ``url``), holding
    ``sellers`` new sellers, each authorized and refreshed once (see the module's description). For
    PostgreSQL, ``GrantStore.get`` is timed on the fresh table, then (``analyze``) after ``ANALYZE``."""
    folder = Path(tempfile.mkdtemp(prefix="project-", dir=root))
    env = folder / ".env"
    lines = [f"# benchmark: {label}", "TIKTOK_MODE=sandbox", f"TIKTOK_SANDBOX_URL={sandbox.base_url}"]
    if url is not None:
        lines.append(f"TIKTOK_GRANTS_URL={url}")
    env.write_text("\n".join(lines) + "\n")
    latency, sandbox.latency_ms = sandbox.latency_ms, 0
    started = time.perf_counter()
    get_ms: tuple[float, float | None] | None = None
    try:
        minted = sandbox.state.mint_grants(sellers)
        replies = [
            sandbox.state.token_refresh(
                {"app_key": APP_KEY, "app_secret": APP_SECRET, "refresh_token": m.refresh_token,
                 "grant_type": "refresh_token"}
            )
            for m in minted
        ]  # fmt: skip
        with open_session(env, environ={}) as session:
            if session.sandbox is not None:
                raise RuntimeError("the session started its own sandbox instead of using the running one")
            for data in replies:
                session.store.save_tokens(TokenSet.from_data(data))
            count = session.store.grants.count()
            seed_s = time.perf_counter() - started
            if url is not None:
                ids = [g.id for g in session.store.grants.all()]
                before = time_gets(session.store.grants.get, ids)
                after = None
                if analyze:
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute("ANALYZE")
                    after = time_gets(session.store.grants.get, ids)
                get_ms = (before, after)
        if count != sellers:
            raise RuntimeError(f"{label}: {count} grants in the store, {sellers} expected")
    finally:
        sandbox.latency_ms = latency
    say(f"{label}: {sellers:,} sellers seeded into {'PostgreSQL' if url else 'SQLite'} in {seed_s:.1f} s")
    return Project(label, env, url, frozenset(m.open_id for m in minted), seed_s, get_ms)


def time_gets(get: Callable[[int], object], ids: list[int], calls: int = 51) -> float:
    """Median ms of ``get(id)`` over ``calls`` ids spread over the table (the first is not counted)."""
    step = max(1, len(ids) // calls)
    times = []
    for grant_id in ids[::step][:calls]:
        since = time.perf_counter()
        get(grant_id)
        times.append((time.perf_counter() - since) * 1000.0)
    return statistics.median(times[1:] or times)


def child_environment() -> dict[str, str]:
    """This process's environment without the runbook's settings (the project's .env alone decides)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOK_", "API2CART_"))}


# --------------------------------------------------------------------------------- CPU


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all CPUs (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal (guest is inside user)
    idle = fields[3] + fields[4]
    return (total - idle) / TICK, total / TICK


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields after the command name (index 0 is field 3, the state)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


class PostgresCpu:
    """CPU seconds the PostgreSQL server has used: the postmaster's own and its reaped children's
    (``cutime``/``cstime``: every backend that ended) plus its live children's (the auxiliary processes,
    backends still connected). A backend that ends between two readings moves from the second sum
    to the first with all its time, so differences of readings are right."""

    def __init__(self, data: Path) -> None:
        self.postmaster = int((data / "postmaster.pid").read_text().split()[0])

    def children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    if int(_stat(int(entry.name))[1]) == self.postmaster:
                        found.append(int(entry.name))
        return found

    def seconds(self) -> float:
        own = _stat(self.postmaster)
        total = sum(int(v) for v in own[11:15])  # utime stime cutime cstime
        for pid in self.children():
            with contextlib.suppress(OSError, IndexError, ValueError):
                total += sum(int(v) for v in _stat(pid)[11:13])
        return total / TICK

    def settled(self, children: int, limit: float = 3.0) -> None:
        """Wait (up to ``limit`` s) until the server has reaped the backends of the runs' connections."""
        deadline = time.perf_counter() + limit
        while len(self.children()) > children and time.perf_counter() < deadline:
            time.sleep(0.02)


@dataclass
class Cpu:
    machine_busy_s: float = 0.0
    machine_total_s: float = 0.0
    runs_s: float = 0.0  # the refresh --all processes
    sandbox_s: float = 0.0  # this process: the sandbox's threads (and the benchmark's polling)
    postgres_s: float = 0.0  # the PostgreSQL server's processes

    @property
    def others_s(self) -> float:
        """The machine's busy time nobody above accounts for (other work on the machine; rounding)."""
        return self.machine_busy_s - self.runs_s - self.sandbox_s - self.postgres_s

    @property
    def busy_share(self) -> float:
        return self.machine_busy_s / self.machine_total_s if self.machine_total_s else 0.0


# --------------------------------------------------------------------------------- one measurement


@dataclass
class Process:
    index: int
    code: int | None = None
    seconds: float = 0.0  # from the start of the first process to this one's exit
    cpu_s: float = 0.0
    refreshed: int = 0
    skipped: int = 0
    failed: int = 0
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""  # no JSON, a crash: stderr's last lines


@dataclass
class Measurement:
    label: str
    project: Project
    sellers: int
    latency_ms: int
    processes: int
    concurrency: int
    seconds: float
    procs: list[Process]
    cpu: Cpu
    sandbox_window_s: float
    twice: int = 0
    left_out: int = 0
    failed: int = 0
    lost: int = 0
    rounds: int = 0
    runs_in_db: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pg_stats: dict[str, int] | None = None

    @property
    def per_s(self) -> float:
        return self.sellers / self.seconds

    @property
    def per_s_at_sandbox(self) -> float | None:
        return self.sellers / self.sandbox_window_s if self.sandbox_window_s > 0 else None

    @property
    def ms_per_refresh(self) -> float:
        return self.seconds * 1000.0 / self.sellers


def pg_transactions(project: Project, server_url: str) -> dict[str, int]:
    with psycopg.connect(server_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database WHERE datname = %s",
            (project.database_name,),
        ).fetchone()
    if row is None:
        return {}
    return {"commits": int(row[0]), "rollbacks": int(row[1]), "deadlocks": int(row[2])}


def read_database(project: Project) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, int | None]]]:
    """From the database itself, not through the runbook: every grant's (open_id, refresh_token,
    refresh_round), and every run's (run_id, round_id, finished_at)."""
    grants_sql = "SELECT open_id, refresh_token, refresh_round FROM grants"
    runs_sql = "SELECT run_id, round_id, finished_at FROM refresh_runs ORDER BY started_at, run_id"
    if project.url is not None:
        with psycopg.connect(project.url) as conn:
            grants = [tuple(r) for r in conn.execute(grants_sql).fetchall()]
            runs = [tuple(r) for r in conn.execute(runs_sql).fetchall()]
    else:
        path = grants_path_for(project.env)
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            grants = [tuple(r) for r in db.execute(grants_sql).fetchall()]
            runs = [tuple(r) for r in db.execute(runs_sql).fetchall()]
        finally:
            db.close()
    return grants, runs  # type: ignore[return-value]


def measure(
    label: str, project: Project, sandbox: Sandbox[Any], log: RefreshLog, *, processes: int, concurrency: int,
    latency_ms: int, server_url: str, pg_cpu: PostgresCpu,
) -> Measurement:  # fmt: skip
    """``refresh --all`` of ``project`` from ``processes`` subprocesses started at once, then checked."""
    sellers = len(project.open_ids)
    sandbox.latency_ms = latency_ms
    command = [sys.executable, "-m", "tiktok_helpers", "--env-file", str(project.env), "refresh", "--all", "--json",
               "--concurrency", str(concurrency)]  # fmt: skip
    folder = project.env.parent
    timeout = 120.0 + 3.0 * sellers * (latency_ms + 30) / 1000.0 / concurrency
    stats_before = pg_transactions(project, server_url) if project.url else None
    outputs = [(folder / f"run{i}.out", folder / f"run{i}.err") for i in range(processes)]
    files = [(out.open("wb"), err.open("wb")) for out, err in outputs]
    env = child_environment()
    procs = [Process(i) for i in range(processes)]
    log.start()
    idle_children = len(pg_cpu.children())
    pg0 = pg_cpu.seconds()
    busy0, total0 = machine_cpu()
    own0 = own_cpu()
    started = time.perf_counter()
    popens = [
        subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=folder)
        for out, err in files
    ]
    pending = {p.pid: i for i, p in enumerate(popens)}
    runs_cpu = 0.0
    try:
        while pending:
            for pid, i in list(pending.items()):
                got, status, usage = os.wait4(pid, os.WNOHANG)
                if got:
                    procs[i].seconds = time.perf_counter() - started
                    procs[i].code = popens[i].returncode = os.waitstatus_to_exitcode(status)
                    procs[i].cpu_s = usage.ru_utime + usage.ru_stime
                    runs_cpu += procs[i].cpu_s
                    del pending[pid]
            if pending and time.perf_counter() - started > timeout:
                for pid in pending:
                    popens[pending[pid]].kill()  # our own child, by its id
                raise RuntimeError(f"{label}: no end after {timeout:.0f} s; the runs were killed")
            time.sleep(0.005)
    finally:
        for out, err in files:
            out.close()
            err.close()
    seconds = time.perf_counter() - started
    busy1, total1 = machine_cpu()
    own1 = own_cpu()
    log.stop()
    pg_cpu.settled(idle_children)
    cpu = Cpu(busy1 - busy0, total1 - total0, runs_cpu, own1 - own0, pg_cpu.seconds() - pg0)
    window = log.last - log.first if log.first else 0.0
    m = Measurement(label, project, sellers, latency_ms, processes, concurrency, seconds, procs, cpu, window)

    # --- what each run said
    refreshed_by_id: Counter[int] = Counter()
    other_skips: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        text = out.read_text()
        try:
            outcomes = json.loads(text)["outcomes"] if text.strip() else None
        except (ValueError, KeyError):
            outcomes = None
        if outcomes is None or proc.code not in (0, 1):
            tail = " | ".join(err.read_text(errors="replace").strip().splitlines()[-5:])
            proc.problem = f"exit {proc.code}, {'no JSON' if outcomes is None else 'JSON'}; stderr: {tail[-600:]}"
            m.problems.append(f"{label}: process {proc.index}: {proc.problem}")
        for o in outcomes or []:
            status = o.get("status")
            if status == "refreshed":
                proc.refreshed += 1
                refreshed_by_id[int(o["id"])] += 1
            elif status == "skipped":
                proc.skipped += 1
                if BY_ANOTHER_RUN not in str(o.get("detail", "")):
                    other_skips[str(o.get("detail", ""))[:120]] += 1
            else:
                proc.failed += 1
                failures[f"{o.get('error_code') or ''} {str(o.get('detail', ''))[:120]}".strip()] += 1
        proc.outcomes = []  # not kept: 10,000 dicts per process
        if proc.code not in (0, None) and not proc.problem:
            m.problems.append(f"{label}: process {proc.index} exited {proc.code}")

    # --- what the sandbox served, and what the database holds
    served = {open_id: log.served.get(open_id, 0) for open_id in project.open_ids}
    grants, runs = read_database(project)
    round_of: Counter[str] = Counter(r[2] for r in grants)
    run_rounds = {r[1] for r in runs}
    m.runs_in_db = len(runs)
    m.rounds = len(run_rounds)
    the_round = next(iter(run_rounds)) if len(run_rounds) == 1 else None
    not_in_round = sum(n for rid, n in round_of.items() if rid != the_round)
    honoured = {g.open_id: g.refresh_token for g in sandbox.state.store.grants() if g.open_id in project.open_ids}
    m.lost = sum(1 for open_id, token, _ in grants if honoured.get(open_id) != token)

    twice_json = sum(1 for n in refreshed_by_id.values() if n > 1)
    twice_sandbox = sum(1 for n in served.values() if n > 1)
    none_json = sellers - len(refreshed_by_id)
    none_sandbox = sum(1 for n in served.values() if n == 0)
    m.twice = max(twice_json, twice_sandbox)
    m.left_out = max(none_json, none_sandbox, not_in_round)
    refused = sum(log.refused.values())
    m.failed = sum(p.failed for p in procs) + refused
    if len(grants) != sellers:
        m.problems.append(f"{label}: {len(grants)} grants in the database, {sellers} expected")
    if m.twice:
        m.problems.append(
            f"{label}: {m.twice} sellers refreshed twice (run outputs: {twice_json}; sandbox: {twice_sandbox}; "
            f"most: {refreshed_by_id.most_common(3)})"
        )
    if m.left_out:
        m.problems.append(
            f"{label}: {m.left_out} sellers left out (no 'refreshed' outcome: {none_json}; not refreshed at the "
            f"sandbox: {none_sandbox}; refresh_round not the round's id: {not_in_round}; rounds: {dict(round_of)})"
        )
    if m.failed:
        m.problems.append(
            f"{label}: {m.failed} failed ({sum(p.failed for p in procs)} failed outcomes "
            f"{dict(failures.most_common(3))}; {refused} refused by the sandbox {dict(log.refused.most_common(3))})"
        )
    if m.lost:
        m.problems.append(f"{label}: {m.lost} sellers' stored refresh token is not the one the sandbox honours")
    if m.rounds != 1 or m.runs_in_db != processes:
        m.problems.append(
            f"{label}: {m.runs_in_db} runs in refresh_runs (expected {processes}) in {m.rounds} rounds (expected 1)"
        )
    if unfinished := [r[0] for r in runs if r[2] is None]:
        m.problems.append(f"{label}: {len(unfinished)} runs never recorded their end")
    if other_skips:
        m.notes.append(f"{label}: skips other than '{BY_ANOTHER_RUN}': {dict(other_skips.most_common(3))}")
    if project.url and stats_before is not None:
        time.sleep(1.0)  # the runs' server backends flush their statistics as they exit
        after = pg_transactions(project, server_url)
        m.pg_stats = {k: after.get(k, 0) - stats_before.get(k, 0) for k in after}
    return m


# --------------------------------------------------------------------------------- the store's share, in process

#: The timed parts of the store, per seller (in the worker thread) and for the whole run (main thread).
WORKER_PARTS: Final = ("lock: take", "read", "write", "lock: release")


@dataclass
class Share:
    store: str
    sellers: int
    seconds: float
    #: (part, "worker" or "main") -> wall seconds inside it, and calls.
    timers: dict[tuple[str, str], float]
    calls: Counter[tuple[str, str]]

    def ms(self, part: str, thread: str = "worker") -> float:
        return self.timers.get((part, thread), 0.0) * 1000.0 / self.sellers

    def per_seller(self, part: str, thread: str = "worker") -> float:
        return self.calls[(part, thread)] / self.sellers

    def total_ms(self, thread: str) -> float:
        return sum(v for (_, t), v in self.timers.items() if t == thread) * 1000.0 / self.sellers


def timed_database(db: Any, timers: dict[tuple[str, str], float], calls: Counter[tuple[str, str]]) -> None:
    """Wrap the store's database object (this instance only) with wall-clock timers, kept apart for
    the bulk refresh's worker threads (a seller's lock, its reads, its commit) and the main thread
    (reading the list, beginning and ending the run, claiming sellers: it claims the next sellers
    while the worker refreshes)."""
    lock = threading.Lock()

    def add(name: str, since: float) -> None:
        key = (name, "main" if threading.current_thread() is threading.main_thread() else "worker")
        with lock:
            timers[key] = timers.get(key, 0.0) + time.perf_counter() - since
            calls[key] += 1

    def timed(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            since = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                add(name, since)

        return call

    original_lock = db.seller_locked

    @contextlib.contextmanager
    def seller_locked(*args: Any, **kwargs: Any) -> Iterator[None]:
        since = time.perf_counter()
        with contextlib.ExitStack() as stack:
            stack.enter_context(original_lock(*args, **kwargs))
            add("lock: take", since)
            try:
                yield
            finally:
                since = time.perf_counter()
                stack.close()
                add("lock: release", since)

    db.read = timed("read", db.read)
    db.write = timed("write", db.write)
    db.seller_locked = seller_locked


def store_share(root: Path, sandbox: Sandbox[Any], url: str | None, sellers: int, *, analyze: bool) -> Share:
    """``Session.refresh_all(concurrency=1)`` at latency 0 with the store's database timed."""
    store = "PostgreSQL" if url else "SQLite"
    project = new_project(root, sandbox, url, sellers, f"store share, {store}", analyze=analyze)
    sandbox.latency_ms = 0
    timers: dict[tuple[str, str], float] = {}
    calls: Counter[tuple[str, str]] = Counter()
    with open_session(project.env, environ={}) as session:
        session.store.grants.count()  # opened (and, for PostgreSQL, its pool made) before timing
        timed_database(session.store.grants.db, timers, calls)
        started = time.perf_counter()
        summary = session.refresh_all(concurrency=1)
        seconds = time.perf_counter() - started
    if len(summary.refreshed) != sellers or summary.failed:
        raise RuntimeError(
            f"store share, {store}: {len(summary.refreshed)} of {sellers} refreshed, {len(summary.failed)} failed"
        )
    if not calls:
        raise RuntimeError(f"store share, {store}: the timers saw no call (the store's database was replaced)")
    return Share(store, sellers, seconds, timers, calls)


# --------------------------------------------------------------------------------- output


def throughput_rows(pairs: list[tuple[Measurement, Measurement]]) -> list[str]:
    header = (
        f"{'store':<11}{'sellers':>8}{'latency':>9}{'procs':>6}{'conc':>5}{'seconds':>9}{'refr/s':>8}"
        f"{'at sandbox':>11}{'speed-up':>9}{'twice':>6}{'left out':>9}{'failed':>7}{'lost':>5}{'CPU busy':>9}"
    )
    lines = [header, "-" * len(header)]
    for one, many in pairs:
        for m in (one, many):
            speedup = f"{many.per_s / one.per_s:.2f}x" if m is many else "1.00x"
            at_sandbox = f"{m.per_s_at_sandbox:.0f}/s" if m.per_s_at_sandbox else "-"
            lines.append(
                f"{m.project.store:<11}{m.sellers:>8,}{m.latency_ms:>7} ms{m.processes:>6}{m.concurrency:>5}"
                f"{m.seconds:>9.2f}{m.per_s:>8.0f}{at_sandbox:>11}{speedup:>9}{m.twice:>6}{m.left_out:>9}"
                f"{m.failed:>7}{m.lost:>5}{m.cpu.busy_share:>9.0%}"
            )
    return lines


def detail_rows(m: Measurement) -> list[str]:
    ideal = m.processes * m.concurrency * 1000.0 / m.latency_ms if m.latency_ms else None
    c = m.cpu
    per = 1000.0 / m.sellers
    head = f"{m.label}: {m.seconds:.2f} s wall, {m.per_s:.0f} refreshes/s"
    if ideal:
        head += f" ({m.per_s / ideal:.0%} of {ideal:.0f}/s = {m.processes} x {m.concurrency} in flight / latency)"
    if m.per_s_at_sandbox:
        head += f", {m.per_s_at_sandbox:.0f}/s between the first and last refresh at the sandbox"
    lines = [
        f"{head}; {m.runs_in_db} run(s) in {m.rounds} round(s)",
        f"    CPU: machine {c.machine_busy_s:.1f} of {c.machine_total_s:.1f} CPU-s busy ({c.busy_share:.0%} of "
        f"{CPUS} CPUs); ms per refresh: refresh processes {c.runs_s * per:.2f}, sandbox {c.sandbox_s * per:.2f}, "
        f"PostgreSQL server {c.postgres_s * per:.2f}, other work on the machine {c.others_s * per:.2f}",
    ]
    if m.project.get_ms is not None:
        before, after = m.project.get_ms
        lines.append(
            f"    GrantStore.get (median of 50) on the freshly seeded table: {before:.2f} ms"
            + (f"; after ANALYZE: {after:.2f} ms (the run was measured after it)" if after is not None
               else " (measured so: no ANALYZE)")
        )  # fmt: skip
    if m.pg_stats:
        s = m.pg_stats
        lines.append(
            f"    PostgreSQL: {s.get('commits', 0):,} transactions committed (a statement in autocommit is one) "
            f"({s.get('commits', 0) / m.sellers:.1f} per refresh), {s.get('rollbacks', 0):,} rolled back, "
            f"{s.get('deadlocks', 0)} deadlocks"
        )
    for p in m.procs:
        lines.append(
            f"    process {p.index}: exit {p.code}, ended at {p.seconds:.2f} s, CPU {p.cpu_s:.1f} s, "
            f"{p.refreshed:,} refreshed, {p.skipped:,} skipped, {p.failed:,} failed"
            + (f" -- {p.problem}" if p.problem else "")
        )
    return lines


def cost_rows(sqlite_run: Measurement, pg_run: Measurement, shares: list[Share]) -> list[str]:
    head = (
        f"{'store':<11}{'sellers':>8}{'wall':>9}{'ms/refresh':>11}{'refresh proc':>13}{'PG server':>10}"
        f"{'sandbox':>8}{'others':>7}   (CPU ms per refresh)"
    )
    lines = [head, "-" * len(head)]
    for m in (sqlite_run, pg_run):
        per = 1000.0 / m.sellers
        c = m.cpu
        lines.append(
            f"{m.project.store:<11}{m.sellers:>8,}{fmt_ms(m.seconds * 1000.0):>9}{m.ms_per_refresh:>11.2f}"
            f"{c.runs_s * per:>13.2f}{c.postgres_s * per:>10.2f}{c.sandbox_s * per:>8.2f}{c.others_s * per:>7.2f}"
        )

    def store_cpu(m: Measurement) -> float:
        return (m.cpu.runs_s + m.cpu.postgres_s) * 1000.0 / m.sellers

    lines.append(
        f"PostgreSQL / SQLite: {pg_run.ms_per_refresh / sqlite_run.ms_per_refresh:.2f}x the wall time per refresh; "
        f"CPU of the refresh process + PostgreSQL server: {store_cpu(pg_run):.2f} vs {store_cpu(sqlite_run):.2f} ms "
        f"per refresh ({store_cpu(pg_run) / store_cpu(sqlite_run):.2f}x)"
    )
    lines += [
        "",
        "The store's share, in process: Session.refresh_all(concurrency=1), latency 0; wall ms per refresh "
        "(calls per refresh)",
    ]
    cols = [f"worker: {p}" for p in WORKER_PARTS]
    head = (
        f"{'store':<11}{'sellers':>8}{'wall':>7}"
        + "".join(f"{c:>22}" for c in cols)
        + f"{'worker in store':>17}{'main thread':>18}"
    )
    lines += [head, "-" * len(head)]
    for s in shares:
        wall = s.seconds * 1000.0 / s.sellers
        cells = "".join(f"{f'{s.ms(p):.2f} ({s.per_seller(p):.1f})':>22}" for p in WORKER_PARTS)
        main_calls = sum(n for (_, t), n in s.calls.items() if t == "main") / s.sellers
        worker, main = s.total_ms("worker"), s.total_ms("main")
        lines.append(
            f"{s.store:<11}{s.sellers:>8,}{wall:>7.2f}{cells}"
            f"{f'{worker:.2f} ({worker / wall:.0%})':>17}{f'{main:.2f} ({main_calls:.1f})':>18}"
        )
    lines.append(
        "worker: the seller's refresh lock, its read as stored now, the new pair's commit (one write); "
        "worker in store: their sum (share of wall); the rest of wall is HTTP, the sandbox (same process) "
        "and Python. main thread: reading the list, the run's begin/end and the claims (they overlap the "
        "worker's refresh)"
    )
    return lines


# --------------------------------------------------------------------------------- main


@dataclass(frozen=True)
class Plan:
    sellers: int
    latency_ms: int
    processes: int
    concurrency: int
    also_concurrency: int
    share_sellers: int
    analyze: bool


def run(plan: Plan) -> int:
    pg_server = load_pg_server()
    reason = pg_server.unavailable_reason()
    if reason is not None:
        print(f"cannot start PostgreSQL here: {reason}")
        return 2
    server = pg_server.PostgresServer(durable=True)
    load_before = os.getloadavg()
    began = time.perf_counter()
    server.start()
    pairs: list[tuple[Measurement, Measurement]] = []
    try:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            version = conn.execute("SELECT version()").fetchone()[0]
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]
                for name in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "max_connections")
            }
        pg_cpu = PostgresCpu(server.directory / "data")
        print(f"PostgreSQL: {version}")
        print(f"  settings: {', '.join(f'{k}={v}' for k, v in settings.items())}; data in {server.directory}")
        with contextlib.ExitStack() as stack:
            sandbox, _ = sandbox_project(stack, "shared store")  # its own session stays idle
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-shared-")))
            log = RefreshLog(sandbox)
            print(f"sandbox: {sandbox.base_url} (file-backed, in this process)")
            print()

            def pg_measure(processes: int, concurrency: int, latency: int, sellers: int) -> Measurement:
                label = f"PostgreSQL, {processes} process{'es' if processes > 1 else ''} x {concurrency}, {latency} ms"
                project = new_project(root, sandbox, server.new_database("bench"), sellers, label, analyze=plan.analyze)
                m = measure(label, project, sandbox, log, processes=processes, concurrency=concurrency,
                            latency_ms=latency, server_url=server.url(), pg_cpu=pg_cpu)  # fmt: skip
                say(f"{label}: {m.seconds:.2f} s, {m.per_s:.0f} refreshes/s, CPU busy {m.cpu.busy_share:.0%}"
                    + (f" -- {len(m.problems)} problem(s)" if m.problems else ""))  # fmt: skip
                return m

            concurrencies = [plan.concurrency]
            if plan.also_concurrency and plan.also_concurrency != plan.concurrency:
                concurrencies.append(plan.also_concurrency)
            for concurrency in concurrencies:
                one = pg_measure(1, concurrency, plan.latency_ms, plan.sellers)
                many = pg_measure(plan.processes, concurrency, plan.latency_ms, plan.sellers)
                pairs.append((one, many))

            sqlite_project = new_project(root, sandbox, None, plan.sellers, "cost, SQLite, latency 0")
            sqlite_run = measure(
                "SQLite, 1 process, latency 0", sqlite_project, sandbox, log, processes=1,
                concurrency=plan.concurrency, latency_ms=0, server_url=server.url(), pg_cpu=pg_cpu,
            )  # fmt: skip
            say(f"SQLite, latency 0: {sqlite_run.seconds:.2f} s")
            pg_run = pg_measure(1, plan.concurrency, 0, plan.sellers)
            shares = [
                store_share(root, sandbox, url, plan.share_sellers, analyze=plan.analyze)
                for url in (None, server.new_database("bench"))
            ]
    finally:
        server.stop()
    load_after = os.getloadavg()

    every = [m for pair in pairs for m in pair] + [sqlite_run, pg_run]
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "",
        f"Shared grant store, {date} · {CPUS} CPUs · Python {platform.python_version()} · psycopg "
        f"{psycopg.__version__} · {platform.platform()} · {time.perf_counter() - began:.0f} s · load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after",
        f"{plan.sellers:,} sellers per run (each a fresh database and new sellers), sandbox latency "
        f"{plan.latency_ms} ms, {plan.processes} processes started at once vs 1; "
        "`python -m tiktok_helpers --env-file ENV refresh --all --json --concurrency C`; PostgreSQL tables "
        + ("ANALYZEd after seeding (as autovacuum would have)" if plan.analyze else "NOT analyzed (--no-analyze)"),
        "",
        f"1. refresh --all, {plan.latency_ms} ms latency, PostgreSQL (durable): 1 process vs {plan.processes} at once",
        "",
        *throughput_rows(pairs),
        "",
        "seconds: first process started -> last one exited (start-up, reading the grants, refreshes, JSON output); "
        "at sandbox: sellers / (last refresh served - first); twice / left out / failed / lost: see the checks",
        "",
        *[line for pair in pairs for m in pair for line in detail_rows(m)],
        "",
        f"2. Cost per refresh, latency 0, 1 process x {plan.concurrency}: SQLite (synchronous=FULL) vs PostgreSQL "
        "(durable)",
        "",
        *cost_rows(sqlite_run, pg_run, shares),
        "",
        *detail_rows(sqlite_run),
        *detail_rows(pg_run),
        "",
    ]
    for one, many in pairs:
        speedup = many.per_s / one.per_s
        verdict = "met" if speedup >= GOAL_SPEEDUP else "NOT met"
        out.append(
            f"goal: >= {GOAL_SPEEDUP:.0f}x the throughput with {many.processes} processes (concurrency "
            f"{many.concurrency}): {speedup:.2f}x, {verdict} (CPU busy {many.cpu.busy_share:.0%} with "
            f"{many.processes}, {one.cpu.busy_share:.0%} with 1)"
        )
    seeded = sum(m.project.seed_s for m in every)
    out.append(f"set-up not timed: seeding {len(every)} projects took {seeded:.0f} s in all")
    notes = [n for m in every for n in m.notes]
    problems = [p for m in every for p in m.problems]
    out += [f"note: {n}" for n in notes]
    if problems:
        out += ["", f"FAILED: {len(problems)} problem(s):", *[f"  - {p}" for p in problems]]
    else:
        out.append(
            "checks: every run: each seller refreshed exactly once (run outputs and sandbox), none left out, "
            "none failed, no refresh token lost, one round, every run ended"
        )
    print("\n".join(out), flush=True)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sellers", type=int, default=None, help="sellers per run (default 10,000; --quick: 400)")
    parser.add_argument("--latency-ms", type=int, default=50, help="the sandbox's injected latency (default 50)")
    parser.add_argument("--processes", type=int, default=4, help="processes started at once (default 4)")
    parser.add_argument("--concurrency", type=int, default=8, help="each process's --concurrency (default 8)")
    parser.add_argument(
        "--also-concurrency", type=int, default=4,
        help="also measure 1 and P processes at this concurrency (default 4; 0: skip)",
    )  # fmt: skip
    parser.add_argument("--share-sellers", type=int, default=None, help="sellers of the in-process store-share runs")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 400 sellers")
    parser.add_argument(
        "--no-analyze", action="store_true",
        help="measure on the freshly seeded tables without ANALYZE (no planner statistics yet)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sellers = args.sellers or (400 if args.quick else 10_000)
    if sellers < 1 or args.processes < 1 or args.concurrency < 1 or args.latency_ms < 0 or args.also_concurrency < 0:
        parser.error("--sellers, --processes and --concurrency must be 1 or more; the latency 0 or more")
    plan = Plan(
        sellers, args.latency_ms, args.processes, args.concurrency, args.also_concurrency,
        args.share_sellers or min(sellers, SHARE_SELLERS), not args.no_analyze,
    )  # fmt: skip
    return run(plan)


if __name__ == "__main__":
    sys.exit(main())
