"""store_url.py: the grant store's PostgreSQL URL, read as libpq reads it, refused without being
quoted, and never shown with its password."""

from __future__ import annotations

import copy
import pickle

import pytest

from tiktok_helpers.errors import ValidationError
from tiktok_helpers.secret import Secret
from tiktok_helpers.store_url import EXAMPLE_URL, GRANTS_URL_SETTING, StoreUrl

#: A password with every character a URL must percent-encode, and how it is written in a URL.
PASSWORD = "p@ss/w:rd%#?&= 1"
ENCODED = "p%40ss%2Fw%3Ard%25%23%3F%26%3D%201"


def refusal(text: object) -> str:
    """The message :meth:`StoreUrl.parse` refuses ``text`` with (one problem, the setting's name)."""
    with pytest.raises(ValidationError) as info:
        StoreUrl.parse(text)  # type: ignore[arg-type]
    assert info.value.fields == (GRANTS_URL_SETTING,)
    return str(info.value)


# ---------------------------------------------------------------------------- parse
@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("postgresql://runbook@db.example.com/grants?sslmode=verify-full", ("db.example.com",)),
        ("postgres://runbook:secret@db.example.com:6432/grants", ("db.example.com",)),
        ("postgresql://", ()),
        ("postgresql:///grants", ()),
        ("postgresql://db1.example.com:5432,db2.example.com:5433/grants", ("db1.example.com", "db2.example.com")),
        ("postgresql://[2001:db8::1]:5432/grants", ("2001:db8::1",)),
        ("postgresql://%2Fvar%2Frun%2Fpostgresql/grants", ("/var/run/postgresql",)),
        ("postgresql:///grants?host=/var/run/postgresql", ("/var/run/postgresql",)),
        ("postgresql://ignored.example.com/grants?host=db.example.com", ("db.example.com",)),
        ("postgresql://runbook@db.example.com/grants?options=-c%20search_path%3Drunbook&connect_timeout=5", None),
        (f"postgresql://runbook:{ENCODED}@db.example.com/grants", ("db.example.com",)),
        ("postgresql://runbook:pa?ss#word@db.example.com/grants", ("db.example.com",)),  # libpq: ? and # are kept
    ],
)
def test_libpq_uris_are_accepted(url: str, hosts: tuple[str, ...] | None) -> None:
    parsed = StoreUrl.parse(url)
    assert parsed.reveal() == url
    if hosts is not None:
        assert parsed.host_names == hosts


def test_the_url_is_kept_as_given_less_what_a_paste_brings_along() -> None:
    assert StoreUrl.parse(f'  "{EXAMPLE_URL}"\n').reveal() == EXAMPLE_URL


def test_the_parse_agrees_with_libpq() -> None:
    """Where libpq itself is installed (psycopg), it splits each accepted URL the same way."""
    conninfo = pytest.importorskip("psycopg.conninfo")
    for url in (
        f"postgresql://runbook:{ENCODED}@db1.example.com:5432,db2.example.com:5433/grants?sslmode=require",
        "postgresql://runbook:pa?ss#word@[::1]:5432/grants",
        "postgresql://%2Ftmp/grants?ssl=true",
        "postgresql://a.example.com/grants?host=b.example.com&sslmode=prefer&sslmode=verify-ca",
    ):
        parsed, libpq = StoreUrl.parse(url), conninfo.conninfo_to_dict(url)
        assert ",".join(parsed.host_names) == libpq.get("host", ""), url
        assert parsed.tls == libpq.get("sslmode"), url
    assert conninfo.conninfo_to_dict(f"postgresql://u:{ENCODED}@h/d")["password"] == PASSWORD


