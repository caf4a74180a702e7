"""``--trace`` on the command line: after the command's own output, what went over the wire goes to
stderr (with --json too: stdout stays one JSON object), every attempt of every client the command's
session built, secrets masked, and --show-secrets does not unmask it."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tiktok_helpers.cli.main import main
from tiktok_helpers.store import sandbox_state_path

from .cli_in_process import LOOPBACK_ANY_PORT, PROG, Cli
from .sandbox_calls import issued_values

TRACE = "--trace: what went over the wire"


class TracingCli(Cli):
    """:class:`Cli`, also remembering every value the sandbox issued after each command (a refresh
    replaces the pair in its state) and every ``sign`` the Open API client made."""

    def __init__(self, env_file: Path, signs: list[str]) -> None:
        super().__init__(env_file)
        self.signs = signs

    def remember_secrets(self) -> None:
        super().remember_secrets()
        self.secrets |= issued_values(sandbox_state_path(self.env_file)) | set(self.signs)


@pytest.fixture
def cli(tmp_path: Path, signs: list[str]) -> Iterator[TracingCli]:
    env = tmp_path / ".env"
    env.write_text(LOOPBACK_ANY_PORT)
    runner = TracingCli(env, signs)
    yield runner
    runner.assert_no_secret_shown()


def trace_of(stderr: str) -> str:
    assert TRACE in stderr, stderr[-2000:]
    return stderr[stderr.index(TRACE) :]


def headings(trace: str) -> list[tuple[str, str]]:
    """Each exchange's service and attempt number, in order."""
    found = re.finditer(r"^\d+\. (.+), attempt (\d+) \(\d+ ms\)$", trace, re.MULTILINE)
    return [(match.group(1), match.group(2)) for match in found]


def test_a_whole_flow_traced_shows_every_request_with_secrets_masked(cli: TracingCli) -> None:
    done = cli("authorize", "--sandbox-approve", "--trace")
    trace = trace_of(done.stderr)
    assert [name for name, _ in headings(trace)] == ["TikTok authorization service", "TikTok Open API"]
    assert "/api/v2/token/get?app_key=" in trace and "&app_secret=…" in trace and "&auth_code=TTP_…" in trace
    assert '"access_token": "TTP_…' in trace and "&sign=…" in trace and "x-tts-access-token: TTP_…" in trace

    shops = cli("shops", "--trace", "--json")
    assert json.loads(shops.stdout)["ok"] is True  # stdout: one JSON object, the trace on stderr
    assert [name for name, _ in headings(trace_of(shops.stderr))] == ["TikTok Open API"]

    added = trace_of(cli("api2cart", "add", "--trace").stderr)
    assert "> POST " in added and '"tiktokshop_refresh_token": "TTP_…' in added and '"store_key": "…' in added

    refreshed = trace_of(cli("refresh", "--trace").stderr)  # the seller's store gets the new token: the hand-over
    assert [name for name, _ in headings(refreshed)] == ["TikTok authorization service", "API2Cart", "API2Cart"]
    assert "> PUT " in refreshed and "account.config.update.json?" in refreshed and "x-store-key: …" in refreshed
    assert "tiktokshop_refresh_token=TTP_…" in refreshed and "cart.validate.json" in refreshed

    data = cli.json("refresh", "--trace")
    assert data["ok"] is True
    assert len(cli.signs) == 2 and len(cli.secrets) >= 9  # authorize and shops signed; codes, tokens, keys
    # cli.assert_no_secret_shown() runs after the test: no output above held any of them in full


def test_a_rate_limited_call_shows_each_attempt(cli: TracingCli, instant_retries: None) -> None:
    cli("authorize", "--sandbox-approve")
    failed = cli("--scenario", "rate-limited", "shops", "--trace", code=1)
    trace = trace_of(failed.stderr)
    assert headings(trace) == [("TikTok Open API", "1"), ("TikTok Open API", "2"), ("TikTok Open API", "3")]
    assert trace.count("< HTTP 429") == 3 and trace.count('"code": 36009002') == 3
    assert "Rate limited" in failed.stderr


def test_without_trace_nothing_is_printed_and_a_command_without_a_session_says_so(cli: TracingCli) -> None:
    cli("authorize", "--sandbox-approve")
    assert "--trace" not in cli("shops").stderr
    status = cli("status", "--trace")
    assert status.stderr.rstrip().endswith(
        "--trace: nothing recorded: this command sent no request through the runbook's service clients"
    )


def run_on_one_stream(env_file: Path, *args: str, stdout: io.StringIO | None = None) -> tuple[int, str]:
    """The command line with stdout and stderr on one stream (as a terminal shows them), in order."""
    stream = stdout or io.StringIO()
    code = main(["--env-file", str(env_file), *args], stdin=io.StringIO(), stdout=stream, stderr=stream,
                environ={}, prog=PROG)  # fmt: skip
    return code, stream.getvalue()


def test_the_trace_comes_after_the_commands_own_output(cli: TracingCli) -> None:
    cli("authorize", "--sandbox-approve")
    cli("api2cart", "add")
    code, shown = run_on_one_stream(cli.env_file, "shops", "--trace")
    assert code == 0 and shown.index("ROW_sbxGBcipher") < shown.index(TRACE)
    # keepalive prints its report after its session has closed: the trace still comes last
    code, shown = run_on_one_stream(cli.env_file, "keepalive", "--trace")
    assert code == 0 and shown.index("All is well.") < shown.index(TRACE)
    assert [name for name, _ in headings(shown[shown.index(TRACE) :])] == ["API2Cart"]  # cart.validate
    cli.outputs.append(("keepalive --trace", shown))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_show_secrets_does_not_unmask_the_trace(cli: TracingCli) -> None:
    cli("authorize", "--sandbox-approve")
    code, shown = run_on_one_stream(cli.env_file, "refresh", "--show-secrets", "--trace", stdout=Terminal())
    assert code == 0
    cli.remember_secrets()
    before, trace = shown[: shown.index(TRACE)], shown[shown.index(TRACE) :]
    assert any(secret in before for secret in cli.secrets)  # --show-secrets works on the command's output
    assert not [secret for secret in cli.secrets if secret in trace]  # never on the trace
    assert "refresh_token=TTP_…" in trace


def test_the_help_says_show_secrets_does_not_unmask_the_trace() -> None:
    stream = io.StringIO()
    assert main(["--help"], stdout=stream, stderr=stream, environ={}, prog=PROG) == 0
    text = " ".join(stream.getvalue().split())
    assert "--trace after the command's output, print on stderr what went over the wire" in text
    assert "(--show-secrets does not unmask them)" in text and "(never in --trace's output)" in text
