"""A save killed mid-write: ``.env`` is always the old or the new complete file, never a mix.

A helper process imports the package once and, for every round, forks a worker that loops
``save_settings`` on one ``.env``, alternating two complete sets of settings with big values (a long
auth code and API key full of quotes and backslashes) in a file that also holds ~0.5 MB of other
lines, so every write takes a while. The test SIGKILLs the worker after a random short sleep and then checks the
file. Forking from a single-threaded helper keeps a round short (no interpreter start per round) and
never forks pytest itself.

After every kill the lock the worker may have held must be free (the kernel releases a ``flock``
with its process), and after the rounds one normal save must leave no temporary file at all: it
removes every one a killed save left.

Tunable from the environment: ``TIKTOK_DURABILITY_ROUNDS`` (default 200) and
``TIKTOK_DURABILITY_SEED`` (the random sleeps; printed, so a failure can be replayed).
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from dotenv import dotenv_values

from tiktok_helpers.settings import default_env_path, load_settings, save_settings

from .conftest import PROJECT_ROOT

ROUNDS = int(os.environ.get("TIKTOK_DURABILITY_ROUNDS", "200"))
SEED = int(os.environ.get("TIKTOK_DURABILITY_SEED", "20261125"))
#: The longest sleep before the kill: a save of the file below takes ~20 ms (~85% parsing the old
#: file, ~15% writing and fsync), so a round sees zero to a few completed saves and kills land in every
#: phase of a save, the write included.
MAX_SLEEP = 0.05
#: Size of each big value (two per set; a token, code or key is at most 4,096 characters).
BIG_SIZE = 4_000
#: Other lines kept in the file: 100 comment lines of 5,000 characters.
NOTES = "".join(f"# note {i:03d} " + "n" * 4990 + "\n" for i in range(100))

OTHER_LINES = (
    "# My project settings: keep every line of this\n"
    "OTHER_TOOL_TOKEN=keep-me   # inline comment\n"
    "\n"
    'export SOMETHING_ELSE="with spaces and # hash"\n'
    "# café ☕ and a backslash \\ and 'quotes'\n"
)

HELPER = r"""
import json, os, sys
from tiktok_helpers.settings import save_settings

config = json.loads(sys.stdin.readline())
path, sets = config["path"], config["sets"]
print("ready", flush=True)
pid = read_end = -1
for line in sys.stdin:
    command, *args = line.split()
    if command == "go":
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                os.close(read_end)
                i = int(args[0])
                while True:
                    save_settings(sets[i], path)
                    os.write(write_end, b".")
                    i ^= 1
            except BaseException:
                code = 3
            finally:
                os._exit(code)
        os.close(write_end)
        print(pid, flush=True)
    elif command == "reap":
        _, status = os.waitpid(pid, 0)
        saves = 0
        while chunk := os.read(read_end, 65536):
            saves += len(chunk)
        os.close(read_end)
        print(status, saves, flush=True)
