"""A grant store a team shares: project folders on (as if) several machines, one PostgreSQL database.

Each project folder here has its own ``.env`` naming the same ``TIKTOK_GRANTS_URL`` (a schema of
the test PostgreSQL server: tests/pg_server.py) and the same running sandbox (TikTok's side), as two
integrators' laptops, a server running the webhook receiver and another running the keep-alive
would. What one folder authorizes, the others see and refresh; two ``refresh --all`` at once
refresh each seller exactly once.
"""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tiktok_helpers.cli.main import EXIT_INTERRUPTED
from tiktok_helpers.grants import GrantStore
from tiktok_helpers.sandbox import Sandbox
from tiktok_helpers.session import open_session
from tiktok_helpers.store_url import StoreUrl

from .cli_in_process import Cli
from .test_hearing_tiktok import _body, _save, _sign
from .test_refresh_races import TWO_PROCESSES, _run_helper, make_project, stopped_midway


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox[Any]]:
    with Sandbox(state_path=tmp_path / ".sandbox" / "state.db") as running:
        yield running


def folder(root: Path, name: str, sandbox: Sandbox[Any], url: str) -> Path:
    """A project folder whose settings name the shared store and the running sandbox."""
    home = root / name
    home.mkdir()
    env = home / ".env"
    env.write_text(f"TIKTOK_MODE=sandbox\nTIKTOK_SANDBOX_URL={sandbox.base_url}\nTIKTOK_GRANTS_URL={url}\n")
    return env


def clis(root: Path, sandbox: Sandbox[Any], url: str, *names: str) -> tuple[Cli, ...]:
    """The command line of one project folder per name, all sharing the store and the sandbox."""
    return tuple(Cli(folder(root, name, sandbox, url)) for name in names)


def test_two_project_folders_with_one_store_see_and_refresh_each_others_sellers(
    tmp_path: Path, sandbox: Sandbox[Any], postgres_url: str
) -> None:
    alice, bob = clis(tmp_path, sandbox, postgres_url, "alice", "bob")
    alice("authorize", "--sandbox-approve")
    bob("authorize", "--sandbox-approve", "--sandbox-seller", "us")
    listed_by_alice = {s["seller_name"] for s in alice.json("sellers")["sellers"]}
    listed_by_bob = {s["seller_name"] for s in bob.json("sellers")["sellers"]}
    assert listed_by_alice == listed_by_bob and len(listed_by_bob) == 2
    assert not (tmp_path / "alice" / ".env.grants.db").exists()  # nothing kept beside .env
    uk = next(s for s in alice.json("sellers")["sellers"] if "UK" in s["seller_name"])
    refreshed = bob.json("refresh", "--seller", f"#{uk['id']}")  # Bob refreshes the seller Alice authorized
    assert refreshed["ok"]
    after = next(s for s in alice.json("sellers")["sellers"] if s["id"] == uk["id"])
    assert after["access_token"]["value"] == refreshed["access_token"]["value"] != uk["access_token"]["value"]


def test_status_and_doctor_name_the_shared_store_with_its_password_masked(tmp_path: Path, postgres_url: str) -> None:
    url = postgres_url.replace("runbook@", "runbook:not-this-one@")
    env = tmp_path / ".env"
    env.write_text(f"TIKTOK_GRANTS_URL={url}\n")
    cli = Cli(env)
    status = cli("status").stdout + cli("status", "--json").stdout
    assert "not-this-one" not in status and "runbook:****@" in status


