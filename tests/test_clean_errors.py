"""Clear errors instead of tracebacks, and inputs that do not lie: the command line, in process
(``tests/cli_in_process.py``), and in a subprocess where a real terminal is the point.

Each bad input exits 2 with ONE line on stderr (never a traceback) and writes nothing: not ``.env``,
not its lock, not ``.sandbox/``, not a folder. Covered: control characters in a pasted code or
redirect address (``%00`` and others, raw or percent-encoded), a code far too long (it used to be
saved to ``.env`` while the message said "nothing was written"), a folder named ``.env``, and a
settings file in a folder that does not exist (it used to be created, folders and all).

And the code kept out of reach of other tools: given on stdin (``exchange -``, ``authorize --paste
-``) or at a hidden prompt; as an argument it still works, with a one-line warning.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktok_helpers.errors import ValidationError
from tiktok_helpers.redirect import CODE_MAX_LENGTH, RedirectResult, parse_redirect
from tiktok_helpers.secret import Secret
from tiktok_helpers.settings import check_env_path
from tiktok_helpers.store import EnvStore
from tiktok_helpers.validation import TOKEN_MAX_LENGTH, clean_text, clean_token, strip_pasted

from .cli_in_process import LOOPBACK_ANY_PORT, Completed, run_cli
from .saved import saved_values
from .test_cli import cli_command, cli_environment, sandbox_location

BIG = "TTP_" + "a" * 200_000  # a 200 KB "code"


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under ``folder``."""
    found: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        found[str(path.relative_to(folder))] = path.read_bytes() if path.is_file() else None
    return found


def run(
    env_file: Path | str | None,
    *args: str,
    stdin: str = "",
    cwd: Path,
    environ: dict[str, str] | None = None,
) -> Completed:
    """The command line (in process) with ``--env-file env_file`` (None: the usual lookup, no option
    given), run in ``cwd`` with only ``environ`` as its environment."""
    return run_cli(*args, env_file=env_file, stdin=stdin, cwd=cwd, environ=environ)


def assert_refused(result: Completed, *fragments: str) -> str:
    """Exit 2, one line on stderr (no traceback) holding every fragment; that line."""
    result.expect(2)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.explain()
    for fragment in fragments:
        assert fragment in lines[0], lines[0][:2000]
    return lines[0]


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    return env


# --- control characters in a pasted code or address ------------------------------------------------


CONTROL_ESCAPES = ["%00", "%01", "%07", "%1b", "%7f", "%c2%9b", "%0a", "%0d", "%09"]


@pytest.mark.parametrize("escape", CONTROL_ESCAPES)
@pytest.mark.parametrize("command", [("exchange",), ("authorize", "--paste")], ids=["exchange", "authorize-paste"])
def test_a_control_character_in_the_code_of_an_address_is_refused_up_front(
    env_file: Path, command: tuple[str, ...], escape: str
) -> None:
    before = snapshot(env_file.parent)
    result = run(env_file, *command, f"https://x/cb?code=TTP_abc{escape}defgh&state=s", cwd=env_file.parent)
    line = assert_refused(result, "Not a redirect address", "the code")
    assert "warning" not in line  # refused before the argument form is even warned about
    assert snapshot(env_file.parent) == before


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("exchange", "-"), "https://x/cb?code=TTP_a\x00bcdefg\n"),
        (("exchange", "-"), "TTP_abc\x00defgh\n"),
        (("authorize", "--paste", "-"), "https://x/cb?code=TTP_abc\x1b[31mdefgh\n"),
        (("exchange", "TTP_abc\x01defgh"), ""),
        (("authorize", "--paste", "https://x/cb?code=TTP_abc\x7fdefgh"), ""),
    ],
    ids=["exchange-stdin-url-nul", "exchange-stdin-bare-nul", "paste-stdin-esc", "exchange-arg-soh", "paste-arg-del"],
)
def test_a_raw_control_character_in_pasted_text_is_refused_up_front(
    env_file: Path, args: tuple[str, ...], stdin: str
) -> None:
    before = snapshot(env_file.parent)
    assert_refused(run(env_file, *args, stdin=stdin, cwd=env_file.parent), "control character")
    assert snapshot(env_file.parent) == before


# --- a code far too long -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("exchange", "-"), f"https://x/cb?code={BIG}&state=s\n"),
        (("exchange", "-"), BIG + "\n"),
        (("authorize", "--paste", "-"), f"https://x/cb?code={BIG}\n"),
    ],
    ids=["exchange-url", "exchange-bare", "authorize-paste-url"],
)
def test_a_200_kb_code_is_refused_before_it_is_saved(env_file: Path, args: tuple[str, ...], stdin: str) -> None:
    before = snapshot(env_file.parent)
    line = assert_refused(
        run(env_file, *args, stdin=stdin, cwd=env_file.parent), f"{len(BIG)} characters", str(CODE_MAX_LENGTH)
    )
    assert "aaaaaaaaaa" not in line
    assert snapshot(env_file.parent) == before  # the message says nothing was kept: nothing was


