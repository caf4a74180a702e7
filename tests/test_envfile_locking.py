""".env saved by many processes at once loses nothing; links stay links; leftovers are git-ignored.

The concurrency tests start real processes (a helper script that imports the package, says
"ready", and waits for "go" on stdin), release them together, and let each save through
:func:`~tiktok_helpers.envfile.update_env` as fast as it can. Without the lock a save reads the file,
another process renames its own new file over it, and the first save then writes back what it read:
the other process's keys are gone. No sleeps: the processes synchronise on their pipes only.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_helpers.envfile import lock_file_of, locked, read_env, target_of, update_env
from tiktok_helpers.errors import SettingsError
from tiktok_helpers.settings import load_settings, save_settings
from tiktok_helpers.store import EnvStore

from .conftest import PROJECT_ROOT
from .test_durability import lock_is_free

WORKER = r"""
import json, sys
from pathlib import Path
from tiktok_helpers.envfile import read_env, update_env

name, saves, check = json.loads(sys.argv[1])
path = Path(name)
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
regressions = 0
for key, value in saves:
    update_env(path, {key: value})
    if check and read_env(path).get(key) != value:  # nobody else writes this key
        regressions += 1
print(json.dumps({"regressions": regressions}), flush=True)
"""

HOLDER = r"""
import sys
from tiktok_helpers.envfile import locked