# ---------------------------------------------------------------------------- refuse
@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("https://runbook:hunter22@db.example.com/grants", "is a https:// URL; must be a PostgreSQL URL such as"),
        ("mysql://runbook:hunter22@db.example.com/grants", "is a mysql:// URL"),
        ("db.example.com/grants", "must be a PostgreSQL URL such as"),
        ("host=db.example.com password=hunter22", "looks like a key=value connection string"),
        ("POSTGRESQL://db.example.com/grants", "write postgresql:// in lower case"),
        ("sqlite:///grants.db", "the SQLite grant store needs no setting"),
        ("postgresql://runbook:hunter@22@db.example.com/grants", "a host holds an @; percent-encode"),
        ("postgresql://runbook:hunter/22@db.example.com/grants", "the database name holds an unencoded @ or /"),
        ("postgresql://runbook:hunter22/grants", "a port is not a number"),  # the @ and host forgotten
        ("postgresql://runbook:2222/hunter@db.example.com/grants", "the database name holds an unencoded @ or /"),
        ("postgresql://runbook:hunter%zz@db.example.com/grants", "the password has a % that is not followed by"),
        ("postgresql://runbook:hunter%00@db.example.com/grants", "%00"),
        ("postgresql://run%G1@db.example.com/grants", "the user name has a %"),
        ("postgresql://[::1/grants", "has no closing ]"),
        ("postgresql://[]/grants", "an empty []"),
        ("postgresql://[::1]x/grants", "after an IPv6 address"),
        ("postgresql://db.example.com:99999/grants", "a port is not a number from 1 to 65535"),
        ("postgresql://db.example.com:0/grants", "a port is not a number from 1 to 65535"),
        ("postgresql://a:1,b:2,c/grants?port=1,2", "it gives 2 ports for 3 hosts"),
        ("postgresql://a,b/grants?hostaddr=10.0.0.1", "hostaddr gives 1 address for 2 hosts"),
        ("postgresql://db.example.com/grants?sslmode=on", "sslmode must be one of disable, allow, prefer, require"),
        ("postgresql://db.example.com/grants?gssencmode=yes", "gssencmode must be one of disable, prefer, require"),
        ("postgresql://db.example.com/grants?ssl=false", "ssl=true is the only ssl value"),
        ("postgresql://db.example.com/grants?password", "query parameter 1 (after the ?) has no ="),
        ("postgresql://db.example.com/grants?sslmode=require&&a=b", "query parameter 2 (after the ?) has no ="),
        ("postgresql://db.example.com/grants?password=a=b", "has a second ="),
        ("postgresql://db.example.com/grants?password=hunter%2", "the value of query parameter 1"),
        ("postgresql://db.example.com/my grants", "contains a space"),
        ("postgresql://db.example.com/\x00grants", "control character"),
    ],
)
def test_anything_else_is_refused_saying_what_is_wrong(text: str, says: str) -> None:
    assert says in refusal(text)


def test_a_refusal_says_what_is_accepted_and_that_unset_means_sqlite() -> None:
    message = refusal("mongodb://db.example.com/grants")
    assert f"{GRANTS_URL_SETTING}: is a mongodb:// URL; must be a PostgreSQL URL such as {EXAMPLE_URL}" in message
    assert "(leave it unset for the SQLite file beside .env)" in message


def test_a_value_that_is_not_text_is_refused() -> None:
    assert "expected text, got int" in refusal(5432)


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://alice:hunter@22@dbhost.test/ledger",
        "postgresql://alice:hunter/22@dbhost.test/ledger",
        "postgresql://alice:hunter22/ledger",
        "postgresql://alice:2222/hunter@dbhost.test/ledger",
        "postgresql://alice:hunter%zz22@dbhost.test/ledger",
        "postgresql://alice:hunter22@[::1/ledger",
        "postgresql://alice:hunter22@dbhost.test/ledger?sslmode=hunter22",
        "postgresql://dbhost.test/ledger?password=hunter%2222%zz",
        "postgresql://dbhost.test/ledger?hunter22",
        "postgresql://alice:hunter22@dbhost.test/ledger?ssl=hunter22",
        "HTTPS://alice:hunter22@dbhost.test",
        "postgres://alice:hunter22@dbhost.test:0/ledger",
        "host=dbhost.test password=hunter22",
        "postgresql://alice:hunter 22@dbhost.test/ledger",
    ],
)
def test_no_refusal_repeats_any_part_of_the_url(text: str) -> None:
    message = refusal(text)
    for part in ("hunter", "alice", "dbhost", "ledger"):
        assert part not in message


# ---------------------------------------------------------------------------- mask
@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            f"postgresql://runbook:{ENCODED}@db.example.com/grants?sslmode=verify-full",
            "postgresql://runbook:****@db.example.com/grants?sslmode=verify-full",
        ),
        ("postgresql://runbook:pa?ss#w%40rd@db.example.com/g", "postgresql://runbook:****@db.example.com/g"),
        (
            f"postgresql://db.example.com/grants?user=runbook&password={ENCODED}&sslmode=require",
            "postgresql://db.example.com/grants?user=runbook&password=****&sslmode=require",
        ),
        (
            "postgresql://runbook:one-secret@db.example.com/grants?%70assword=two-secret",
            "postgresql://runbook:****@db.example.com/grants?%70assword=****",
        ),
        (
            "postgresql://db.example.com/grants?sslkey=/k.pem&sslpassword=key-secret",
            "postgresql://db.example.com/grants?sslkey=/k.pem&sslpassword=****",
        ),
        ("postgresql://runbook@db.example.com/grants", "postgresql://runbook@db.example.com/grants"),
        ("postgresql://runbook:@db.example.com/grants", "postgresql://runbook:@db.example.com/grants"),
    ],
)
def test_the_password_is_masked_in_userinfo_and_in_the_query(url: str, masked: str) -> None:
    parsed = StoreUrl.parse(url)
    assert parsed.masked == masked and parsed.reveal() == url
    for secret in (ENCODED, PASSWORD, "pa?ss", "one-secret", "two-secret", "key-secret"):
        for shown in (str(parsed), repr(parsed), f"{parsed}", f"{parsed:>200}", repr([parsed]), repr({"u": parsed})):
            assert secret not in shown


