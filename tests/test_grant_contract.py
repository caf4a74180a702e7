"""The grant store's contract, on both of its databases: the SQLite file beside ``.env`` and a
PostgreSQL database a team shares (a real server the tests start: tests/pg_server.py).

Every test here takes ``location`` and runs once per backend; what only one backend has (the file's
mode and damage checks; PostgreSQL's schema marker, its refusal of another program's schema, its
masked URL) is tested at the end. tests/test_grants.py and tests/test_grant_store_damage.py test
the SQLite file further.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from tiktok_helpers import bulk, grant_pg
from tiktok_helpers.errors import GrantDatabaseBusy, GrantDatabaseError, MissingSettingError, SettingsError
from tiktok_helpers.grant_migrations import POSTGRESQL, SQLITE, VERSION
from tiktok_helpers.grant_pg import PostgresDatabase
from tiktok_helpers.grant_rounds import Round
from tiktok_helpers.grant_rows import Refresher
from tiktok_helpers.grants import Grant, GrantScope, GrantStore
from tiktok_helpers.openapi import Shop
from tiktok_helpers.results import RefreshStatus
from tiktok_helpers.secret import Secret
from tiktok_helpers.seller_lock import StopRequested
from tiktok_helpers.store_url import StoreUrl
from tiktok_helpers.tokens import TokenSet
from tiktok_helpers.webhooks import Notice

from .pg_server import PostgresServer

SANDBOX = GrantScope("sandbox", "sbxappkey0001")
LIVE = GrantScope("live", "liveappkey01")
NOW = int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp())

Location = Path | StoreUrl


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Location:
    """Where the grants live: a fresh SQLite file, or a fresh schema of the test PostgreSQL server."""
    if request.param == "sqlite":
        return tmp_path / ".env.grants.db"
    return StoreUrl.parse(request.getfixturevalue("postgres_url"))


@pytest.fixture
def open_store(location: Location) -> Iterator[Callable[..., GrantStore]]:
    """Open stores at ``location`` (as many as a test wants: each is one process's view); all closed
    at the end."""
    opened: list[GrantStore] = []

    def make(scope: GrantScope | None = SANDBOX) -> GrantStore:
        store = GrantStore(location, scope=scope)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def pg(url: str, scope: GrantScope | None = SANDBOX) -> closing[GrantStore]:
    """A store on the PostgreSQL database ``url``, closed when the ``with`` ends."""
    return closing(GrantStore(StoreUrl.parse(url), scope=scope))


def tokens(n: int, *, open_id: str = "", name: str = "", refresh: str = "") -> TokenSet:
    return TokenSet.from_data(
        {
            "access_token": f"TTP_access_{n:020d}",
            "access_token_expire_in": NOW + 7 * 86400,
            "refresh_token": refresh or f"TTP_refresh_{n:020d}",
            "refresh_token_expire_in": NOW + 365 * 86400,
            "open_id": open_id or f"open{n:08d}",
            "seller_name": name or f"Seller {n}",
            "seller_base_region": "GB",
            "user_type": 0,
            "granted_scopes": ["seller.authorization.info"],
        },
        now=NOW,
    )


def pair(refresh: str) -> TokenSet:
    """A refresh reply: a new pair, without who the seller is (a refresh reply may leave it out)."""
    return TokenSet.from_data(
        {"access_token": f"TTP_access_{refresh}", "access_token_expire_in": NOW + 7 * 86400,
         "refresh_token": refresh, "refresh_token_expire_in": NOW + 365 * 86400},
        now=NOW,
    )  # fmt: skip


def shop(n: int) -> Shop:
    return Shop(id=f"shop{n:06d}", name=f"Shop {n}", region="GB", seller_type="LOCAL", cipher=f"GCP_{n:010d}", code="")


# --- one seller's grant ---------------------------------------------------------------------------


def test_a_new_seller_gets_a_grant_and_authorizing_again_updates_it(open_store: Callable[..., GrantStore]) -> None:
    store = open_store()
    first = store.save_tokens(tokens(1))
    assert (store.count(), first.seller_name, first.refresh_token.reveal()) == (
        1,
        "Seller 1",
        tokens(1).refresh_token.reveal(),
    )
    again = store.save_tokens(tokens(2, open_id="open00000001", name="Seller 1"))
    assert again.id == first.id and store.count() == 1
    assert store.get(first.id).access_token.reveal() == "TTP_access_00000000000000000002"
    assert store.find("seller 1").id == first.id == store.find(f"#{first.id}").id == store.find("open00000001").id
    assert store.newest() is not None and store.newest().id == first.id  # type: ignore[union-attr]
    with pytest.raises(MissingSettingError, match="no seller 'nobody'"):
        store.find("nobody")


def test_a_refresh_saves_the_pair_and_keeps_who_the_seller_is(open_store: Callable[..., GrantStore]) -> None:
    store = open_store()
    grant = store.save_tokens(tokens(1))
    refreshed = store.save_tokens(
        TokenSet.from_data({"access_token": "TTP_access_new", "access_token_expire_in": NOW + 9,
                            "refresh_token": "TTP_refresh_new", "refresh_token_expire_in": NOW + 99}, now=NOW),
        grant_id=grant.id, kind="refreshed",
    )  # fmt: skip
    assert (refreshed.id, refreshed.seller_name, refreshed.open_id) == (grant.id, "Seller 1", "open00000001")
    assert refreshed.refresh_token.reveal() == "TTP_refresh_new" and refreshed.refreshed_at is not None


def test_shops_store_key_and_refresher_are_saved_on_the_grant(open_store: Callable[..., GrantStore]) -> None:
    store = open_store()
    grant = store.save_tokens(tokens(1))
    with_shops = store.save_shops(grant.id, [shop(1), shop(2)])
    assert [s.id for s in with_shops.shops] == ["shop000001", "shop000002"] and with_shops.verified_at is not None
    held = store.save_store_key(grant.id, Secret("store_key_000000000001"))
    assert held.refresher is Refresher.API2CART and held.api2cart_store_key.reveal() == "store_key_000000000001"
    back = store.set_refresher(grant.id, Refresher.RUNBOOK)
    assert back.refresher is Refresher.RUNBOOK and back.refresher_reason == "switched"
    with pytest.raises(MissingSettingError, match="no longer in"):
        store.save_shops(grant.id + 1000, [shop(3)])


def test_each_app_and_mode_sees_only_its_own_grants(open_store: Callable[..., GrantStore]) -> None:
    sandbox, live, other = open_store(SANDBOX), open_store(LIVE), open_store(GrantScope("live", "anotherapp02"))
    sandbox.save_tokens(tokens(1))
    live.save_tokens(tokens(1))  # the same seller, authorized for the live app: a grant of its own
    live.save_tokens(tokens(2))
    assert (sandbox.count(), live.count(), other.count()) == (1, 2, 0)
    assert other.elsewhere() == {SANDBOX: 1, LIVE: 2}
    assert open_store(None).count() == 3


def test_an_imported_grant_is_added_once_and_merges_with_its_sellers_authorization(
    open_store: Callable[..., GrantStore],
) -> None:
    store = open_store()
    imported = Grant(
        id=0, open_id="", seller_name="Old Shop", base_region="GB", user_type=tokens(1).user_type,
        access_token=Secret("TTP_access_old"), access_token_expires_at=None, refresh_token=Secret("TTP_refresh_old"),
        refresh_token_expires_at=None, granted_scopes=(), shops=(shop(7),),
        api2cart_store_key=Secret("store_key_000000000007"), authorized_at=None, refreshed_at=None, verified_at=None,
    )  # fmt: skip
    first, added = store.import_grant(imported)
    again, added_again = store.import_grant(imported)
    assert (added, added_again, first.id == again.id, first.imported) == (True, False, True, True)
    merged = store.save_tokens(tokens(5, name="Old Shop"))  # the seller authorizes again: one grant
    assert store.count() == 1 and merged.open_id == "open00000005"
    assert merged.api2cart_store_key.reveal() == "store_key_000000000007" and [s.id for s in merged.shops] == [
        "shop000007"
    ]


def test_a_webhook_notice_is_applied_once_by_shop_id(open_store: Callable[..., GrantStore]) -> None:
    store = open_store()
    grant = store.save_tokens(tokens(1))
    store.save_shops(grant.id, [shop(1)])
    notice = Notice(type=6, notification_id="n-1", shop_id="shop000001",
                    timestamp=datetime.now(timezone.utc) + timedelta(days=1))  # fmt: skip
    applied = store.record_notice(notice)
    assert applied.grant_ids == (grant.id,) and not applied.duplicate
    assert store.get(grant.id).removed_at is not None
    assert open_store().record_notice(notice).duplicate  # another process hears it again: nothing changes


# --- many processes, one store ----------------------------------------------------------------------


def test_two_processes_see_each_others_sellers(open_store: Callable[..., GrantStore]) -> None:
    mine, theirs = open_store(), open_store()
    mine.save_tokens(tokens(1))
    theirs.save_tokens(tokens(2))
    assert {g.seller_name for g in mine.all()} == {g.seller_name for g in theirs.all()} == {"Seller 1", "Seller 2"}


def test_two_processes_authorizing_the_same_new_seller_at_once_make_one_grant(
    open_store: Callable[..., GrantStore],
) -> None:
    stores = [open_store() for _ in range(4)]
    start = threading.Barrier(len(stores))
    failures: list[BaseException] = []

    def authorize(store: GrantStore, n: int) -> None:
        start.wait()
        try:
            store.save_tokens(tokens(n, open_id="open-same", name="Same Seller"))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=authorize, args=(s, n)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and stores[0].count() == 1


def test_a_sellers_refresh_lock_holds_across_stores(open_store: Callable[..., GrantStore]) -> None:
    mine, theirs = open_store(), open_store()
    grant = mine.save_tokens(tokens(1))
    with mine.seller_locked(grant.id):
        with (
            pytest.raises(SettingsError, match="another refresh of Seller 1"),
            theirs.seller_locked(grant.id, wait=0.2, what="Seller 1"),
        ):
            pass
        stop = threading.Event()
        stop.set()
        with pytest.raises(StopRequested), theirs.seller_locked(grant.id, stop=stop):
            pass
        with theirs.seller_locked(grant.id + 1, wait=0.2):  # another seller's lock is free
            pass
    with theirs.seller_locked(grant.id, wait=0.2):  # released
        pass


def test_the_keepalive_lock_says_who_holds_it(open_store: Callable[..., GrantStore]) -> None:
    mine, theirs = open_store(), open_store()
    mine.save_tokens(tokens(1))
    with mine.exclusive("keepalive") as held:
        assert held == ""
        with theirs.exclusive("keepalive") as holder:
            assert (holder and "pid" in holder) or holder.startswith("process")
    with theirs.exclusive("keepalive") as held_now:
        assert held_now == ""


# --- rounds: refresh --all from several processes or machines -----------------------------------------


def test_runs_started_together_share_a_round_and_claim_different_sellers(open_store: Callable[..., GrantStore]) -> None:
    first, second = open_store(), open_store()
    ids = {first.save_tokens(tokens(n)).id for n in range(10)}
    run_a, run_b = first.begin_round("all"), second.begin_round("all")
    assert run_b.round_id == run_a.round_id and run_b.joined and not run_a.joined
    claimed_a, claimed_b = first.claim(run_a, 4), second.claim(run_b, 4)
    assert len(claimed_a) == len(claimed_b) == 4 and not set(claimed_a) & set(claimed_b)
    rest = first.claim(run_a, 10)
    assert set(claimed_a) | set(claimed_b) | set(rest) == ids and first.claim(run_a, 10) == []
    first.end_round(run_a)
    second.end_round(run_b)
    later = first.begin_round("all")
    assert later.round_id != run_a.round_id  # the round ended: a new refresh --all refreshes everyone


def test_a_seller_the_round_took_care_of_is_not_claimed_again(open_store: Callable[..., GrantStore]) -> None:
    store = open_store()
    refreshed, refused, other = (store.save_tokens(tokens(n)) for n in range(3))
    run = store.begin_round("all")
    store.save_tokens(
        tokens(9, open_id=refreshed.open_id), grant_id=refreshed.id, kind="refreshed", round_id=run.round_id
    )
    store.attempted(refused.id, run)
    assert store.claim(run, 10) == [other.id]
    assert store.get(refreshed.id).refresh_round == run.round_id == store.get(refused.id).refresh_round
    keepalive = store.begin_round("due:172800")
    assert keepalive.round_id != run.round_id  # another kind of run: a round of its own


def test_claims_leave_out_sellers_api2cart_refreshes_or_who_removed_the_app(
    open_store: Callable[..., GrantStore],
) -> None:
    store = open_store()
    kept, held, removed = (store.save_tokens(tokens(n)) for n in range(3))
    store.save_store_key(held.id, Secret("store_key_000000000001"))
    store.save_shops(removed.id, [shop(3)])
    store.record_notice(Notice(type=6, notification_id="n-3", shop_id="shop000003",
                               timestamp=datetime.now(timezone.utc) + timedelta(days=1)))  # fmt: skip
    run = store.begin_round("all")
    assert store.claim(run, 10) == [kept.id]


@pytest.mark.parametrize("runs", [2, 4])
def test_bulk_refreshes_at_once_refresh_every_seller_exactly_once(
    open_store: Callable[..., GrantStore], runs: int
) -> None:
    """``runs`` bulk refreshes (each its own store, as separate processes or machines) start at the
    same moment over 40 sellers: every seller is refreshed once, none twice, none left out."""
    seed = open_store()
    for n in range(40):
        seed.save_tokens(tokens(n))
    spent: Counter[str] = Counter()
    counting = threading.Lock()

    def refresh(token: Secret) -> TokenSet:
        with counting:
            spent[token.reveal()] += 1
            n = sum(spent.values())
        return pair(f"TTP_refresh_new_{n:08d}")

    stores = [open_store() for _ in range(runs)]
    began = threading.Barrier(runs)  # "at once": every run has begun before any claims a seller
    summaries: list[object] = [None] * runs

    def run(index: int) -> None:
        store = stores[index]

        def commit(pair: TokenSet, grant: Grant, round_id: str) -> Grant:
            return store.save_tokens(pair, grant_id=grant.id, kind="refreshed", round_id=round_id)

        def begin_round(kind: str) -> Round:
            run = GrantStore.begin_round(store, kind)
            began.wait()
            return run

        store.begin_round = begin_round  # type: ignore[method-assign]
        summaries[index] = bulk.refresh_all(store.all(), bulk.refresher(store, refresh, commit), concurrency=4)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(spent.values()) == [1] * 40, spent.most_common(3)  # each old refresh token spent once
    refreshed = Counter(o.seller.id for s in summaries for o in s.refreshed)  # type: ignore[attr-defined]
    assert len(refreshed) == 40 and set(refreshed.values()) == {1}
    for summary in summaries:
        assert {o.status for o in summary.outcomes} <= {RefreshStatus.REFRESHED, RefreshStatus.SKIPPED}  # type: ignore[attr-defined]
        assert len(summary.outcomes) == 40  # type: ignore[attr-defined]
    assert all(g.refresh_token.reveal().startswith("TTP_refresh_new_") for g in seed.all())


def test_a_refresh_all_after_the_round_ended_refreshes_everyone_again(open_store: Callable[..., GrantStore]) -> None:
    store = open_store()
    for n in range(3):
        store.save_tokens(tokens(n))
    calls: list[str] = []

    def refresh(token: Secret) -> TokenSet:
        calls.append(token.reveal())
        return pair(f"TTP_refresh_again_{len(calls):04d}")

    def commit(pair: TokenSet, grant: Grant, round_id: str) -> Grant:
        return store.save_tokens(pair, grant_id=grant.id, kind="refreshed", round_id=round_id)

    for _ in range(2):
        summary = bulk.refresh_all(store.all(), bulk.refresher(store, refresh, commit))
        assert len(summary.refreshed) == 3
    assert len(calls) == 6


# --- one schema for both -----------------------------------------------------------------------------


def _sqlite_columns() -> dict[str, set[str]]:
    db = sqlite3.connect(":memory:")
    for step in SQLITE:
        db.executescript(step)
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: {r[1] for r in db.execute(f"PRAGMA table_info({t})")} for t in tables}


def test_both_databases_get_the_same_tables_and_columns(postgres_url: str) -> None:
    assert len(SQLITE) == len(POSTGRESQL) == VERSION
    with pg(postgres_url, None) as store:
        store.all()  # opening makes the schema
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        ).fetchall()
        version = conn.execute("SELECT application_id, version FROM runbook_schema").fetchone()
    postgres: dict[str, set[str]] = {}
    for table, column in rows:
        postgres.setdefault(table, set()).add(column)
    assert postgres.pop("runbook_schema") == {"application_id", "version"}  # SQLite's PRAGMAs, as a table
    assert postgres == _sqlite_columns()
    assert version == ("TTKG", VERSION)


def test_a_postgresql_schema_holding_another_programs_tables_is_refused_and_left_alone(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with (
        pg(postgres_url) as store,
        pytest.raises(GrantDatabaseError, match=r"not this runbook's grant store .*invoices"),
    ):
        store.all()
    with psycopg.connect(postgres_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
    assert tables == {"invoices"}


def test_a_postgresql_store_written_by_a_newer_runbook_is_refused(postgres_url: str) -> None:
    with pg(postgres_url) as store:
        store.save_tokens(tokens(1))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE runbook_schema SET version = %s", (VERSION + 1,))
    with pg(postgres_url) as newer, pytest.raises(GrantDatabaseError, match="newer version of this runbook"):
        newer.all()


def test_an_unreachable_server_is_one_line_without_the_password(tmp_path: Path) -> None:
    url = StoreUrl.parse(f"postgresql://runbook:Sup3r-Secret-pw@/grants?host={tmp_path}&port=5999&connect_timeout=2")
    store = GrantStore(url, scope=SANDBOX)
    with pytest.raises(GrantDatabaseError) as refused:
        store.all()
    text = str(refused.value)
    assert "Sup3r-Secret-pw" not in text + repr(refused.value) and "****" in text
    assert "Check that the PostgreSQL server is running" in text
    assert json.dumps(str(url)).count("Sup3r") == 0


def test_a_grant_store_url_names_the_store_with_its_password_masked(postgres_url: str) -> None:
    store = GrantStore(StoreUrl.parse(postgres_url.replace("runbook@", "runbook:pw-not-shown@")))
    assert "pw-not-shown" not in store.location and store.path is None


def test_a_live_app_claims_older_live_grants_on_both(open_store: Callable[..., GrantStore], location: Location) -> None:
    """Grants from before grants recorded their app (app_key '') belong to the first live app opening the store."""
    unscoped = open_store(None)
    grant = unscoped.save_tokens(tokens(1))
    unscoped._write(
        lambda db: db.execute("UPDATE grants SET mode = 'live', app_key = '' WHERE id = ?", (grant.id,)), "x"
    )
    assert open_store(LIVE).count() == 1 and open_store(GrantScope("live", "anotherapp02")).count() == 0


def test_expiry_columns_round_trip(open_store: Callable[..., GrantStore]) -> None:
    store = open_store()
    grant = store.save_tokens(tokens(1))
    assert grant.access_token_expires_at == datetime.fromtimestamp(NOW + 7 * 86400, timezone.utc)
    assert grant.refresh_token_expires_at is not None
    assert grant.refresh_token_expires_at - grant.access_token_expires_at == timedelta(days=358)


def test_locks_held_never_take_the_connections_a_commit_needs(postgres_url: str) -> None:
    """A bulk refresh holds a seller's lock on one connection and commits on another: with more
    threads than the store's connections for writes, every commit still gets one (the held locks
    have a pool of their own), so nothing waits for a connection that will never come."""
    with pg(postgres_url) as store:
        store.db = PostgresDatabase(StoreUrl.parse(postgres_url), pool_size=2)
        for n in range(12):
            store.save_tokens(tokens(n))

        def commit(pair: TokenSet, grant: Grant, round_id: str) -> Grant:
            return store.save_tokens(pair, grant_id=grant.id, kind="refreshed", round_id=round_id)

        def refresh(token: Secret) -> TokenSet:
            return pair(token.reveal() + "_next")

        summary = bulk.refresh_all(store.all(), bulk.refresher(store, refresh, commit), concurrency=8)
        assert all(g.refresh_token.reveal().endswith("_next") for g in store.all())
    assert len(summary.refreshed) == 12 and not summary.failed


def test_analyze_gives_postgresqls_planner_the_new_rows_at_once(postgres_url: str) -> None:
    with pg(postgres_url) as store:
        for n in range(3):
            store.save_tokens(tokens(n))
        store.analyze()
    with psycopg.connect(postgres_url) as conn:
        analyzed = conn.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'grants' AND schemaname = current_schema()"
        ).fetchone()
    assert analyzed is not None and analyzed[0] is not None


def test_a_lock_held_elsewhere_makes_a_step_say_busy_not_wait_forever(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person's open transaction holds the grants table (or another runbook writes for long): the
    step waits the runbook's lock timeout, then says the store is busy; nothing is written."""
    monkeypatch.setattr(grant_pg, "LOCK_TIMEOUT", 0.3)
    with pg(postgres_url) as store:
        grant = store.save_tokens(tokens(1))
        with psycopg.connect(postgres_url) as person:
            person.execute("LOCK TABLE grants IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(GrantDatabaseBusy, match="another session held a lock") as busy:
                store.save_store_key(grant.id, Secret("store_key_000000000001"))
            person.rollback()
        assert "nothing was written" in str(busy.value)
        assert store.get(grant.id).api2cart_store_key.reveal() == ""
        assert store.save_store_key(grant.id, Secret("store_key_000000000001")).api2cart_store_key.reveal()


def test_the_least_privilege_setup_security_md_gives_works(postgres_server: PostgresServer) -> None:
    """SECURITY.md's roles, as written there: the admin role's first run makes the tables; the
    ``runbook`` role then keeps every grant (authorize, refresh rounds, notices, locks) and may not
    drop a table."""
    suffix = uuid.uuid4().hex[:8]
    admin, machine, database = f"grants_admin_{suffix}", f"runbook_{suffix}", f"tiktok_grants_{suffix}"
    sql = _security_sql().replace("grants_admin", admin).replace("tiktok_grants", database)
    sql = sql.replace("runbook LOGIN", f"{machine} LOGIN").replace("TO runbook", f"TO {machine}")
    sql = sql.replace("ROLE runbook IN", f"ROLE {machine} IN")
    setup, inside = sql.split("-- Connected to", 1)  # the second part runs in the new database
    inside = inside.split("\n", 1)[1]  # after that comment's line
    with psycopg.connect(postgres_server.url(), autocommit=True) as su:
        for statement in _statements(setup):
            su.execute(statement)
    with psycopg.connect(postgres_server.url(database), autocommit=True) as su:
        for statement in _statements(inside):
            su.execute(statement)
    as_admin = postgres_server.url(database).replace("runbook@", f"{admin}@")
    as_machine = postgres_server.url(database).replace("runbook@", f"{machine}@")
    with pg(as_admin) as first:
        first.all()  # the first run, as the tables' owner: the migrations
    with pg(as_machine) as store:
        grant = store.save_tokens(tokens(1))
        store.save_shops(grant.id, [shop(1)])
        run = store.begin_round("all")
        assert store.claim(run, 5) == [grant.id]
        store.end_round(run)
        store.record_notice(Notice(type=7, notification_id="n-7", shop_id="shop000001",
                                   timestamp=datetime.now(timezone.utc) + timedelta(days=1),
                                   expires_at=datetime.now(timezone.utc) + timedelta(days=20)))  # fmt: skip
        with store.seller_locked(grant.id), store.exclusive("keepalive") as held:
            assert held == ""
        store.analyze()  # not the owner: skipped, never an error
    with psycopg.connect(as_machine) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DROP TABLE grants")


def _security_sql() -> str:
    text = (Path(__file__).resolve().parent.parent / "SECURITY.md").read_text()
    return text.split("```sql", 1)[1].split("```", 1)[0]


def _statements(sql: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in sql.splitlines() if not line.lstrip().startswith("\\")]
    return [s.strip() for s in " ".join(lines).split(";") if s.strip()]


def test_a_postgresql_store_whose_grants_table_is_gone_is_refused_not_remade(postgres_url: str) -> None:
    with pg(postgres_url) as store:
        store.save_tokens(tokens(1))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("DROP TABLE grants")
    with pg(postgres_url) as again, pytest.raises(GrantDatabaseError, match="grants table is missing"):
        again.all()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT to_regclass('grants')").fetchone() == (None,)  # nothing made again
