"""A grant store a team shares: project folders on (as if) several machines, one PostgreSQL database.

Each project folder here has its own ``.env`` naming the same ``TIKTOK_GRANTS_URL`` (a schema of
the test PostgreSQL server: tests/pg_server.py) and the same running sandbox (TikTok's side), as two
integrators' laptops, a server running the webhook receiver and another running the keep-alive
would. What one folder authorizes, the others see and refresh; two ``refresh --all`` at once
refresh each seller exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tiktok_helpers.grants import Grant
from tiktok_helpers.sandbox import Sandbox

from .cli_in_process import Cli
from .test_refresh_races import TWO_PROCESSES, Project, _run_helper


class SharedProject(Project):
    """A project whose grants are in the shared store its ``.env`` names."""

    def grants(self) -> list[Grant]:
        with self.session() as session:
            return session.store.grants.all()


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


def test_two_project_folders_with_one_store_see_and_refresh_each_others_sellers(
    tmp_path: Path, sandbox: Sandbox[Any], postgres_url: str
) -> None:
    alice, bob = (
        Cli(folder(tmp_path, "alice", sandbox, postgres_url)),
        Cli(folder(tmp_path, "bob", sandbox, postgres_url)),
    )
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
    env = folder(tmp_path, "team", sandbox, postgres_url)
    project = SharedProject(env, sandbox)
    with project.session() as session:
        client = session.token_client()
        for minted in sandbox.state.mint_grants(60):  # as if each had authorized
            session.store.save_tokens(client.refresh(minted.refresh_token))
    sandbox.latency_ms = 20
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
