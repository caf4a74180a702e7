"""Property tests (hypothesis): redirect parsing, the clean_* validators, the .env save/load round
trip, ``format_line`` against python-dotenv, and the request signature.

Every test runs few examples by default so each stays well under ~2 s. For a deeper run, set
``HYPOTHESIS_PROFILE=thorough`` (THOROUGH_FACTOR times more examples per test, no deadline)::

    HYPOTHESIS_PROFILE=thorough .venv/bin/pytest -q tests/test_fuzz.py --hypothesis-show-statistics

The concrete inputs that once broke the package (malformed hosts, forged refusals, quotes in
names, blank lines and CRLF in .env, lone surrogates) are pinned by their own tests below.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import stat
import string
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from dotenv import dotenv_values
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from tiktok_helpers.envfile import format_line, update_env
from tiktok_helpers.errors import (
    StateMismatch,
    TikTokHelperError,
    ValidationError,
)
from tiktok_helpers.grants import Grant, grants_path_for
from tiktok_helpers.legacy import grant_from_values
from tiktok_helpers.redirect import RedirectResult, parse_redirect
from tiktok_helpers.secret import Secret
from tiktok_helpers.settings import PER_SELLER, SETTINGS, clean_updates, load_settings, save_settings
from tiktok_helpers.signing import sign
from tiktok_helpers.store import RunbookStore
from tiktok_helpers.validation import (
    clean_app_key,
    clean_app_secret,
    clean_choice,
    clean_credentials,
    clean_datetime,
    clean_redirect_url,
    clean_service_id,
    clean_text,
    clean_timeout,
    clean_token,
    clean_url,
    is_loopback,
)

from .tiers import THOROUGH, THOROUGH_FACTOR, examples

# --- profiles -------------------------------------------------------------------------------------

settings.register_profile("thorough", deadline=None, database=None, max_examples=100 * THOROUGH_FACTOR)
if THOROUGH:
    settings.load_profile("thorough")

#: The settings every test here shares: no example database written into the repository, no
#: per-example deadline (file writes and fsync vary), and function-scoped fixtures are not used.
BASE = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- helpers --------------------------------------------------------------------------------------

NULLS = frozenset({"", "null", "none", "undefined"})
URL_SAFE = string.ascii_letters + string.digits + "-_.~"


# A printable single line: no control characters (so no \n, \r, \x00, \x85), no surrogates, no
# line or paragraph separators.
printable_line = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
    max_size=40,
)
url_safe_value = st.text(URL_SAFE, min_size=1, max_size=40)


#: (left, right) wrappers that copy-paste brings along.
_WRAPPERS = [
    *(tuple(pair) for pair in ['""', "''", "``", "“”", "‘’", "«»", "<>", "  ", "\n\n", "\u200b\u200b", "\ufeff\ufeff"]),
    ("\u00a0", "\t "),
    ("", ""),
]

# --- parse_redirect -------------------------------------------------------------------------------

_PARAM_NAMES = ["code", "state", "error", "error_description", "locale", "shop_region", "app_key", "x"]
_ODD_VALUES = ["null", "NULL", "None", "undefined", "", " ", "%20", "%00", "%zz", "%E2%80%8B", "+", "a%2526b", "#x"]


@st.composite
def urlish(draw: st.DrawFn, state: str | None = None) -> str:
    """Something shaped like a pasted redirect: scheme, host, path, random query (often with a plausible
    code and the expected ``state``), fragment, wrappers."""
    scheme = draw(st.sampled_from(["http://", "https://", "HTTPS://", "tiktok://", "//", "/", "", "?"]))
    host = draw(
        st.sampled_from(["127.0.0.1:8765", "localhost", "x.example", "[::1]:80", "", "a b", "ex%41mple"])
        | st.text(string.ascii_letters + string.digits + ".-:@", max_size=15)
    )
    path = draw(st.sampled_from(["", "/", "/callback", "/cb/", "/a;b", "/%2F"]) | st.text(max_size=10))
    params: list[str] = []
    if draw(st.booleans()):
        params.append("code=" + draw(url_safe_value))
    if state is not None and draw(st.booleans()):
        params.append("state=" + quote(state, safe=""))
    for _ in range(draw(st.integers(0, 6))):
        name = draw(st.sampled_from(_PARAM_NAMES) | st.text(max_size=6))
        value = draw(st.sampled_from(_ODD_VALUES) | url_safe_value | st.text(max_size=20))
        if draw(st.booleans()):
            value = quote(value, safe="")
        params.append(f"{name}={value}" if draw(st.integers(0, 9)) else name)
    sep = draw(st.sampled_from(["&", ";", "&&"]))
    query = sep.join(draw(st.permutations(params)))
    text = f"{scheme}{host}{path}" + (f"?{query}" if query or draw(st.booleans()) else "")
    if draw(st.booleans()):
        text += "#" + draw(st.text(max_size=8))
    left, right = draw(st.sampled_from(_WRAPPERS))
    return f"{left}{text}{right}"


def _check_result(result: RedirectResult, expected_state: str | None) -> None:
    assert isinstance(result, RedirectResult)
    code = result.code.reveal()
    assert code, "a returned code is never empty"
    assert code == code.strip()
    assert code.lower() not in NULLS, f"a null-like code was returned: {code!r}"
    if expected_state is not None and not result.bare_code:
        assert result.state == expected_state


@settings(BASE, max_examples=examples(300))
@given(data=st.data(), expected_state=st.none() | url_safe_value)
def test_parse_redirect_returns_a_result_or_raises_a_package_error(
    data: st.DataObject, expected_state: str | None
) -> None:
    text = data.draw(st.one_of(st.text(), urlish(expected_state)), label="text")
    try:
        result = parse_redirect(text, expected_state)
    except TikTokHelperError as exc:
        event(f"raised {type(exc).__name__}")
        return
    event("returned a result")
    _check_result(result, expected_state)


@pytest.mark.parametrize(
    "text",
    [
        "http://[x/?code=abcdefgh&state=s",  # unbalanced IPv6 bracket
        "https://[::1/callback?code=abcdefgh",
        "http://a\uff03b/?code=abcdefgh",  # fullwidth '#' in the host: NFKC check
        'http://["::1]/?code=abcdefgh',  # ipaddress rejects the bracketed host
    ],
)
def test_parse_redirect_never_raises_value_error(text: str) -> None:
    with pytest.raises(TikTokHelperError):
        parse_redirect(text, "s")


@settings(BASE, max_examples=examples(200))
@given(
    code=url_safe_value.filter(lambda v: v.lower() not in NULLS),
    state=url_safe_value,
    other=url_safe_value,
    extra=st.dictionaries(st.sampled_from(["locale", "shop_region", "app_key", "x", "y"]), url_safe_value),
    query_only=st.booleans(),
)
def test_a_different_state_raises_state_mismatch(
    code: str, state: str, other: str, extra: dict[str, str], query_only: bool
) -> None:
    assume(state != other)
    query = urlencode({"code": code, "state": other, **extra})
    text = f"?{query}" if query_only else f"https://x.example/cb?{query}"
    with pytest.raises(StateMismatch):
        parse_redirect(text, state)
    with pytest.raises(StateMismatch):  # no state at all, while the link sent one
        parse_redirect(f"https://x.example/cb?{urlencode({'code': code, **extra})}", state)


@settings(BASE, max_examples=examples(50))
@given(
    params=st.sampled_from(
        [
            {"error": "access_denied", "code": "null"},
            {"error": "auth_denied"},
            {"code": "null"},
            {"code": ""},
            {"code": "undefined"},
        ]
    ),
    state=url_safe_value,
    other=url_safe_value,
)
@example(params={"error": "access_denied", "code": "null"}, state="expected", other="attacker")
def test_a_refusal_with_a_different_state_raises_state_mismatch(params: dict[str, str], state: str, other: str) -> None:
    assume(state != other)
    with pytest.raises(StateMismatch):
        parse_redirect(f"https://x.example/cb?{urlencode({**params, 'state': other})}", state)


def _round_trip_values(alphabet: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return alphabet.filter(lambda v: v == v.strip() and v.lower() not in NULLS)


_unicode_value = st.text(st.characters(codec="utf-8"), min_size=1, max_size=30)


def _saveable(code: str) -> bool:
    """A code parse_redirect returns: one that can be saved and sent as it is (clean_token keeps it)."""
    try:
        return clean_token(code) == code
    except ValidationError:
        return False


@settings(BASE, max_examples=examples(300))
@given(
    code=_round_trip_values(url_safe_value | _unicode_value).filter(_saveable),
    state=_round_trip_values(url_safe_value | _unicode_value),
    shop_region=_round_trip_values(url_safe_value),
    locale=_round_trip_values(url_safe_value),
    app_key=_round_trip_values(url_safe_value | _unicode_value),
    extra=st.dictionaries(st.sampled_from(["x", "y", "scope", "lang"]), _unicode_value, max_size=3),
    check_state=st.booleans(),
)
def test_urlencoded_redirect_round_trips(
    code: str, state: str, shop_region: str, locale: str, app_key: str, extra: dict[str, str], check_state: bool
) -> None:
    fields = {"code": code, "state": state, "shop_region": shop_region, "locale": locale, "app_key": app_key}
    result = parse_redirect("https://x.example/cb?" + urlencode({**fields, **extra}), state if check_state else None)
    assert result.code.reveal() == code
    assert (result.state, result.shop_region, result.locale, result.app_key) == (state, shop_region, locale, app_key)
    assert not result.bare_code


# --- the clean_* validators ----------------------------------------------------------------------

Cleaner = Callable[[object], str]


def _clean_credentials_key(raw: object) -> str:
    """clean_credentials through one field at a time (the others valid)."""
    return clean_credentials(raw, "0123456789abcdef0123456789abcdef01234567", "7312345678901234567")[0]


CLEANERS: dict[str, Cleaner] = {
    "clean_app_key": clean_app_key,
    "clean_app_secret": clean_app_secret,
    "clean_service_id": clean_service_id,
    "clean_token": clean_token,
    "clean_url": partial(clean_url, field="URL"),
    "clean_url_loopback_http": partial(clean_url, field="URL", allow_http=is_loopback),
    "clean_redirect_url": clean_redirect_url,
    "clean_choice": partial(clean_choice, field="region", choices=("global", "us")),
    "clean_datetime": clean_datetime,
    "clean_timeout": clean_timeout,
    "clean_text": partial(clean_text, field="seller"),
    "clean_credentials": _clean_credentials_key,
}

_VALID_SEEDS = [
    "6abcd1234efgh",
    "0123456789abcdef0123456789abcdef01234567",
    "7312345678901234567",
    "TTP_token-value_0123456789",
    "https://example.com/callback?x=1",
    "http://127.0.0.1:8765/callback",
    "http://[::1]:8765/cb",
    "https://a.example/cb#frag",
    "https://a.example/open/authorize?service_id=7312345678901234567&state=x",
    "Global",
    "2026-12-01T08:00:00+00:00",
    "2026-12-01T08:00:00",
    "15",
    "0.5",
    "1e2",
    "nan",
    "Jane's Shop # 1",
    "app_key: 6abcd1234efgh",
    "token=abc",
]


@st.composite
def pasted(draw: st.DrawFn) -> str:
    """A value as people paste it: a seed or random text, wrapped in quotes and/or (in)visible spaces."""
    core = draw(st.sampled_from(_VALID_SEEDS) | st.text(max_size=30))
    for _ in range(draw(st.integers(0, 3))):
        left, right = draw(st.sampled_from(_WRAPPERS))
        core = f"{left}{core}{right}"
    if draw(st.integers(0, 4)) == 0 and core:
        i = draw(st.integers(0, len(core)))
        core = core[:i] + draw(st.sampled_from([" ", "\u200b", '"', "\n", "\x00"])) + core[i:]
    return core


anything = st.one_of(
    pasted(),
    st.text(),
    st.none(),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=10),
    st.lists(st.text(max_size=5), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


def _try_clean(cleaner: Cleaner, raw: object) -> str | None:
    """The cleaned value, or None on ValidationError; anything else fails the test."""
    try:
        result = cleaner(raw)
    except ValidationError as exc:
        problems = exc.problems
    else:
        assert isinstance(result, str)
        return result
    assert problems, "a ValidationError always names at least one problem"
    return None


@pytest.mark.parametrize("name", list(CLEANERS))
@settings(BASE, max_examples=examples(150))
@given(raw=anything)
def test_clean_returns_text_without_surrounding_whitespace_or_raises_validation_error(name: str, raw: object) -> None:
    result = _try_clean(CLEANERS[name], raw)
    event("cleaned" if result is not None else "rejected")
    if result is not None:
        assert result == result.strip(), f"surrounding whitespace kept: {result!r}"


_IDEMPOTENT = [pytest.param(name) if name == "clean_text" else name for name in CLEANERS]


@pytest.mark.parametrize("name", _IDEMPOTENT)
@settings(BASE, max_examples=examples(150))
@given(raw=anything)
@example(raw="\"'Shop'\"")
@example(raw="\u200b \u200bShop")
def test_cleaning_is_idempotent(name: str, raw: object) -> None:
    cleaner = CLEANERS[name]
    once = _try_clean(cleaner, raw)
    if once is not None:
        assert cleaner(once) == once


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("clean_url", "https://[x/cb"),
        ("clean_redirect_url", "http://[::1/cb"),
        ("clean_url", "https://a\uff03b/cb"),
        ("clean_service_id", "https://[x/?service_id=7312345678901234567"),
        ("clean_redirect_url", 'http://["::1]:8765/cb'),  # ipaddress rejects the bracketed host
    ],
)
def test_clean_never_raises_value_error(name: str, raw: str) -> None:
    with pytest.raises(ValidationError):
        CLEANERS[name](raw)


_SECRET_ALPHABET = string.ascii_letters + string.digits


@st.composite
def failing_secret_like(draw: st.DrawFn) -> str:
    """Letters and digits (at least one of each, 8+ long) made invalid: too short or too long, or with a
    space, dash, quote or invisible character inside, or a label in front."""
    value = draw(st.text(_SECRET_ALPHABET, min_size=8, max_size=100))
    assume(any(c.isdigit() for c in value) and any(c.isalpha() for c in value))
    how = draw(st.sampled_from(["as is", "insert", "label", "wrap-one-side"]))
    if how == "insert":
        i = draw(st.integers(1, len(value) - 1))
        value = value[:i] + draw(st.sampled_from([" ", "-", "_", "'", "\u200b", "/", "é", "\t"])) + value[i:]
    elif how == "label":
        value = draw(st.sampled_from(["app_secret: ", "App Secret=", "secret "])) + value
    elif how == "wrap-one-side":
        value = draw(st.sampled_from(['"', "'", "“"])) + value
    return value


@settings(BASE, max_examples=examples(300))
@given(raw=failing_secret_like(), via=st.sampled_from(["clean_app_secret", "clean_credentials", "clean_updates"]))
def test_a_rejected_app_secret_never_appears_in_the_message(raw: str, via: str) -> None:
    if via == "clean_app_secret":
        call: Callable[[], object] = partial(clean_app_secret, raw)
    elif via == "clean_credentials":
        call = partial(clean_credentials, "6abcd1234efgh", raw, "7312345678901234567")
    else:
        call = partial(clean_updates, {"TIKTOK_APP_SECRET": raw})  # what save_settings checks first
    try:
        call()
    except ValidationError as exc:
        message = str(exc)
        core = raw.strip()
        assert raw not in message
        assert core not in message
        for piece in re.split(r"[^A-Za-z0-9]", core):  # each run of 8+ letters and digits (with both)
            if len(piece) >= 8 and re.search(r"[0-9]", piece) and re.search(r"[A-Za-z]", piece):
                assert piece not in message, f"part of the secret is shown: {piece!r} in {message!r}"
        event("rejected")
    else:
        event("accepted")  # e.g. 16..64 letters and digits: a valid secret


# --- settings save/load round trip ----------------------------------------------------------------

app_keys = st.from_regex(r"[a-z0-9]{6,24}", fullmatch=True).filter(lambda k: not (k.isdigit() and len(k) > 12))
app_secrets = st.from_regex(r"[A-Za-z0-9]{16,64}", fullmatch=True)
service_ids = st.from_regex(r"[0-9]{5,25}", fullmatch=True)
tokens = st.from_regex(r"[A-Za-z0-9_\-.~]{1,120}", fullmatch=True)
offsets = st.timedeltas(min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59))
aware_datetimes = st.builds(
    lambda dt, off: dt.replace(tzinfo=timezone(off)),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)),
    offsets,
).map(datetime.isoformat)
_url_path = st.from_regex(r"(/[A-Za-z0-9_\-.~]{0,12}){0,3}(\?x=1(&y=[a-z0-9]{0,5})?)?", fullmatch=True)
redirect_urls = st.one_of(
    st.builds(
        "https://{}{}".format,
        st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True),
        _url_path,
    ),
    st.builds(
        "http://{}:{}{}".format, st.sampled_from(["127.0.0.1", "localhost", "[::1]"]), st.integers(1, 65535), _url_path
    ),
)
http_urls = st.builds("https://{}.example/{}".format, st.from_regex(r"[a-z]{1,10}", fullmatch=True), url_safe_value)


def _clean_or_none(cleaner: Callable[[str], str], value: str) -> bool:
    try:
        cleaner(value)
    except ValidationError:
        return False
    return True


seller_names = printable_line.filter(lambda s: _clean_or_none(partial(clean_text, field="x"), s))

VALID_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "TIKTOK_MODE": st.sampled_from(["sandbox", "live", "LIVE", " sandbox "]),
    "TIKTOK_REGION": st.sampled_from(["global", "us"]),
    "TIKTOK_APP_TYPE": st.sampled_from(["public", "custom"]),
    "TIKTOK_AUTH_TYPE": st.sampled_from(["seller", "partner", "creator"]),
    "TIKTOK_APP_KEY": app_keys,
    "TIKTOK_APP_SECRET": app_secrets,
    "TIKTOK_SERVICE_ID": service_ids,
    "TIKTOK_REDIRECT_URL": redirect_urls,
    "TIKTOK_AUTH_CODE": tokens,
    "TIKTOK_AUTH_CODE_RECEIVED_AT": aware_datetimes,
    "TIKTOK_HTTP_TIMEOUT": st.floats(0.5, 300).map(repr),
    "API2CART_API_KEY": tokens,
    "TIKTOK_AUTH_BASE_URL": http_urls,
}
valid_updates = st.fixed_dictionaries({}, optional=VALID_FIELDS).filter(bool)

#: A seller's values: not settings (a save refuses them), but the keys of a single-seller .env from
#: before the grant database, which `sellers import-env` moves into that seller's grant.
SELLER_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "TIKTOK_ACCESS_TOKEN": tokens,
    "TIKTOK_ACCESS_TOKEN_EXPIRES_AT": aware_datetimes,
    "TIKTOK_REFRESH_TOKEN": tokens,
    "TIKTOK_REFRESH_TOKEN_EXPIRES_AT": aware_datetimes,
    "TIKTOK_SELLER_NAME": seller_names,
    "TIKTOK_SHOP_CIPHER": tokens,
    "API2CART_STORE_KEY": tokens,
}
#: A single seller's values as an older runbook kept them (always with a refresh token: a grant).
legacy_seller_values = st.fixed_dictionaries(
    {"TIKTOK_REFRESH_TOKEN": tokens}, optional={k: v for k, v in SELLER_FIELDS.items() if k != "TIKTOK_REFRESH_TOKEN"}
)

# Other lines a person (or another tool) keeps in .env. No line ends in whitespace-only content
# right before a setting line (see test_a_blank_line_before_a_replaced_key_survives).
_other_key = st.from_regex(r"OTHER_[A-Z0-9_]{0,10}", fullmatch=True)
_plain_value = st.text(string.ascii_letters + string.digits + " #=:/._-$@!,", max_size=25)
other_lines = st.one_of(
    st.builds("#{}".format, printable_line),
    st.builds("  # {}".format, printable_line),
    st.builds("{}={}".format, _other_key, _plain_value),
    st.builds('{}="{}"'.format, _other_key, _plain_value),
    st.builds("{}='{}'".format, _other_key, _plain_value),
    st.builds("export {}={}".format, _other_key, _plain_value),
    st.builds("{} = {}  # note".format, _other_key, _plain_value),
    st.just(""),
    st.just("   "),
    st.just("JUST_A_NAME"),  # a name without "=": python-dotenv reads it (as no value)
    # (a line python-dotenv cannot read is refused before anything is written: test_envfile_errors.py)
)

_SETTING_LINE = re.compile(rb"^[ \t]*(?:export[ \t]+)?(?:TIKTOK|API2CART)_[A-Z0-9_]*[ \t]*=")


def _other_lines_of(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if not _SETTING_LINE.match(line)]


def _attribute(name: str) -> str:
    return name.lower().removeprefix("tiktok_")


def _loaded(settings_obj: Any, name: str) -> str:
    if name == "TIKTOK_AUTH_BASE_URL":
        return str(settings_obj.overrides[name])
    value = getattr(settings_obj, _attribute(name))
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    return str(getattr(value, "value", value))


@contextmanager
def env_folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


@st.composite
def env_file_text(draw: st.DrawFn, updates: dict[str, str]) -> str:
    """Other lines, with some of the keys about to be updated already present (never right after a blank
    line) and sometimes no final newline."""
    lines = draw(st.lists(other_lines, max_size=8))
    for name in draw(st.lists(st.sampled_from(sorted(updates)), unique=True, max_size=3)):
        spots = [i for i in range(len(lines) + 1) if i == 0 or lines[i - 1].strip()]
        i = draw(st.sampled_from(spots))
        lines.insert(i, draw(st.sampled_from([f"{name}=old", f"export {name}='old value'", f"{name} = old  # c"])))
    text = "\n".join(lines)
    final_newline = draw(st.booleans())
    return text + "\n" if lines and final_newline else text


@settings(BASE, max_examples=examples(60))
@given(data=st.data(), updates=valid_updates, initial_mode=st.sampled_from([0o600, 0o644, 0o640]))
def test_save_then_load_returns_what_was_saved_and_keeps_other_lines(
    data: st.DataObject, updates: dict[str, str], initial_mode: int
) -> None:
    key = updates.get("TIKTOK_APP_KEY")
    assume(key is None or key != updates.get("TIKTOK_APP_SECRET"))  # that one is rightly refused
    existing = data.draw(env_file_text(updates), label="existing .env")
    with env_folder() as folder:
        path = folder / ".env"
        path.write_bytes(existing.encode("utf-8"))
        path.chmod(initial_mode)
        before = path.read_bytes()
        saved = save_settings(updates, path)
        after = path.read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # Byte for byte and in order; a file without a final newline may gain one.
        kept, was = _other_lines_of(after), _other_lines_of(before)
        assert kept == was or (not before.endswith(b"\n") and kept == [*was, b""])
        # the lock file of the save stays (deleting lock files races); no temporary file does
        assert sorted(p.name for p in folder.iterdir()) == ["..env.lock", ".env"], "a temporary file was left"
        loaded = load_settings(path, environ={})
        for key, value in saved.items():
            assert _loaded(loaded, key) == value, key
        raw = dotenv_values(path, interpolate=False)
        for key, value in saved.items():
            assert raw[key] == value


def _in_grant(grant: Grant, name: str) -> str:
    """The value a grant holds for a single-seller .env key, as text (expiries as Unix seconds: the
    grant database keeps whole seconds)."""
    if name.endswith("_EXPIRES_AT"):
        moment = grant.access_token_expires_at if "ACCESS" in name else grant.refresh_token_expires_at
        return str(int(moment.timestamp())) if moment else ""
    values: dict[str, Secret | str] = {
        "TIKTOK_ACCESS_TOKEN": grant.access_token,
        "TIKTOK_REFRESH_TOKEN": grant.refresh_token,
        "TIKTOK_SELLER_NAME": grant.seller_name,
        "TIKTOK_SHOP_CIPHER": grant.shop_cipher,
        "API2CART_STORE_KEY": grant.api2cart_store_key,
    }
    value = values[name]
    return value.reveal() if isinstance(value, Secret) else value


def _as_kept(name: str, value: str) -> str:
    """What the grant should hold for a valid single-seller .env value."""
    if name.endswith("_EXPIRES_AT"):
        return str(int(datetime.fromisoformat(clean_datetime(value, name)).timestamp()))
    if name == "TIKTOK_SELLER_NAME":
        return clean_text(value, name)
    return clean_token(value, name)


@settings(BASE, max_examples=examples(40))
@given(data=st.data(), seller=legacy_seller_values, updates=valid_updates)
def test_a_sellers_values_are_refused_as_settings_and_imported_into_their_grant_as_they_were(
    data: st.DataObject, seller: dict[str, str], updates: dict[str, str]
) -> None:
    existing = data.draw(env_file_text(seller), label="existing .env")
    with env_folder() as folder:
        path = folder / ".env"
        path.write_text(existing, encoding="utf-8")
        before = path.read_bytes()
        with pytest.raises(ValidationError) as info:  # a seller's values are not settings
            save_settings({**updates, **seller}, path)
        assert set(seller) <= set(info.value.fields)
        assert path.read_bytes() == before
        update_env(path, seller)  # as a single-seller runbook from before the grant database wrote them
        written = path.read_bytes()
        store = RunbookStore(path, environ={})
        try:
            assert set(store.load().pending_import) == set(seller)  # left alone until asked for
            assert path.read_bytes() == written
            done = store.import_legacy()
            again = store.import_legacy()
        finally:
            store.close()
        assert done.grant is not None and done.added and not again.added
        for name, value in seller.items():
            assert _in_grant(done.grant, name) == _as_kept(name, value), name
        assert set(done.removed) == set(seller)
        assert not set(dotenv_values(path, interpolate=False)) & set(SELLER_FIELDS)
        kept, was = _other_lines_of(path.read_bytes()), _other_lines_of(before)
        assert kept == was or (not before.endswith(b"\n") and kept == [*was, b""])


_INVALID: list[tuple[str, str]] = [
    ("TIKTOK_APP_KEY", "abc"),
    ("TIKTOK_APP_KEY", "1234567890123456"),
    ("TIKTOK_APP_SECRET", "short1"),
    ("TIKTOK_APP_SECRET", "0123456789abcdef 0123456789abcdef"),
    ("TIKTOK_SERVICE_ID", "73123abc"),
    ("TIKTOK_REGION", "mars"),
    ("TIKTOK_MODE", "maybe"),
    ("TIKTOK_REDIRECT_URL", "http://example.com/cb"),
    ("TIKTOK_REDIRECT_URL", "https://example.com/cb#x"),
    ("TIKTOK_ACCESS_TOKEN", "has space"),
    ("TIKTOK_ACCESS_TOKEN_EXPIRES_AT", "2026-12-01T08:00:00"),
    ("TIKTOK_HTTP_TIMEOUT", "0"),
    ("TIKTOK_SELLER_NAME", "two\nlines"),
    ("TIKTOK_SELLER_NAME", "   "),
    ("TIKTOK_NOT_A_SETTING", "x"),
]


@settings(BASE, max_examples=examples(60))
@given(data=st.data(), updates=valid_updates, bad=st.sampled_from(_INVALID))
def test_an_invalid_update_leaves_the_file_byte_identical(
    data: st.DataObject, updates: dict[str, str], bad: tuple[str, str]
) -> None:
    existing = data.draw(env_file_text(updates), label="existing .env")
    with env_folder() as folder:
        path = folder / ".env"
        path.write_text(existing, encoding="utf-8")
        path.chmod(0o644)
        before = path.read_bytes()
        with pytest.raises(ValidationError) as info:
            save_settings({**updates, bad[0]: bad[1]}, path)
        assert bad[0] in info.value.fields
        assert path.read_bytes() == before
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not even touched
        assert sorted(p.name for p in folder.iterdir()) == [".env"]


def test_a_blank_line_before_a_replaced_key_survives(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"OTHER=1\n\n   \nTIKTOK_REGION=us\n# end\n")
    save_settings({"TIKTOK_REGION": "global"}, path)
    assert path.read_bytes() == b"OTHER=1\n\n   \nTIKTOK_REGION=global\n# end\n"


def test_crlf_lines_survive_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"# from Windows\r\nOTHER=1\r\nTIKTOK_REGION=us\r\n")
    save_settings({"TIKTOK_REGION": "global"}, path)
    assert path.read_bytes().startswith(b"# from Windows\r\nOTHER=1\r\n")


def test_a_seller_name_with_a_lone_surrogate_is_a_package_error(tmp_path: Path) -> None:
    with pytest.raises(TikTokHelperError):
        save_settings({"TIKTOK_SELLER_NAME": "Shop \ud83d"}, tmp_path / ".env")
    with pytest.raises(TikTokHelperError):  # where a seller's name is read from an older .env now
        grant_from_values({"TIKTOK_REFRESH_TOKEN": "TTP_refresh_000000000001", "TIKTOK_SELLER_NAME": "Shop \ud83d"})


#: The malformed seller values an older .env can hold (one line; a blank value is no value).
_INVALID_IN_ENV = [(n, v) for n, v in _INVALID if n in SELLER_FIELDS and v.strip() and "\n" not in v]


@pytest.mark.parametrize(("name", "value"), _INVALID_IN_ENV)
def test_a_malformed_seller_value_in_an_older_env_is_named_and_nothing_is_imported(
    tmp_path: Path, name: str, value: str
) -> None:
    path = tmp_path / ".env"
    update_env(path, {"TIKTOK_REFRESH_TOKEN": "TTP_refresh_000000000001", name: value})
    before = path.read_bytes()
    store = RunbookStore(path, environ={})
    try:
        with pytest.raises(ValidationError) as info:
            store.import_legacy()
    finally:
        store.close()
    assert info.value.fields == (name,)
    assert path.read_bytes() == before
    assert not grants_path_for(path).exists()


# --- envfile.format_line + python-dotenv ----------------------------------------------------------

single_line = st.text(st.characters(codec="utf-8", blacklist_characters="\n\r\x00"))
env_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@settings(BASE, max_examples=examples(500))
@given(key=env_keys, value=single_line | st.sampled_from(["'", "\\", "\\'", "'\\", "a\\", " # c", "${HOME}", "$X"]))
def test_format_line_reads_back_unchanged_with_python_dotenv(key: str, value: str) -> None:
    line = format_line(key, value)
    assert line.endswith("\n") and line.count("\n") == 1
    assert dotenv_values(stream=io.StringIO(line), interpolate=False) == {key: value}
    # and among other lines, as the package reads a file
    text = f"# before\nA=1\n{line}B=2\n"
    assert dotenv_values(stream=io.StringIO(text), interpolate=False) == {"A": "1", key: value, "B": "2"}


@settings(BASE, max_examples=examples(100))
@given(key=env_keys, value=single_line, bad=st.sampled_from(["\n", "\r", "\x00"]), at=st.integers(0, 100))
def test_format_line_refuses_line_breaks_and_nul(key: str, value: str, bad: str, at: int) -> None:
    at = min(at, len(value))
    with pytest.raises(ValueError, match="line break or NUL"):
        format_line(key, value[:at] + bad + value[at:])


@settings(BASE, max_examples=examples(100))
@given(key=st.text(max_size=10).filter(lambda k: not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)))
def test_format_line_refuses_invalid_keys(key: str) -> None:
    with pytest.raises(ValueError, match="not a valid setting name"):
        format_line(key, "v")


# --- signing --------------------------------------------------------------------------------------


def reference_sign(
    path: str, params: dict[str, object], secret: str, body: bytes | str = b"", content_type: str = "application/json"
) -> str:
    """An independent reading of TikTok's 202309 algorithm (Partner Center, 'Sign your API request')."""
    kept = {k: str(v) for k, v in params.items() if k not in ("sign", "access_token")}
    message = path + "".join(k + kept[k] for k in sorted(kept))
    if "multipart/form-data" not in content_type.lower():
        message += body if isinstance(body, str) else body.decode("utf-8")
    wrapped = (secret + message + secret).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), wrapped, hashlib.sha256).hexdigest()