"""


def settings_set(n: int) -> dict[str, str]:
    """A complete, valid set of settings; set 0 and set 1 differ in every value."""
    unit = ['Jane\'s\\Shop#1="ü"_', "Bob's_Store\\\\'two'#☕_"][n]
    big = (unit * (BIG_SIZE // len(unit) + 1))[: BIG_SIZE - 1]  # no space inside, no quote at either end
    return {
        "TIKTOK_REGION": ["global", "us"][n],
        "TIKTOK_APP_TYPE": ["custom", "public"][n],
        "TIKTOK_APP_KEY": ["6abcd1234efgh", "7zyxw9876vuts"][n],
        "TIKTOK_APP_SECRET": [f"{'0123456789abcdef' * 2}01234567", f"{'fedcba9876543210' * 2}76543210"][n],
        "TIKTOK_SERVICE_ID": ["7312345678901234567", "7398765432109876543"][n],
        "TIKTOK_AUTH_CODE": big + "c",
        "TIKTOK_AUTH_CODE_RECEIVED_AT": f"2026-12-0{n + 1}T08:00:00+00:00",
        "API2CART_API_KEY": big + "k",
    }


class Helper:
    """The forking helper process."""

    def __init__(self, path: Path, sets: list[dict[str, str]]) -> None:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=PROJECT_ROOT,
            env=env,
            text=True,
        )
        self._send(json.dumps({"path": str(path), "sets": sets}))
        assert self._receive() == "ready"

    @property
    def _stdin(self) -> IO[str]:
        assert self.process.stdin is not None
        return self.process.stdin

    def _send(self, line: str) -> None:
        self._stdin.write(line + "\n")
        self._stdin.flush()

    def _receive(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the helper process died"
        return line.strip()

    def start_worker(self, first: int) -> int:
        self._send(f"go {first}")
        return int(self._receive())

    def reap(self) -> tuple[int, int]:
        """The worker's wait status and how many saves it completed."""
        self._send("reap")
        status, saves = self._receive().split()
        return int(status), int(saves)

    def close(self) -> None:
        self._stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def helper_factory() -> Iterator[list[Helper]]:
    helpers: list[Helper] = []
    yield helpers
    for helper in helpers:
        helper.close()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def lock_is_free(lock: Path) -> bool:
    """Whether an exclusive flock on ``lock`` can be taken right now (released at once)."""
    fd = os.open(lock, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def temp_files(folder: Path) -> set[Path]:
    """The temporary files of interrupted saves: mkstemp(prefix=".env.", suffix=".tmp") names them
    ``..env.XXXXXXXX.tmp``; any other ``*.tmp`` counts too."""
    return set(folder.glob("*.tmp"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and POSIX signals")
@pytest.mark.durability
def test_a_killed_save_leaves_either_the_old_or_the_new_complete_file(
    tmp_path: Path, helper_factory: list[Helper]
) -> None:
    rng = random.Random(SEED)  # noqa: S311 - sleeps, not secrets
    path = tmp_path / ".env"
    (tmp_path / ".env.example").write_text("")  # makes tmp_path the project folder for default_env_path
    path.write_text(OTHER_LINES + NOTES, encoding="utf-8")
    path.chmod(0o644)
    sets = [settings_set(0), settings_set(1)]
    expected: list[bytes] = [b"", b""]
    for n in (1, 0):  # the exact bytes of each complete state; the file ends in state 0
        save_settings(sets[n], path)
        expected[n] = path.read_bytes()
    assert expected[0] != expected[1]
    assert all(e.startswith((OTHER_LINES + NOTES).encode()) for e in expected)
    assert mode_of(path) == 0o600
    lock = tmp_path / "..env.lock"
    assert mode_of(lock) == 0o600
    helper = Helper(path, sets)
    helper_factory.append(helper)

    outcomes: Counter[str] = Counter()
    total_saves = 0
    current = 0
    seen_temp: set[Path] = set()
    started = time.monotonic()
    for round_number in range(ROUNDS):
        pid = helper.start_worker(first=1 - current)
        time.sleep(rng.uniform(0, MAX_SLEEP))
        os.kill(pid, signal.SIGKILL)
        status, saves = helper.reap()
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
            f"round {round_number}: the worker ended by itself (status {status}): save_settings raised"
        )
        total_saves += saves
        assert lock_is_free(lock), f"round {round_number}: the killed worker's lock was not released"

        data = path.read_bytes()
        assert data in expected, f"round {round_number} (seed {SEED}): .env is neither complete state"
        state = expected.index(data)
        outcomes["unchanged" if state == current else "changed"] += 1
        outcomes[f"{min(saves, 3)}{'+' if saves >= 3 else ''} saves completed"] += 1
        current = state
        assert mode_of(path) == 0o600
        if round_number % 10 == 0:  # the bytes are one known state; parse now and then (30 ms a time)
            loaded = load_settings(path, environ={})
            assert loaded.auth_code.reveal() == sets[state]["TIKTOK_AUTH_CODE"]
            assert loaded.api2cart_api_key.reveal() == sets[state]["API2CART_API_KEY"]
            assert loaded.app_secret.reveal() == sets[state]["TIKTOK_APP_SECRET"]

        new_temp = temp_files(tmp_path) - seen_temp
        if new_temp:
            outcomes["killed with a temp file written"] += 1
        for temp in new_temp:  # an interrupted write: a prefix of a state, readable by the owner only
            assert mode_of(temp) == 0o600
            content = temp.read_bytes()
            assert any(state_bytes.startswith(content) for state_bytes in expected)
        seen_temp |= new_temp
        assert default_env_path(tmp_path) == path  # a temp file or the lock is never taken for the .env

    elapsed = time.monotonic() - started
    # A normal save afterwards works, and still only touches .env.
    save_settings(sets[1 - current], path)
    assert path.read_bytes() == expected[1 - current]
    values = dotenv_values(path, interpolate=False)
    assert values["OTHER_TOOL_TOKEN"] == "keep-me"
    assert {k: values[k] for k in sets[1 - current]} == sets[1 - current]
    stale = temp_files(tmp_path)
    assert mode_of(lock) == 0o600
    print(
        f"\ndurability: {ROUNDS} rounds in {elapsed:.1f} s (seed {SEED}), {total_saves} saves completed, "
        f"outcomes {dict(sorted(outcomes.items()))}, stale temp files left: {len(stale)}"
    )
    assert stale == set(), "the save after the kills removes every temp file they left"


@pytest.mark.durability
def test_a_later_save_removes_the_temp_files_of_killed_saves(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    save_settings(settings_set(0), path)
    # What killed saves leave: a prefix of the new file. Fresh ones too: saves are serialized by the
    # lock, so any temp file found under it belongs to no live save.
    stale = [tmp_path / "..env.k1ll3d_a.tmp", tmp_path / "..env.x.tmp"]
    for leftover in stale:
        leftover.write_bytes(path.read_bytes()[:1000])
        leftover.chmod(0o600)
    others = [tmp_path / "..env.local.abcdefgh.tmp", tmp_path / "notes.tmp", tmp_path / ".other.abcdefgh.tmp"]
    for other in others:  # another file's temporaries are not this save's business
        other.write_text("keep")
    save_settings(settings_set(1), path)
    assert not any(leftover.exists() for leftover in stale)
    assert all(other.exists() for other in others)
    assert path.read_bytes().endswith(b"\n")
    assert load_settings(path, environ={}).app_key == settings_set(1)["TIKTOK_APP_KEY"]