def test_repr_names_the_type_and_shows_the_masked_form() -> None:
    parsed = StoreUrl.parse("postgresql://runbook:hunter22@db.example.com/grants")
    assert repr(parsed) == "StoreUrl('postgresql://runbook:****@db.example.com/grants')"
    assert str(parsed) == parsed.masked == "postgresql://runbook:****@db.example.com/grants"


def test_the_password_does_not_leak_through_an_exception_or_a_copy() -> None:
    parsed = StoreUrl.parse("postgresql://runbook:hunter22@db.example.com/grants")
    error = RuntimeError(f"could not reach {parsed}")
    assert "hunter22" not in str(error) and "hunter22" not in repr(error)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(parsed)
    with pytest.raises(TypeError):
        copy.deepcopy(parsed)


# ---------------------------------------------------------------------------- where and how
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://",
        "postgresql:///grants",
        "postgresql://runbook@localhost/grants",
        "postgresql://runbook@LOCALHOST:5433/grants",
        "postgresql://runbook@127.0.0.1/grants",
        "postgresql://runbook@127.3.2.1/grants",
        "postgresql://runbook@[::1]:5432/grants",
        "postgresql://%2Fvar%2Frun%2Fpostgresql/grants",
        "postgresql:///grants?host=/tmp",
        "postgresql:///grants?host=%40abstract",
        "postgresql://localhost,127.0.0.1,%2Ftmp/grants",
        "postgresql://db.example.com/grants?hostaddr=127.0.0.1",  # an SSH tunnel: the name only checks the cert
    ],
)
def test_a_server_on_this_computer_is_local(url: str) -> None:
    assert StoreUrl.parse(url).is_local


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://runbook@db.example.com/grants",
        "postgresql://runbook@10.0.0.5/grants",
        "postgresql://runbook@[2001:db8::1]/grants",
        "postgresql://localhost,db.example.com/grants",
        "postgresql://runbook@localhost.attacker.example/grants",
        "postgresql://runbook@127.0.0.1.attacker.example/grants",
        "postgresql://runbook@127.1/grants",
        "postgresql://localhost/grants?host=db.example.com",
        "postgresql://localhost/grants?hostaddr=10.0.0.5",
        "postgresql:///grants?service=team",
    ],
)
def test_any_other_server_is_not_local(url: str) -> None:
    assert not StoreUrl.parse(url).is_local


@pytest.mark.parametrize(
    ("query", "tls", "encrypted"),
    [
        ("", None, False),
        ("?sslmode=disable", "disable", False),
        ("?sslmode=allow", "allow", False),
        ("?sslmode=prefer", "prefer", False),
        ("?sslmode=require", "require", True),
        ("?sslmode=verify-ca", "verify-ca", True),
        ("?sslmode=verify-full", "verify-full", True),
        ("?ssl=true", "require", True),
        ("?sslmode=verify-full&sslmode=disable", "disable", False),  # libpq: the last one wins
        ("?gssencmode=require", None, True),
        ("?gssencmode=prefer", None, False),
    ],
)
def test_tls_is_the_sslmode_and_encrypted_means_libpq_insists(query: str, tls: str | None, encrypted: bool) -> None:
    parsed = StoreUrl.parse(f"postgresql://runbook@db.example.com/grants{query}")
    assert parsed.tls == tls and parsed.encrypted is encrypted


# ---------------------------------------------------------------------------- a value
def test_a_store_url_is_an_immutable_value() -> None:
    one, same = StoreUrl.parse(EXAMPLE_URL), StoreUrl.parse(f" {EXAMPLE_URL} ")
    assert one == same and hash(one) == hash(same) and len({one, same}) == 1
    assert one != StoreUrl.parse("postgresql://runbook@db.example.com/other")
    assert one != EXAMPLE_URL  # a value, not a str
    with pytest.raises(AttributeError, match="immutable"):
        one._url = Secret("postgresql://someone@elsewhere.example.com/grants")


def test_the_password_is_there_for_scrubbing_a_drivers_message() -> None:
    parsed = StoreUrl.parse(f"postgresql://runbook:{ENCODED}@db.example.com/grants")
    assert parsed.password == PASSWORD
    assert StoreUrl.parse("postgresql://runbook@db.example.com/grants").password is None  # libpq: ~/.pgpass
    both = StoreUrl.parse("postgresql://runbook:first-one@db.example.com/grants?password=second-one")
    assert both.password == "second-one"  # libpq: the query wins
    message = (
        f'invalid connection option in "{parsed.reveal()}"; password authentication failed ({PASSWORD}); sent {ENCODED}'
    )
    scrubbed = parsed.scrub(message)
    assert PASSWORD not in scrubbed and ENCODED not in scrubbed
    assert parsed.masked in scrubbed and scrubbed.count("****") == 3
    assert "first-one" not in both.scrub("first-one, second-one") and "second-one" not in both.scrub("second-one")
