"""No text of the project states refresh-token rotation as TikTok's behaviour.

TikTok Shop Partner Center's authorization docs (the authorization guide 202309 and the
"Authorization overview" 202407) do not say whether ``/api/v2/token/refresh`` returns a new
refresh token, nor whether the old one then stops working: their samples show the same string
before and after, which proves nothing either way. The runbook is right under both readings (it
always stores the refresh token a reply carries, and one party refreshes each seller), and the
sandbox serves either reading as its own choice (``TIKTOK_SANDBOX_REFRESH_READING``).

So a sentence may speak of a refresh replacing the refresh token only with a hedge in the same
sentence: what may happen, what TikTok does not document, whether it does, if it does, what the
sandbox or one reading does, the sandbox's choice. This test reads every text a reader or a trainee
meets (the package's strings and comments, its JSON data, the notebooks' markdown and code, README,
SECURITY, ARCHITECTURE and ``.env.example``) and fails, naming file and line, on a sentence that
states rotation as fact.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT

_TOKEN = r"refresh[\s-]+tokens?"
#: Sentences that state rotation as what happens (a small list, each an assertive form).
ASSERTIVE: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        # "a refresh replaces the refresh token", "TikTok's refresh retires the old refresh token"
        rf"\b(?:a|each|every|the|any|its|one|tiktok's)\s+refresh\s+(?:replaces|rotates|retires|invalidates|revokes)"
        rf"\s+(?:the\s+|its\s+|a\s+)?(?:old\s+|previous\s+)?(?:{_TOKEN}|one)\b",
        # "TikTok rotates ...", "TikTok replaces the refresh token"
        r"\btiktok\s+(?:rotates|replaces|retires|invalidates|revokes)\b",
        # "the refresh token rotates", "refresh tokens are rotated"
        rf"\b{_TOKEN}\s+(?:rotates?|(?:is|are|gets|get)\s+rotated)\b",
        # "rotates the refresh token", "rotated the refresh token API2Cart holds"
        rf"\brotat(?:es|ed|ing|e)\s+(?:the\s+|its\s+|a\s+|their\s+)?(?:seller's\s+)?{_TOKEN}\b",
        # "a refresh returns a new refresh token"
        rf"\breturns\s+a\s+new\s+{_TOKEN}\b",
        # "... and retires the old one", "invalidates the old refresh token"
        rf"\b(?:retires|invalidates|revokes)\s+the\s+(?:old|previous)\s+(?:{_TOKEN}|one)\b",
        # "the old one stops working", "the old refresh token no longer works"
        rf"\bthe\s+(?:old|previous)\s+(?:{_TOKEN}|one)\s+(?:then\s+)?(?:stops|stopped|no\s+longer)\s+work",
        # "a refresh made elsewhere replaced the refresh token"
        rf"\breplaced\s+(?:the|its|their)\s+{_TOKEN}\b",
    )
)
#: Words that make such a sentence a hedge, a condition or a statement about the sandbox (the name
#: of one of its readings in quotes, ``"new"``, counts as naming the reading).
HEDGE = re.compile(
    r"\b(?:may|might|could|perhaps|possibl[ey]|whether|if|unless|either|"
    r"not\s+document(?:ed|s)?|undocumented|documents\s+neither|does\s+not\s+(?:say|document|publish)|"
    r"sandbox(?:'s)?|readings?|choice)\b"
    r"""|["'`](?:new|same)["'`]""",
    re.IGNORECASE,
)
#: Saying the sandbox does it "like TikTok" states it of TikTok again: then only a hedge about TikTok
#: itself (may, whether, if, not documented) counts, not the word sandbox or reading.
LIKE_TIKTOK = re.compile(r"\b(?:like|as)\s+tiktok\b(?!'s\s+(?:docs|documentation))", re.IGNORECASE)
DOUBT = re.compile(
    r"\b(?:may|might|could|perhaps|possibl[ey]|whether|if|unless|not\s+document(?:ed|s)?|undocumented|"
    r"documents\s+neither|does\s+not\s+(?:say|document|publish))\b",
    re.IGNORECASE,
)
#: Where a sentence ends: . ! ? (with closing quotes or brackets), a blank line, a Markdown table
#: cell or a list item.
SENTENCE_END = re.compile(r"""[.!?]["'”)\]*_`]*\s+|\n[ \t#]*\n|\|| ?\n\s*(?:[-*+]|\d+\.)\s+""")


@dataclass(frozen=True)
class Claim:
    """A sentence stating rotation as fact: where it is and what it says."""

    where: str
    sentence: str

    def __str__(self) -> str:
        return f"{self.where}: {self.sentence}"


def sentences(text: str) -> Iterator[tuple[int, str]]:
    """Each sentence of ``text`` with the offset where it starts."""
    start = 0
    for end in SENTENCE_END.finditer(text):
        yield start, text[start : end.end()]
        start = end.end()
    if start < len(text):
        yield start, text[start:]


def claims(text: str) -> Iterator[tuple[int, str]]:
    """The sentences of ``text`` that state rotation as fact: (line within ``text``, from 0; sentence)."""
    for start, sentence in sentences(text):
        match = next((m for p in ASSERTIVE if (m := p.search(sentence))), None)
        hedge = DOUBT if LIKE_TIKTOK.search(sentence) else HEDGE
        if match is not None and not hedge.search(sentence):
            yield text.count("\n", 0, start + match.start()), " ".join(sentence.split())


# --------------------------------------------------------------------------- the texts scanned


