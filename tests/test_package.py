"""The package as a whole: light import, lazy exports, typed marker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tiktok_helpers

from .conftest import PROJECT_ROOT


def run_python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=PROJECT_ROOT
    ).stdout


def test_import_is_light() -> None:
    out = run_python(
        "import sys, json, tiktok_helpers; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ipywidgets','IPython','jupyter','jupyterlab','notebook','httpx','dotenv','tiktok_helpers'))))"
    )
    assert json.loads(out) == ["tiktok_helpers"]


def test_using_a_client_does_not_import_widgets() -> None:
    out = run_python(
        "import sys, tiktok_helpers as t; t.TokenClient; t.OpenApiClient; t.Api2CartClient; t.load_settings; "
        "print(any(m.startswith(('ipywidgets', 'IPython', 'jupyter')) for m in sys.modules))"
    )
    assert out.strip() == "False"


def test_every_export_resolves() -> None:
    for name in tiktok_helpers.__all__:
        assert getattr(tiktok_helpers, name) is not None, name
    assert set(tiktok_helpers.__all__) <= set(dir(tiktok_helpers))


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NotAThing"):
        tiktok_helpers.NotAThing  # noqa: B018


def test_package_is_typed() -> None:
    assert (PROJECT_ROOT / "tiktok_helpers" / "py.typed").exists()
