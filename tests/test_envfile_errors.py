"""A .env line python-dotenv cannot read stops everything before anything is read or written.

python-dotenv skips such a line with a warning, and an unclosed quote can swallow the lines below it:
``authorize`` would spend the code and save the tokens where they are never read back. The runbook
refuses the file instead, naming the line and (at most) its key, never its value.
"""

from __future__ import annotations

import io
import re
import stat
import warnings
from pathlib import Path

import pytest
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktok_helpers.cli import exit_code_for
from tiktok_helpers.cli.main import error_json
from tiktok_helpers.doctor import FAIL, run_checks
from tiktok_helpers.envfile import read_env, update_env
from tiktok_helpers.errors import EnvFileError, SettingsError
from tiktok_helpers.settings import load_settings, save_settings
from tiktok_helpers.store import EnvStore

from .cli_in_process import run_cli
from .tiers import examples

SECRET = "0123456789abcdef0123456789abcdef01234567"
REDIRECT = "TIKTOK_REDIRECT_URL=http://127.0.0.1:0/callback\n"
UNCLOSED = "an opening quote (') is never closed on this line"


def write(path: Path, text: str) -> bytes:
    path.write_bytes(text.encode("utf-8"))
    return path.read_bytes()


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- what the message says -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("A=1\nTIKTOK_APP_TYPE='custom\n", 2, "TIKTOK_APP_TYPE", UNCLOSED),
        # the quote closes on a later line (here in a quoted seller name), then text follows it
        ("TIKTOK_APP_TYPE='custom\nTIKTOK_SELLER_NAME='Jane Shop'\n", 1, "TIKTOK_APP_TYPE", UNCLOSED),
        ('# c\n\n\nexport TIKTOK_APP_SECRET="' + SECRET + "\n", 4, "TIKTOK_APP_SECRET", 'quote (") is never closed'),
        ("A=1\r\n\r\nB='x' y\r\n", 3, "B", "text after the closing quote"),
        ("A=1\nnot a binding at all ===\n", 2, None, "python-dotenv cannot read this line"),
        ("A=1\n=" + SECRET + "\n", 2, None, "python-dotenv cannot read this line"),
        ("\ufeffA=1\n" + SECRET + " and more\nB=2\n", 2, None, "python-dotenv cannot read this line"),
        ("A=1\rB='x\rC=2\r", 2, "B", UNCLOSED),
    ],
    ids=["unclosed", "swallowing", "export-blank-lines", "crlf-text-after", "no-equals", "no-key", "bom", "cr"],
)
def test_read_env_names_the_line_and_key_never_the_value(
    env_file: Path, text: str, line: int, key: str | None, reason: str
) -> None:
    write(env_file, text)
    with pytest.raises(EnvFileError) as info:
        read_env(env_file)
    error = info.value
    message = str(error)
    assert (error.line, error.key) == (line, key)
    assert reason in error.reason
    assert f"line {line} of {env_file}" in message
    assert f"Fix or delete line {line} of .env; nothing was read or written" in message
    assert (f"({key}=...)" in message) if key else ("=...)" not in message)
    assert SECRET not in message and SECRET[:12] not in message
    assert "custom" not in message
    assert isinstance(error, SettingsError)
    assert exit_code_for(error) == 2
    assert error_json(error, "prog")["catalog_code"] == "settings.syntax"


def test_every_unreadable_line_is_counted(env_file: Path) -> None:
    write(env_file, "A=1\nbad one\nB=2\n=x\n\nC='y\n")
    with pytest.raises(EnvFileError) as info:
        read_env(env_file)
    assert info.value.line == 2
    assert info.value.more == (4, 6)
    assert "(lines 4, 6 cannot be read either)" in str(info.value)


def test_load_settings_and_every_store_stop_before_anything(env_file: Path) -> None:
    before = write(env_file, f"TIKTOK_APP_KEY=6abcd1234efgh\nTIKTOK_APP_SECRET='{SECRET}\n")
    env_file.chmod(0o644)
    with pytest.raises(EnvFileError, match=r"line 2 of .*TIKTOK_APP_SECRET=\.\.\.") as info:
        load_settings(env_file, environ={})
    assert SECRET[:12] not in str(info.value)
    with pytest.raises(EnvFileError):
        EnvStore(env_file, environ={}).load()
    with pytest.raises(EnvFileError):
        save_settings({"TIKTOK_REGION": "us"}, env_file)
    with pytest.raises(EnvFileError):
        EnvStore(env_file, environ={}).save({"TIKTOK_REGION": "us"})
    assert env_file.read_bytes() == before
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o644  # not even rewritten
    assert files_in(env_file.parent) == ["..env.lock", ".env"]  # no temporary file


