from __future__ import annotations

import pickle

import pytest

from tiktok_helpers.secret import Secret, mask

TOKEN = "TTP_abcdefghijklmnopqrstuvwxyz123456"


def test_long_value_keeps_prefix_and_last_four() -> None:
    assert mask(TOKEN) == "TTP_…3456"
    assert mask("0123456789abcdef0123") == "…0123"


def test_short_or_empty_values_are_hidden_entirely() -> None:
    assert mask("short") == "••••••"
    assert mask("") == "(empty)"
    assert mask(None) == "(empty)"


def test_secret_never_shows_its_value() -> None:
    secret = Secret(TOKEN)
    shown_forms = [str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret:>20}"]
    shown_forms += ["{}".format(secret), "%s" % (secret,)]  # noqa: UP031, UP032
    for shown in shown_forms:
        assert TOKEN not in shown
        assert "3456" in shown
    assert secret.reveal() == TOKEN


def test_secret_equality_and_wrapping() -> None:
    assert Secret(TOKEN) == Secret(TOKEN)
    assert Secret(TOKEN) != Secret(TOKEN + "x")
    assert Secret(Secret(TOKEN)).reveal() == TOKEN
    assert not Secret("")
    assert len(Secret("abc")) == 3


def test_secret_is_immutable_and_unpicklable() -> None:
    secret = Secret(TOKEN)
    with pytest.raises(AttributeError):
        secret._value = "x"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]