_text = st.text(st.characters(codec="utf-8"), max_size=20)
sign_paths = st.builds("/{}".format, _text)
sign_params = st.dictionaries(
    st.sampled_from(["app_key", "timestamp", "shop_cipher", "page_size", "sign", "access_token"]) | _text,
    _text | st.integers(),
    max_size=6,
)
bodies = st.one_of(st.just(b""), _text.map(str.encode), _text)
content_types = st.sampled_from(["application/json", "multipart/form-data; boundary=x", "Multipart/Form-Data"])


@settings(BASE, max_examples=examples(300))
@given(path=sign_paths, params=sign_params, secret=_text, body=bodies, content_type=content_types)
def test_sign_matches_an_independent_implementation(
    path: str, params: dict[str, object], secret: str, body: bytes | str, content_type: str
) -> None:
    value = sign(path, params, secret, body, content_type)
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert value == sign(path, dict(params), secret, body, content_type), "deterministic"
    assert value == sign(path, dict(reversed(list(params.items()))), secret, body, content_type)
    assert value == reference_sign(path, params, secret, body, content_type)


@settings(BASE, max_examples=examples(300))
@given(
    path=sign_paths,
    params=sign_params,
    secret=_text,
    body=_text,
    change=st.sampled_from(["value", "path", "body", "secret"]),
    new=_text,
)
def test_sign_changes_when_anything_signed_changes(
    path: str, params: dict[str, object], secret: str, body: str, change: str, new: str
) -> None:
    before = sign(path, params, secret, body)
    signed_keys = sorted(k for k in params if k not in ("sign", "access_token"))
    if change == "value":
        assume(signed_keys)
        key = signed_keys[0]
        assume(str(params[key]) != new)
        params = {**params, key: new}
    elif change == "path":
        assume(new != path[1:])
        path = "/" + new
    elif change == "body":
        assume(new != body)
        body = new
    else:
        assume(new != secret)
        secret = new
    assert sign(path, params, secret, body) != before


@settings(BASE, max_examples=examples(200))
@given(
    path=sign_paths,
    params=sign_params,
    secret=_text,
    sign_value=_text | st.integers(),
    token=_text,
)
def test_sign_ignores_sign_and_access_token(
    path: str, params: dict[str, object], secret: str, sign_value: object, token: str
) -> None:
    bare = {k: v for k, v in params.items() if k not in ("sign", "access_token")}
    assert sign(path, {**bare, "sign": sign_value, "access_token": token}, secret) == sign(path, bare, secret)


def test_generated_updates_use_real_setting_names() -> None:
    """The generated updates use real setting names (guards the strategy against renames)."""
    assert set(VALID_FIELDS) <= set(SETTINGS)
    assert set(SELLER_FIELDS) == set(PER_SELLER) and not set(SELLER_FIELDS) & set(SETTINGS)
