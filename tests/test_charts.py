"""The expiry chart: one bar per seller in each panel, drawn without pyplot, shown as a PNG."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from tiktok_helpers.charts import days_left, expiry_chart
from tiktok_helpers.grants import Grant
from tiktok_helpers.regions import UserType
from tiktok_helpers.secret import Secret

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def grant(n: int, access_days: float, refresh_days: float) -> Grant:
    return Grant(
        id=n,
        open_id=f"70000{n}",
        seller_name=f"Seller {n}",
        base_region="GB",
        user_type=UserType.SELLER,
        access_token=Secret(f"TTP_a{n:020d}"),
        access_token_expires_at=NOW + timedelta(days=access_days),
        refresh_token=Secret(f"TTP_r{n:020d}"),
        refresh_token_expires_at=NOW + timedelta(days=refresh_days),
    )


def test_each_seller_has_a_bar_in_both_panels_with_its_days_left() -> None:
    sellers = [grant(1, 7, 365), grant(2, -1, 20), grant(3, 0.5, 3)]
    chart = expiry_chart(sellers, now=NOW)
    left, right = chart.figure.axes
    bars = [[p for p in axes.patches if isinstance(p, Rectangle)] for axes in (left, right)]
    assert [round(p.get_width(), 1) for p in bars[0]] == [7.0, -1.0, 0.5]
    assert [round(p.get_width(), 1) for p in bars[1]] == [365.0, 20.0, 3.0]
    assert [t.get_text() for t in left.get_yticklabels()] == ["Seller 1", "Seller 2", "Seller 3"]
    green, amber, red = to_rgba("#1a7f37"), to_rgba("#bf8700"), to_rgba("#cf222e")
    assert [p.get_facecolor() for p in right.patches] == [green, amber, amber]  # inside the 30 days: amber
    assert [p.get_facecolor() for p in left.patches] == [green, red, amber]  # ended: red; under a day: amber
    assert chart._repr_png_().startswith(b"\x89PNG")


def test_days_left() -> None:
    assert days_left(NOW + timedelta(days=2), NOW) == 2
    assert days_left(None, NOW) == 0