def _python_texts(path: Path) -> Iterator[tuple[int, str]]:
    """A module's strings (docstrings, messages, f-strings with their holes as {}) and its comments
    (consecutive whole-line comments as one block; a comment after code alone), each with the line
    it starts on."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    inside_fstrings = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = (v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            yield node.lineno, "".join(str(p) for p in parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in inside_fstrings:
            yield node.lineno, node.value
    block: list[str] = []
    first = last = 0
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        line = token.start[0]
        text = token.string.lstrip("#:").strip()
        if not token.line.lstrip().startswith("#"):  # after code on its line: a text of its own
            yield line, text
            continue
        if block and line != last + 1:
            yield first, "\n".join(block)
            block = []
        if not block:
            first = line
        block.append(text)
        last = line
    if block:
        yield first, "\n".join(block)


def _notebook_texts(path: Path) -> Iterator[tuple[str, int, str]]:
    """Each cell's source, markdown and code (never outputs), with the cell's name."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] in ("markdown", "code"):
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            yield f"cell {index} ({cell['cell_type']}, id {cell.get('id')})", 1, text


def scanned_texts(root: Path = PROJECT_ROOT) -> Iterator[tuple[str, int, str]]:
    """(where, first line, text) for every text the project shows a reader."""
    package = root / "tiktok_helpers"
    for path in sorted(package.rglob("*.py")):
        for line, text in _python_texts(path):
            yield str(path.relative_to(root)), line, text
    for path in sorted(package.rglob("*.json")):
        for number, line_text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            yield str(path.relative_to(root)), number, line_text  # one string per line in these files
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        for cell, line, text in _notebook_texts(path):
            yield f"{path.relative_to(root)} {cell}", line, text
    for name in ("README.md", "SECURITY.md", "ARCHITECTURE.md", ".env.example"):
        if (root / name).is_file():
            yield name, 1, (root / name).read_text(encoding="utf-8")


def found_claims(root: Path = PROJECT_ROOT) -> list[Claim]:
    return [
        Claim(f"{where}:{first + line}", sentence)
        for where, first, text in scanned_texts(root)
        for line, sentence in claims(text)
    ]


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize(
    "text",
    [
        "A refresh replaces the refresh token.",
        "TikTok rotates the refresh token on every call.",
        "The refresh token rotates with each refresh.",
        "Each refresh rotates the refresh token, so store it.",
        "A refresh after the store was added rotated the refresh token API2Cart holds.",
        "The refresh returns a new refresh token and retires the old one.",
        "Refreshing returns a new refresh token; the old one stops working.",
        "A refresh made elsewhere replaced the refresh token.",
        "Store the new one:\nTikTok's refresh retires the old\nrefresh token.",
        "The sandbox (like TikTok) has rotated the refresh token.",
    ],
)
def test_a_planted_assertive_sentence_is_caught(text: str) -> None:
    assert [sentence for _, sentence in claims(text)] == [" ".join(text.split())]


@pytest.mark.parametrize(
    "text",
    [
        "A refresh may replace the refresh token.",
        "TikTok does not document whether a refresh replaces the refresh token.",
        "If a refresh replaces the refresh token, the old one stops working.",
        "The sandbox's refresh replaces the refresh token (its default reading).",
        "Under the 'new' reading a refresh returns a new refresh token and retires the old one.",
        '``"new"``: a refresh returns a new refresh token and retires the old one.',
        "TikTok documents neither: a refresh returns a new refresh token, or the same.",
        "The sandbox, like TikTok may, rotated the refresh token.",
        "That the refresh token rotates is the sandbox's choice, not a documented fact.",
        "A refresh after the store was added rotated the refresh token API2Cart holds (possibly; TikTok does not say).",
        "The runbook stores the refresh token each reply carries.",
    ],
)
def test_a_hedged_or_unrelated_sentence_is_not_caught(text: str) -> None:
    assert list(claims(text)) == []


def test_a_hedge_counts_only_within_its_own_sentence() -> None:
    text = "TikTok does not document it. A refresh replaces the refresh token.\nMaybe."
    assert list(claims(text)) == [(0, "A refresh replaces the refresh token.")]


def test_the_line_of_a_claim_is_the_line_it_is_on(tmp_path: Path) -> None:
    """Planted in a package module, a notebook and the README, each claim is named by file and line."""
    (tmp_path / "tiktok_helpers").mkdir()
    (tmp_path / "tiktok_helpers" / "mod.py").write_text(
        '"""Docstring.\n\nTikTok rotates the refresh token.\n"""\n\n'
        "# a comment that may rotate the refresh token\n"
        "MESSAGE = (\n    'Each refresh replaces '\n    'the refresh token.'\n)\n"
        "# a comment that says\n# TikTok rotates it.\n"
    )
    (tmp_path / "tiktok_helpers" / "data.json").write_text('{\n  "a": "fine",\n  "b": "TikTok rotates it."\n}\n')
    (tmp_path / "notebooks").mkdir()
    notebook = {"cells": [{"cell_type": "markdown", "id": "x1", "source": ["# Title\n", "\n", "TikTok retires it.\n"]}]}
    (tmp_path / "notebooks" / "01-n.ipynb").write_text(json.dumps(notebook))
    (tmp_path / "README.md").write_text("# Readme\n\nFine.\nA refresh\nreplaces the refresh token.\n")
    assert [c.where for c in found_claims(tmp_path)] == [
        "tiktok_helpers/mod.py:3",
        "tiktok_helpers/mod.py:8",
        "tiktok_helpers/mod.py:12",
        "tiktok_helpers/data.json:3",
        "notebooks/01-n.ipynb cell 0 (markdown, id x1):3",
        "README.md:4",
    ]


def test_no_text_states_refresh_token_rotation_as_fact() -> None:
    found = found_claims()
    assert not found, (
        "TikTok does not document whether a refresh replaces the refresh token: say so in the sentence "
        "(or say it is the sandbox's reading), or state only what is known:\n" + "\n".join(map(str, found))
    )