@pytest.mark.durability
def test_two_refresh_all_at_once_refresh_each_seller_exactly_once(
    tmp_path: Path, sandbox: Sandbox[Any], postgres_url: str
) -> None:
    project = make_project(tmp_path, sandbox, 60, settings=f"TIKTOK_GRANTS_URL={postgres_url}\n")
    env = project.env
    sandbox.latency_ms = 60  # one run alone would take about a second: the two start within milliseconds
    done = _run_helper(TWO_PROCESSES, str(env), "1", "refresh", "--all", "--json", "--concurrency", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [run for line in done.stdout.splitlines() for run in json.loads(line)]
    assert [run["code"] for run in runs] == [0, 0], [run["stderr"][-600:] for run in runs]
    outcomes = [o for run in runs for o in json.loads(run["stdout"])["outcomes"]]
    refreshed = Counter(o["id"] for o in outcomes if o["status"] == "refreshed")
    assert len(refreshed) == 60 and set(refreshed.values()) == {1}, refreshed.most_common(3)  # once each
    skipped = [o["detail"] for o in outcomes if o["status"] == "skipped"]
    assert len(skipped) == 60 and all("by another run of this refresh" in d for d in skipped), skipped[:3]
    assert project.lost() == [] and len(project.grants()) == 60
    with psycopg.connect(postgres_url) as conn:
        rounds = conn.execute("SELECT DISTINCT refresh_round FROM grants").fetchall()
    assert len(rounds) == 1 and rounds[0][0]  # one round took care of every seller


def test_a_notice_heard_on_one_machine_and_the_keepalive_on_another_share_the_store(
    tmp_path: Path, sandbox: Sandbox[Any], postgres_url: str
) -> None:
    """The webhook receiver's folder applies TikTok's notice; the integrator's folder sees the seller
    as removed, and the keep-alive run from a third folder reports them and refreshes nobody."""
    laptop, server, scheduler = clis(tmp_path, sandbox, postgres_url, "laptop", "server", "cron")
    laptop("authorize", "--sandbox-approve")
    seller = laptop.json("sellers")["sellers"][0]
    with closing(GrantStore(StoreUrl.parse(postgres_url))) as store:
        shop_id = store.all()[0].shops[0].id
    body = _body(6, "7380066284010030001", shop_id=shop_id, message=f"Shop_id {shop_id} is deauthorized")
    delivery = _save(tmp_path, body)
    applied = server.json("webhooks", "verify", str(delivery), "--signature", _sign(body), "--apply")
    assert applied["verified"] is True and "removed the app" in applied["applied"]
    assert laptop.json("sellers")["sellers"][0]["removed_at"] is not None
    report = scheduler.json("keepalive", code=1)
    assert report["refreshed"] == 0 and [a["seller"] for a in report["attention"]] == [seller["seller_name"]]
    assert server.json("webhooks", "verify", str(delivery), "--signature", _sign(body), "--apply")["duplicate"]


def test_a_second_keepalive_on_another_machine_says_which_holds_the_lock(
    tmp_path: Path, sandbox: Sandbox[Any], postgres_url: str
) -> None:
    first, second = clis(tmp_path, sandbox, postgres_url, "one", "two")
    first("authorize", "--sandbox-approve")
    with closing(GrantStore(StoreUrl.parse(postgres_url))) as held, held.exclusive("keepalive") as holder:
        assert holder == ""
        busy = second.json("keepalive", "--due-within", "8")
    assert busy["refreshed"] == 0 and "another keep-alive is running (tiktok-runbook " in busy["busy"]
    assert second.json("keepalive", "--due-within", "8")["refreshed"] == 1  # free again


@pytest.mark.durability
def test_a_stop_signal_during_refresh_all_on_the_shared_store_loses_no_seller(
    tmp_path: Path, sandbox: Sandbox[Any], postgres_url: str
) -> None:
    project = make_project(tmp_path, sandbox, 120, settings=f"TIKTOK_GRANTS_URL={postgres_url}\n")
    sandbox.latency_ms = 30

    def refreshed() -> int:
        with psycopg.connect(postgres_url) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM grants WHERE refresh_round != ''").fetchone()[0])  # type: ignore[index]

    code, stderr = stopped_midway(
        project.env, ["refresh", "--all", "--concurrency", "8"], lambda: refreshed() >= 10, signal.SIGTERM,
        never_ready="fewer than 10 sellers refreshed in 60 s",
    )  # fmt: skip
    assert code == EXIT_INTERRUPTED, stderr[-2000:]
    assert project.lost() == [] and 10 <= refreshed() < 120
    with psycopg.connect(postgres_url) as conn:
        runs = conn.execute("SELECT finished_at FROM refresh_runs").fetchall()
    assert len(runs) == 1 and runs[0][0] is not None  # the run ended its part: nobody joins a stopped round


def test_the_notebooks_steps_keep_everything_in_the_shared_store(
    tmp_path: Path, sandbox: Sandbox[Any], postgres_url: str
) -> None:
    """What notebooks 02 to 05 call, on a folder whose grants are in PostgreSQL: authorize, the
    shops, the store in API2Cart, a refresh handed over to it; another folder sees all of it."""
    env = folder(tmp_path, "notebooks", sandbox, postgres_url)
    with open_session(env, environ={}) as session:
        assert "runbook@" in session.grants_location and session.store.grants.path is None
        result = session.authorize(sandbox_decision="authorize", wait=20)
        assert result.shops and session.add_store(custom_label="shared store")
        refreshed = session.refresh()
        assert refreshed.handover is not None and refreshed.handover.done
    with open_session(folder(tmp_path, "colleague", sandbox, postgres_url), environ={}) as other:
        grant = other.sellers()[0]
        assert grant.api2cart_store_key and grant.shops and grant.held_by_api2cart and grant.refreshed_at is not None
    assert not (tmp_path / "notebooks" / ".env.grants.db").exists()