with locked(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.readline()
"""

FIRST_LINES = "# keep me\nOTHER_TOOL_TOKEN=keep-me   # inline comment\n\n"


def child_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIKTOK_", "API2CART_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH", "")]))
    return env


def start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env=child_environment(),
    )


def read_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"the child process died (exit {process.wait()})"
    return line.strip()


def run_together(path: Path, plans: list[tuple[list[tuple[str, str]], bool]]) -> list[dict[str, int]]:
    """Start one worker per plan (its saves, and whether it checks each of its own saves reads back),
    release them all at once, and return what each reports."""
    workers = [start(WORKER, json.dumps([str(path), saves, check])) for saves, check in plans]
    try:
        for worker in workers:
            assert read_line(worker) == "ready"
        for worker in workers:  # released together: every worker is already waiting on this line
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        reports = [json.loads(read_line(worker)) for worker in workers]
        for worker in workers:
            assert worker.wait(timeout=60) == 0
        return reports
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.fixture
def holder() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def hold_lock(path: Path, processes: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    process = start(HOLDER, str(path))
    processes.append(process)
    assert read_line(process) == "locked"
    return process


# --- many processes at once ----------------------------------------------------------------------


@pytest.mark.durability
def test_eight_processes_saving_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(FIRST_LINES)
    plans = [([(f"W{w}_KEY_{i:02d}", f"value-{w}-{i}") for i in range(25)], False) for w in range(8)]
    run_together(path, plans)

    values = read_env(path)
    expected = {key: value for saves, _ in plans for key, value in saves}
    lost = sorted(key for key, value in expected.items() if values.get(key) != value)
    print(f"\nlocking: 8 processes x 25 saves: {len(lost)} of {len(expected)} saves lost")
    assert lost == []
    assert values == {"OTHER_TOOL_TOKEN": "keep-me", **expected}
    assert path.read_text().startswith(FIRST_LINES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["..env.lock", ".env"]  # no temp file left


@pytest.mark.durability
def test_the_last_refresh_token_written_survives_six_other_savers(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(FIRST_LINES + "TIKTOK_REFRESH_TOKEN=TTP_refresh_initial\n")
    tokens = [("TIKTOK_REFRESH_TOKEN", f"TTP_refresh_{i:04d}") for i in range(60)]
    others = [([(f"OTHER_{w}_{i:02d}", f"v{w}.{i}") for i in range(25)], False) for w in range(6)]
    reports = run_together(path, [(tokens, True), *others])

    values = read_env(path)
    lost = sorted(key for saves, _ in others for key, value in saves if values.get(key) != value)
    print(
        f"\nlocking: refresh token saved 60 times beside 6 x 25 other saves: "
        f"{reports[0]['regressions']} token saves read back a different token, {len(lost)} other saves lost"
    )
    assert values["TIKTOK_REFRESH_TOKEN"] == tokens[-1][1]
    assert reports[0]["regressions"] == 0
    assert lost == []
    assert path.read_text().count("TIKTOK_REFRESH_TOKEN=") == 1


def test_threads_of_one_process_are_serialized_too(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    start_line = threading.Barrier(8)
    failures: list[BaseException] = []

    def saver(w: int) -> None:
        try:
            start_line.wait()
            for i in range(20):
                update_env(path, {f"T{w}_{i}": str(i)})
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=saver, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert read_env(path) == {f"T{w}_{i}": str(i) for w in range(8) for i in range(20)}


def test_two_env_stores_keep_each_others_values(tmp_path: Path) -> None:
    """Two stores loaded from one file (a notebook and a command): each save writes only its own keys
    into the file as it is now, never what the store read earlier."""
    path = tmp_path / ".env"
    save_settings({"TIKTOK_REGION": "global", "TIKTOK_APP_TYPE": "custom"}, path)
    first, second = EnvStore(path, environ={}), EnvStore(path, environ={})
    first.load()
    second.load()
    first.save({"TIKTOK_AUTH_CODE": "TTP_code_caught", "TIKTOK_AUTH_CODE_RECEIVED_AT": "2026-11-25T08:00:00+00:00"})
    second.save({"TIKTOK_REGION": "us"})
    values = read_env(path)
    assert values["TIKTOK_AUTH_CODE"] == "TTP_code_caught"
    assert values["TIKTOK_REGION"] == "us"
    assert values["TIKTOK_APP_TYPE"] == "custom"


# --- the lock itself -----------------------------------------------------------------------------


def test_the_lock_file_is_0600_beside_the_file_and_stays(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    assert lock_file_of(path) == tmp_path / "..env.lock"
    update_env(path, {"A": "1"})
    lock = tmp_path / "..env.lock"
    assert lock.exists()
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    assert lock.read_bytes() == b""
    update_env(path, {"A": "2"})
    assert lock.exists()
    assert lock_is_free(lock)  # released after the save


def test_a_save_waits_for_the_lock_held_by_another_process(tmp_path: Path, holder: list[subprocess.Popen[str]]) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    process = hold_lock(path, holder)
    lock = lock_file_of(path)
    assert not lock_is_free(lock)
    done = threading.Event()

    def save() -> None:
        update_env(path, {"B": "2"})
        done.set()

    thread = threading.Thread(target=save)
    thread.start()
    assert not done.is_set()  # cannot have finished: the holder has not been told to let go
    assert read_env(path) == {"A": "1"}
    assert process.stdin is not None
    process.stdin.write("done\n")
    process.stdin.flush()
    assert process.wait(timeout=30) == 0
    thread.join(timeout=30)
    assert done.is_set()
    assert read_env(path) == {"A": "1", "B": "2"}


def test_the_lock_of_a_killed_process_is_released(tmp_path: Path, holder: list[subprocess.Popen[str]]) -> None:
    path = tmp_path / ".env"
    process = hold_lock(path, holder)
    lock = lock_file_of(path)
    assert not lock_is_free(lock)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert lock_is_free(lock)  # the kernel released it with the process
    update_env(path, {"A": "1"})
    assert read_env(path) == {"A": "1"}


def test_locked_is_reentrant_for_a_longer_critical_section(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    update_env(path, {"COUNTER": "1"})
    with locked(path) as target:
        assert target == path.resolve()
        assert not lock_is_free(lock_file_of(path))  # held for the whole block
        count = int(read_env(path)["COUNTER"])
        update_env(path, {"COUNTER": str(count + 1)})  # does not wait for itself
        with locked(path):
            update_env(path, {"OTHER": "x"})
        assert not lock_is_free(lock_file_of(path))  # the inner block did not release it
    assert lock_is_free(lock_file_of(path))
    assert read_env(path) == {"COUNTER": "2", "OTHER": "x"}


def test_a_filesystem_without_locks_still_saves_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_flock(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)  # the module envfile calls
    path = tmp_path / ".env"
    with pytest.warns(RuntimeWarning, match="does not support file locks"):
        update_env(path, {"A": "1"})
    assert read_env(path) == {"A": "1"}


def test_a_folder_without_write_permission_is_a_settings_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / ".env").write_text("A=1\n")
    folder.chmod(0o500)
    try:
        with pytest.raises(SettingsError, match=r"could not write \.env"):
            update_env(folder / ".env", {"B": "2"})
    finally:
        folder.chmod(0o700)
    assert (folder / ".env").read_text() == "A=1\n"


# --- symbolic links ------------------------------------------------------------------------------


def test_a_symlinked_env_stays_a_link_and_its_target_is_updated(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    target = secrets / "shop.env"
    target.write_text("# the real file\nA=1\n")
    project = tmp_path / "project"
    project.mkdir()
    link = project / ".env"
    link.symlink_to(target)

    save_settings({"TIKTOK_REGION": "us"}, link)
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert target.read_text() == "# the real file\nA=1\nTIKTOK_REGION=us\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert load_settings(link, environ={}).region.value == "us"
    # the lock and the temporary file live beside the target; the project folder only has the link
    assert sorted(p.name for p in project.iterdir()) == [".env"]
    assert sorted(p.name for p in secrets.iterdir()) == [".shop.env.lock", "shop.env"]


def test_two_links_to_one_file_share_one_lock(tmp_path: Path) -> None:
    target = tmp_path / "real.env"
    target.write_text("")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one, two = tmp_path / "a" / ".env", tmp_path / "b" / ".env"
    one.symlink_to(target)
    two.symlink_to(Path("..") / "real.env")  # relative links resolve from the link's folder
    assert target_of(one) == target_of(two) == target.resolve()
    assert lock_file_of(one) == lock_file_of(two) == target.resolve().with_name(".real.env.lock")
    update_env(one, {"A": "1"})
    update_env(two, {"B": "2"})
    assert read_env(target) == {"A": "1", "B": "2"}
    assert one.is_symlink() and two.is_symlink()


def test_a_link_to_a_linked_folder_writes_into_the_real_folder(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    update_env(tmp_path / "alias" / ".env", {"A": "1"})
    assert (real / ".env").read_text() == "A=1\n"
    assert (real / "..env.lock").exists()


def test_a_dangling_link_creates_its_target(tmp_path: Path) -> None:
    target = tmp_path / "secrets" / "shop.env"
    target.parent.mkdir()
    link = tmp_path / ".env"
    link.symlink_to(target)
    assert read_env(link) == {}  # not there yet: nothing configured
    update_env(link, {"A": "1"})
    assert link.is_symlink()
    assert target.read_text() == "A=1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_dangling_link_into_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    link = tmp_path / ".env"
    link.symlink_to(tmp_path / "nowhere" / "shop.env")
    with pytest.raises(SettingsError, match=r"could not write \.env: could not open its lock file"):
        update_env(link, {"A": "1"})
    assert link.is_symlink()
    assert not (tmp_path / "nowhere").exists()


def test_a_link_that_loops_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(SettingsError, match="loops back on itself"):
        update_env(tmp_path / "a", {"A": "1"})
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


# --- git -----------------------------------------------------------------------------------------


def git_ignored(*names: str) -> set[str]:
    """The names git ignores in the project's root (the files need not exist)."""
    result = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "check-ignore", "--no-index", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return set(result.stdout.split())


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_leftover_temp_and_lock_files_are_git_ignored() -> None:
    if subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse"], capture_output=True, check=False).returncode:
        pytest.skip("the project is not a git checkout")
    leftovers = ["..env.k1ll3d_x.tmp", "..env.lock", ".my.env.lock", ".my.env.abc123_z.tmp"]
    secrets = [".env", ".env.grants.db", ".env.grants.db-wal"]
    assert git_ignored(*leftovers, *secrets) == {*leftovers, *secrets}
    assert git_ignored(".env.example") == set()  # stays tracked