def test_the_store_refuses_a_code_longer_than_any_token_before_writing(env_file: Path) -> None:
    before = env_file.read_bytes()
    with pytest.raises(ValidationError) as caught:
        EnvStore(env_file).save_code(RedirectResult(code=Secret(BIG)))
    assert caught.value.fields == ("TIKTOK_AUTH_CODE",)
    assert f"at most {TOKEN_MAX_LENGTH}" in str(caught.value)
    assert env_file.read_bytes() == before


def test_clean_token_limits() -> None:
    assert clean_token("x" * TOKEN_MAX_LENGTH) == "x" * TOKEN_MAX_LENGTH
    with pytest.raises(ValidationError, match="longer than any token"):
        clean_token("x" * (TOKEN_MAX_LENGTH + 1))
    for bad, shown in [("TTP_a\x00b", "U+0000"), ("TTP_a\x1bb", "U+001B"), ("TTP_a\u202eb", "U+202E")]:
        with pytest.raises(ValidationError, match=re.escape(shown)):
            clean_token(bad)


def test_text_cleaners_refuse_control_characters() -> None:
    with pytest.raises(ValidationError, match=re.escape("U+0000")):
        strip_pasted("abc\x00def", "field")
    with pytest.raises(ValidationError, match=re.escape("U+001B")):
        clean_text("Shop \x1b[31mred", "TIKTOK_SELLER_NAME")
    assert strip_pasted(" 'abc' \n", "field") == "abc"  # what copy-paste brings is still trimmed
    assert clean_text('Jane\'s "Shop"', "name") == 'Jane\'s "Shop"'


@settings(max_examples=200, deadline=None)
@given(code=st.text(max_size=40) | st.text(max_size=5000), bare=st.booleans())
def test_a_returned_code_can_be_saved_and_sent_as_it_is(code: str, bare: bool) -> None:
    """What parse_redirect returns is saved to .env and sent: never a code clean_token would refuse or
    change (a control character, a space inside, thousands of characters...)."""
    from urllib.parse import urlencode

    from tiktok_helpers.errors import TikTokHelperError

    text = code if bare else "https://x.example/cb?" + urlencode({"code": code})
    try:
        result = parse_redirect(text)
    except TikTokHelperError:
        return
    assert clean_token(result.code.reveal()) == result.code.reveal()


# --- the settings file: a folder, or in a folder that does not exist ---------------------------------

EVERY_COMMAND = [
    ("status",),
    ("doctor",),
    ("sellers",),
    ("exchange",),
    ("refresh",),
    ("shops",),
    ("authorize", "--sandbox-approve"),
    ("api2cart", "list"),
    ("api2cart", "add"),
]


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=" ".join)
def test_a_folder_named_env_is_an_error_naming_it(tmp_path: Path, command: tuple[str, ...]) -> None:
    folder = tmp_path / ".env"
    folder.mkdir()
    before = snapshot(tmp_path)
    assert_refused(run(folder, *command, cwd=tmp_path), str(folder), "is a folder, not a settings file")
    assert snapshot(tmp_path) == before


def test_a_folder_named_env_found_by_the_usual_lookup_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    result = run(None, "status", cwd=tmp_path)
    assert_refused(result, str(tmp_path / ".env"), "is a folder, not a settings file")


@pytest.mark.parametrize("command", EVERY_COMMAND, ids=" ".join)
def test_a_settings_file_in_a_missing_folder_is_refused_and_no_folder_is_created(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    before = snapshot(tmp_path)
    result = run("some/missing/folder/.env", *command, cwd=tmp_path)
    assert_refused(result, "some/missing/folder", "does not exist", "mkdir -p some/missing/folder", "fix the path")
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "some").exists()


def test_tiktok_env_file_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    result = run(None, "status", cwd=tmp_path, environ={"TIKTOK_ENV_FILE": str(tmp_path / "typo" / ".env")})
    assert_refused(result, str(tmp_path / "typo"), "does not exist")
    assert not (tmp_path / "typo").exists()


def test_a_settings_file_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a folder")
    assert_refused(run("notes.txt/.env", "status", cwd=tmp_path), "notes.txt", "is not a folder")


def test_check_env_path(tmp_path: Path) -> None:
    assert check_env_path(tmp_path / ".env") == tmp_path / ".env"  # need not exist yet
    with pytest.raises(ValidationError, match="is a folder"):
        check_env_path(tmp_path)
    with pytest.raises(ValidationError, match="does not exist"):
        check_env_path(tmp_path / "missing" / ".env")


