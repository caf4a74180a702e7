"""Benchmark: the webhook receiver answering many signed deliveries at once.

    .venv/bin/python benchmarks/webhook_receiver.py [DELIVERIES [CONCURRENCY]]

A :class:`~tiktok_helpers.webhook_receiver.Receiver` (the standard library's threaded ``wsgiref``
server, on loopback, port 0) receives ``deliveries`` distinct notices, each signed as TikTok signs
them (TikTok Shop Partner Center, "Webhooks overview": HMAC-SHA256 of App Key + raw body, keyed
with the App Secret), sent by ``concurrency`` threads, each with its own httpx client. ``apply`` does
what a sink's first step does: drop a notification id already seen, record the new one. Every
answer must be a 200 (TikTok wants one within 3 seconds); any other status is counted.

Figures: deliveries per second over the timed run (after a warm-up that is not counted), and the
p50/p99 latency of one delivery (request sent to answer read), in milliseconds. The clients run
in the same process as the server and share its GIL, and ``apply`` here writes nothing, so these
figures are a floor for the receiver alone, not what a deployment sees; every answer closes its
connection (HTTP/1.0), so each delivery opens a new one, as TikTok's do. Nothing is written
anywhere. For the receiver as deployed (``python -m tiktok_helpers webhooks serve`` in its own
process, every notice applied to a real grant database), see ``benchmarks/after_day_one.py``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import threading
import time
from collections import Counter

import httpx

from tiktok_helpers.signing import webhook_signature
from tiktok_helpers.webhook_receiver import Receiver, make_app
from tiktok_helpers.webhooks import Notice

APP_KEY = "6benchmarkappkey"
APP_SECRET = "benchmark-app-secret-0123456789abcdef"
WARM_UP = 100


def _delivery(number: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "type": 7,
            "tts_notification_id": f"bench-{number}",
            "shop_id": "7494049642642441621",
            "timestamp": 1644412885,
            "data": {
                "message": "Authorization of shop_id {xxx} is expiring in {x} days. "
                "Please direct the merchant to re-authorize.",
                "expiration_time": "1627587506",
            },
        },
        separators=(",", ":"),
    ).encode()
    headers = {"Content-Type": "application/json", "Authorization": webhook_signature(APP_KEY, APP_SECRET, body)}
    return body, headers


def _percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of an already sorted list."""
    rank = max(1, round(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def bench_receiver(deliveries: int = 2000, concurrency: int = 50) -> dict[str, float | int]:
    """Send ``deliveries`` signed notices with ``concurrency`` threads; return and print the figures."""
    if deliveries < 1 or concurrency < 1:
        raise ValueError("deliveries and concurrency must be at least 1")
    seen: set[str] = set()
    seen_lock = threading.Lock()

    def apply(notice: Notice) -> str:
        with seen_lock:
            if notice.notification_id in seen:
                return "duplicate, dropped"
            seen.add(notice.notification_id)
        return "recorded"

    app = make_app(app_key=APP_KEY, app_secret=APP_SECRET, apply=apply, log=lambda line: None)
    warm = [_delivery(-n - 1) for n in range(WARM_UP)]
    timed = [_delivery(n) for n in range(deliveries)]
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()
    lock = threading.Lock()

    with Receiver(app) as receiver:
        url = receiver.url
        with httpx.Client(timeout=10) as client:
            for body, headers in warm:
                client.post(url, content=body, headers=headers)
        start = threading.Barrier(concurrency + 1)

        def sender(share: list[tuple[bytes, dict[str, str]]]) -> None:
            mine: list[float] = []
            codes: Counter[int | str] = Counter()
            with httpx.Client(timeout=10) as client:
                start.wait()
                for body, headers in share:
                    began = time.perf_counter()
                    try:
                        codes[client.post(url, content=body, headers=headers).status_code] += 1
                    except httpx.HTTPError as exc:
                        codes[type(exc).__name__] += 1
                    mine.append(time.perf_counter() - began)
            with lock:
                latencies.extend(mine)
                statuses.update(codes)

        threads = [threading.Thread(target=sender, args=(timed[i::concurrency],)) for i in range(concurrency)]
        for thread in threads:
            thread.start()
        start.wait()
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began

    ordered = sorted(latencies)
    figures: dict[str, float | int] = {
        "deliveries": deliveries,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "per_second": round(deliveries / elapsed, 1),
        "p50_ms": round(_percentile(ordered, 0.50) * 1000, 2),
        "p99_ms": round(_percentile(ordered, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
        "not_200": sum(count for status, count in statuses.items() if status != 200),
        "applied": len(seen) - WARM_UP,
    }
    print(
        f"webhook receiver: {deliveries} deliveries, {concurrency} at a time, {figures['seconds']} s: "
        f"{figures['per_second']} deliveries/s, p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
        f"{figures['not_200']} not 200, {figures['applied']} applied "
        f"(Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)"
    )
    return figures


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:3]]
    bench_receiver(*arguments)
