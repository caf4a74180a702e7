"""Injected network latency: every reply waits, each in its own thread, and the option is checked."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import httpx
import pytest

from tiktok_helpers.samples import SANDBOX_API2CART_KEY
from tiktok_helpers.sandbox import MAX_LATENCY_MS, FakeClock, Sandbox
from tiktok_helpers.sandbox.command import build_parser, main

from .sandbox_calls import sandbox_cli

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def timed_get(url: str, client: httpx.Client | None = None) -> tuple[float, float]:
    """(when the request started, when its reply arrived), in perf_counter seconds."""
    with httpx.Client(timeout=10) if client is None else contextlib.nullcontext(client) as http:
        started = time.perf_counter()
        assert http.get(url, headers={"x-api-key": SANDBOX_API2CART_KEY}).status_code == 200
        return started, time.perf_counter()


def took(span: tuple[float, float]) -> float:
    return span[1] - span[0]


@pytest.mark.durability  # many replies waiting at once
def test_latency_delays_each_reply_without_blocking_the_others() -> None:
    # Event-based, so a loaded machine cannot break it: every reply waits at least the latency, the
    # eight replies' waits overlap in time (one after another they could not), and after the latency
    # is switched off a reply no longer waits half a second. The timing figures belong to benchmarks/.
    with Sandbox(port=0, clock=FakeClock(), latency_ms=500) as sb:
        url = f"{sb.api2cart_base_url}/account.cart.list.json"
        assert took(timed_get(url)) >= 0.5
        clients = [httpx.Client(timeout=10) for _ in range(8)]  # ready before the clock starts
        spans: list[tuple[float, float]] = []
        start = threading.Barrier(len(clients))

        def worker(client: httpx.Client) -> None:
            start.wait()
            spans.append(timed_get(url, client))

        threads = [threading.Thread(target=worker, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for client in clients:
            client.close()
        assert len(spans) == 8 and min(took(span) for span in spans) >= 0.5
        last_start, first_end = max(begin for begin, _ in spans), min(end for _, end in spans)
        assert last_start < first_end, "the replies waited one after another: the latency blocked the others"

        sb.latency_ms = 0  # changed while running
        assert took(timed_get(url)) < 0.5
        with pytest.raises(ValueError, match="latency"):
            sb.latency_ms = MAX_LATENCY_MS + 1
        assert sb.latency_ms == 0


@pytest.mark.parametrize("bad", [-1, MAX_LATENCY_MS + 1, 2.5, True])
def test_sandbox_refuses_a_bad_latency(bad: object) -> None:
    with pytest.raises(ValueError, match="0 to 10000"):
        Sandbox(latency_ms=bad)  # type: ignore[call-overload]


@pytest.mark.parametrize("bad", ["-1", "10001", "abc", "1.5"])
def test_cli_refuses_a_bad_latency(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--port", "0", "--latency-ms", bad])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--latency-ms" in err and ("0 to 10000" in err or "whole number" in err)


def test_cli_latency_option() -> None:
    assert build_parser().parse_args([]).latency_ms == 0
    assert build_parser().parse_args(["--latency-ms", "250"]).latency_ms == 250
    assert "--latency-ms" in build_parser().format_help()
    with sandbox_cli("--latency-ms", "150", "--auto-approve", "Sandbox SG Store", cwd=PROJECT_ROOT) as running:
        assert "every reply waits 150 ms" in running.banner and "seller 'sg'" in running.banner
        assert took(timed_get(f"{running.base_url}/v1.1/account.cart.list.json")) >= 0.15
    assert running.process.returncode == 0