# --- the code out of the process arguments: stdin, a hidden prompt, a warning for the argument -------


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_exchange_with_the_code_as_an_argument_works_and_warns_once(env_file: Path) -> None:
    location = sandbox_location(env_file)
    result = run(env_file, "exchange", location, cwd=env_file.parent).expect(0)
    [warning] = _warnings(result.stderr)
    assert "ps" in warning and "shell history" in warning
    assert "exchange -" in warning and "no argument" in warning
    code = parse_qs(urlsplit(location).query)["code"][0]
    assert code not in result.stderr + result.stdout


def test_exchange_from_stdin_does_not_warn(env_file: Path) -> None:
    result = run(env_file, "exchange", "-", stdin=sandbox_location(env_file) + "\n", cwd=env_file.parent).expect(0)
    assert "Exchanged the code for tokens" in result.stdout
    assert _warnings(result.stderr) == []


def test_authorize_paste_reads_stdin_and_warns_for_the_argument(env_file: Path) -> None:
    piped = run(env_file, "authorize", "--paste", "-", stdin=sandbox_location(env_file) + "\n", cwd=env_file.parent)
    piped.expect(0)
    assert "Authorized by Sandbox UK Store" in piped.stdout
    assert _warnings(piped.stderr) == []

    given = run(env_file, "authorize", "--paste", sandbox_location(env_file), cwd=env_file.parent).expect(0)
    [warning] = _warnings(given.stderr)
    assert "authorize --paste -" in warning


def test_authorize_paste_from_empty_stdin_is_missing_code(env_file: Path) -> None:
    before = snapshot(env_file.parent)
    assert_refused(run(env_file, "authorize", "--paste", "-", cwd=env_file.parent), "nothing was given")
    assert snapshot(env_file.parent) == before


def _on_a_terminal(env_file: Path, *args: str, typed: str | None, wait_for: str) -> tuple[int, str, str, str]:
    """Run with stdin on a pseudo-terminal (and no controlling terminal, so getpass reads stdin). Types
    ``typed`` once ``wait_for`` shows on stderr. Returns the exit code, what the terminal showed
    (its echo), stdout and stderr."""
    # A subprocess: what is tested is the hidden prompt on a real terminal (getpass turns its echo off).
    import pty

    master, slave = pty.openpty()
    process = subprocess.Popen(
        cli_command(env_file, *args),
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=env_file.parent,
        env=cli_environment(),
        start_new_session=True,
    )
    os.close(slave)
    assert process.stdout is not None and process.stderr is not None
    screen, out, err = b"", b"", b""
    deadline = time.monotonic() + 60
    try:
        streams = {master: "screen", process.stdout.fileno(): "out", process.stderr.fileno(): "err"}
        while streams and time.monotonic() < deadline:
            ready, _, _ = select.select(list(streams), [], [], 0.2)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the terminal's other side is closed
                    data = b""
                if not data:
                    del streams[fd]
                    continue
                which = streams[fd]
                if which == "screen":
                    screen += data
                elif which == "out":
                    out += data
                else:
                    err += data
                    if typed is not None and wait_for.encode() in err:
                        time.sleep(0.2)  # let getpass finish turning the echo off
                        os.write(master, typed.encode() + b"\r")
                        typed = None
            if process.poll() is not None and master in streams and not ready:
                break
        code = process.wait(timeout=30)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
    return code, screen.decode("utf-8", "replace"), out.decode(), err.decode()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_exchange_without_an_argument_asks_on_a_terminal_with_hidden_input(env_file: Path) -> None:
    # A subprocess (_on_a_terminal): what is tested is the hidden prompt on a real terminal.
    location = sandbox_location(env_file)
    code_value = parse_qs(urlsplit(location).query)["code"][0]
    rc, screen, out, err = _on_a_terminal(env_file, "exchange", typed=location, wait_for="(hidden)")
    assert rc == 0, err
    assert "Paste the address" in err
    assert "Exchanged the code for tokens" in out
    assert code_value not in screen + out + err  # not echoed, not printed
    assert _warnings(err) == []
    assert "TIKTOK_AUTH_CODE" not in saved_values(env_file)  # spent


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_exchange_without_an_argument_uses_the_saved_code_without_asking(env_file: Path) -> None:
    # A subprocess (_on_a_terminal): what is tested is a real terminal as stdin, where a prompt could come.
    code_value = parse_qs(urlsplit(sandbox_location(env_file)).query)["code"][0]
    env_file.write_text(LOOPBACK_ANY_PORT + f"TIKTOK_AUTH_CODE={code_value}\n")
    rc, _screen, out, err = _on_a_terminal(env_file, "exchange", typed=None, wait_for="")
    assert rc == 0, err
    assert "Paste" not in err
    assert "Exchanged the code for tokens" in out