def test_doctor_reports_the_line_as_a_failed_settings_check(env_file: Path) -> None:
    write(env_file, "TIKTOK_APP_TYPE='custom\n")
    report = run_checks(env_file, environ={})
    first = report.checks[0]
    assert (first.name, first.status) == ("settings", FAIL)
    assert "line 1 of" in first.detail and "TIKTOK_APP_TYPE" in first.detail


# --- update_env writes nothing past an unreadable line ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        REDIRECT + "TIKTOK_APP_TYPE='custom\n",
        "A=1\r\nnot a binding\r\n",
        "A='never closed\nB=2\nC='x'\n",
        "\ufeff# bom\n=x",
    ],
)
def test_update_env_leaves_the_file_byte_for_byte(env_file: Path, text: str) -> None:
    before = write(env_file, text)
    with pytest.raises(EnvFileError):
        update_env(env_file, {"TIKTOK_ACCESS_TOKEN": "TTP_access_x", "TIKTOK_REFRESH_TOKEN": "TTP_refresh_y"})
    with pytest.raises(EnvFileError):
        update_env(env_file, {"A": None})
    assert env_file.read_bytes() == before
    assert not [name for name in files_in(env_file.parent) if name.endswith(".tmp")]


def test_the_cli_authorize_stops_before_the_code_is_spent(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    before = write(env, REDIRECT + "TIKTOK_APP_TYPE='custom\n")
    for extra in ((), ("--json",)):
        result = run_cli("authorize", "--sandbox-approve", *extra, env_file=env, cwd=tmp_path)
        assert result.returncode == 2, result
        assert "line 2 of" in result.stderr
        assert "TIKTOK_APP_TYPE=..." in result.stderr
        assert "Fix or delete line 2 of .env; nothing was read or written" in result.stderr
        assert "'custom" not in result.stderr + result.stdout
        assert "Authorized" not in result.stdout
        assert env.read_bytes() == before
        if extra:
            assert '"catalog_code": "settings.syntax"' in result.stdout
    left = files_in(tmp_path)
    assert ".sandbox" not in left  # the sandbox never started: no code was asked for, none spent
    assert not [name for name in left if name.endswith((".tmp", ".lock"))]  # no save was even tried


# --- everything python-dotenv reads is still read, the same way -----------------------------------


ACCEPTED = (
    "# comment\n"
    "\n"
    "   \n"
    "A=1\n"
    "export B=two words  # inline comment\n"
    "C='single # not a comment'\n"
    'D="double \\"escaped\\" \\n"\n'
    "E=\n"
    "F\n"
    "G = spaced\n"
    "H='multi\nline'\n"
    "'I'=quoted key\n"
    "J=${HOME}\n"
    "K='it\\'s'\n"
    "A=last wins\n"
)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("bom", ["", "\ufeff"])
def test_everything_python_dotenv_accepts_is_read_as_it_reads_it(env_file: Path, newline: str, bom: str) -> None:
    write(env_file, bom + ACCEPTED.replace("\n", newline))
    expected = {k: v for k, v in dotenv_values(env_file, interpolate=False).items() if v is not None}
    assert read_env(env_file) == expected
    assert expected["A"] == "last wins" and expected["H"] == "multi\nline" and "F" not in expected


def test_update_keeps_a_bom_and_crlf(env_file: Path) -> None:
    write(env_file, "\ufeff# from Windows\r\nA=1\r\n")
    update_env(env_file, {"A": "2", "B": "3"})
    assert env_file.read_bytes() == "\ufeff# from Windows\r\nA=2\r\nB=3\r\n".encode()


_ALPHABET = st.sampled_from(["A", "B", "export ", "=", " ", "'", '"', "#", "\\", "\n", "\r\n", "x", "1"])


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(_ALPHABET, max_size=30))
def test_any_text_is_either_read_as_python_dotenv_reads_it_or_refused_at_its_first_bad_line(
    tmp_path: Path, pieces: list[str]
) -> None:
    text = "".join(pieces)
    path = tmp_path / "fuzz.env"
    before = write(path, text)
    bindings = list(parse_stream(io.StringIO(text, newline="")))
    bad = [b for b in bindings if b.error]
    if not bad:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = {k: v for k, v in dotenv_values(path, interpolate=False).items() if v is not None}
        assert read_env(path) == expected
        update_env(path, {"A": "new", "NEW_KEY": "n"})  # and a save keeps every other value
        assert read_env(path) == {**expected, "A": "new", "NEW_KEY": "n"}
        return
    first = bad[0].original
    # the line where the bad binding's text starts, after the blank lines python-dotenv counts with it
    blank = first.string[: len(first.string) - len(first.string.lstrip())]
    line = first.line + len(re.findall(r"\r\n|\n|\r", blank))
    with pytest.raises(EnvFileError) as info:
        read_env(path)
    assert info.value.line == line
    assert len(info.value.more) == len(bad) - 1
    with pytest.raises(EnvFileError):
        update_env(path, {"A": "new"})
    assert path.read_bytes() == before
