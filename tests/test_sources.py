"""Every fact in the project cites its public source, never a private compilation of sources.

Two halves. Every error code of the catalog (its quoted messages, HTTP statuses and lifetimes) and
every lifetime or window of ``protocol`` names its public source beside it: an entry or constant
without one fails here. And no text cites the fact sheet the facts were first gathered in.

The project's facts were gathered into a fact sheet that is not part of the repository; code, tests,
notebooks and documents must name the public page a fact comes from (a TikTok Shop Partner Center
page, API2Cart's "Response Status Codes" or OpenAPI description, a public client library), so a
reader can check it. This test finds citations of that fact sheet as a document: "the reference"
with a section number, its path, or a bare section sign. The word "reference" in its other senses
(an API reference page, a reference signer or implementation) stays allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tiktok_helpers import catalog, protocol

from .conftest import PROJECT_ROOT

#: Where the project's own text lives.
SCANNED_DIRS = ("tiktok_helpers", "tests", "benchmarks", "scripts")
SCANNED_FILES = ("README.md", "SECURITY.md", "ARCHITECTURE.md")
SKIPPED_PARTS = frozenset({"__pycache__", ".ipynb_checkpoints"})

#: A citation of "the reference" as a document.
CITATION = re.compile(
    r"""
      reference \s* §                          # reference §5
    | reference \s+ sections? \b               # reference section 5, reference sections 3-4
    | reference , \s* sections? \b             # the reference, section 5
    | \b the \s+ reference \s* \(              # the reference (section 5)
    | \( \s* reference \b                      # (reference section 2)
    | shared/reference/                        # the fact sheet's path, outside the repository
    | \b the \s+ reference                     # the reference as a subject or an object:
      (?= \s* [.,;:] | \s+ (?:does|do|did|says|said|documents|lists|gives|names|shows|states) \b )
    """,
    re.IGNORECASE | re.VERBOSE,
)
#: A bare section number ("§5"), unless a named standard precedes it ("RFC 6749 §4.1").
SECTION_SIGN = re.compile(r"§\s*\d")
NAMED_STANDARD = re.compile(r"\b(?:RFC|PEP|ISO)[\s-]*[\d.-]+\s*$", re.IGNORECASE)


def citations(text: str) -> list[str]:
    """The citations of the fact sheet in ``text``: each offending line, stripped."""
    found = []
    for line in text.splitlines():
        bare = any(not NAMED_STANDARD.search(line[: m.start()]) for m in SECTION_SIGN.finditer(line))
        if bare or CITATION.search(line):
            found.append(line.strip())
    return found


def scanned() -> Iterator[Path]:
    this = Path(__file__).resolve()
    for name in SCANNED_DIRS:
        for path in sorted((PROJECT_ROOT / name).rglob("*")):
            if path.is_file() and not SKIPPED_PARTS.intersection(path.parts) and path.resolve() != this:
                yield path
    yield from sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb"))
    yield from (PROJECT_ROOT / name for name in SCANNED_FILES)


@pytest.mark.parametrize(
    "text",
    [
        "(reference section 2)",
        "the live message, reference section 5",
        "see reference sections 3-4",
        "HTTP 401 (reference §5)",
        "from the reference (section 3)",
        "the reference, section 6",
        "via ../shared/reference/tiktok-shop-authorization.md",
        "Left out because the reference does not say",
        "worked examples from the reference.",
        "what the reference documents",
        "# §6 API2Cart's return codes",
        "the codes §6 calls transient",
    ],
)
def test_a_citation_of_the_fact_sheet_is_found(text: str) -> None:
    assert citations(text) == [text]


@pytest.mark.parametrize(
    "text",
    [
        "36009002's message in TikTok Shop's API reference error tables",
        "TikTok's Node.js reference signer",
        "The reference algorithm, written out independently",
        "def test_reference_vector_authorized_shops() -> None:",
        "against the public reference signers",
        "no external references",
        "RFC 6749 §4.1.2",
    ],
)
def test_the_word_in_its_other_senses_is_allowed(text: str) -> None:
    assert citations(text) == []


def test_no_file_cites_the_fact_sheet() -> None:
    offending = []
    for path in scanned():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # not text (an image, a database)
        offending += [f"{path.relative_to(PROJECT_ROOT)}: {line}" for line in citations(text)]
    assert not offending, "cite the public source instead:\n" + "\n".join(offending)


# --------------------------------------------------------------------------- every fact names its source

#: What a source may be: a public document (TikTok Shop Partner Center's pages, API2Cart's "Response
#: Status Codes" and OpenAPI description, sqlite.org), live replies or traces quoted in public code,
#: or a statement that the fact is the runbook's own (or the sandbox's own code).
PUBLIC_SOURCE = re.compile(
    r"TikTok Shop Partner Center docs|TikTok's creator authorization guide|API2Cart 'Response Status Codes'"
    r"|API2Cart's OpenAPI description|API2Cart OpenAPI description|sqlite\.org"
    r"|public client (?:code|libraries)|public code|public live traces|runbook's own|sandbox's own"
)
#: A message quoted in double quotes, an HTTP status, a lifetime or window.
QUOTED = re.compile(r'"([^"]{3,})"')
HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")
DURATION = re.compile(r"\b(\d+)[ -](second|minute|hour|day)s?\b")


def uncovered(source: str, *texts: str) -> list[str]:
    """The messages, HTTP statuses and lifetimes ``texts`` state that ``source`` does not name."""
    missing = []
    for text in texts:
        missing += [f'"{q}"' for q in QUOTED.findall(text) if q not in source]
        missing += [f"HTTP {s}" for s in HTTP_STATUS.findall(text) if f"HTTP {s}" not in source]
        have = set(DURATION.findall(source))
        missing += [f"{n} {unit}s" for n, unit in DURATION.findall(text) if (n, unit) not in have]
    return missing


def _phrase(value: timedelta) -> str:
    """A lifetime as a source writes it: 30 minutes, 7 days, 1 day."""
    seconds = int(value.total_seconds())
    size, unit = next(
        (s, u) for s, u in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")) if seconds % s == 0
    )
    count = seconds // size
    return f"{count} {unit}{'' if count == 1 else 's'}"


def test_the_coverage_check_finds_a_fact_without_its_source() -> None:
    source = "TikTok Shop Partner Center docs, 'Common errors' (36009033 \"Access denied.\"); 30 minutes"
    assert uncovered(source, 'Denied ("Access denied."), within 30 minutes') == []
    assert uncovered(source, 'Denied ("Access refused."), with HTTP 403, within 5 minutes') == [
        '"Access refused."', "HTTP 403", "5 minutes",
    ]  # fmt: skip


@pytest.mark.parametrize("item", [{}, {"source": ""}, {"source": "   "}])
def test_a_catalog_entry_without_a_source_is_refused(item: dict[str, str]) -> None:
    entry = {"code": "x.y", "service": catalog.LOCAL, "title": "T", "cause": "C.", "fix": "F.", "transient": False}
    with pytest.raises(ValueError, match=r"catalog\.json"):
        catalog._entry({**entry, **item})
    with pytest.raises(ValueError, match="source"):
        catalog._cause({"words": ["w"], "cause": "c", "fix": "f.", **item})


@pytest.mark.parametrize("code", list(catalog.CATALOG))
def test_every_catalog_entry_names_the_source_of_what_it_states(code: str) -> None:
    """Each entry's code, the messages it quotes, the HTTP statuses and the lifetimes it states are
    in its own source, which is a public document, a live reply quoted in public code, or the runbook's
    (or sandbox's) own."""
    entry = catalog.CATALOG[code]
    assert PUBLIC_SOURCE.search(entry.source), f"{code}: source names no public document: {entry.source!r}"
    assert uncovered(entry.source, entry.title, entry.cause, entry.fix) == [], code
    number = code.removeprefix("api2cart.").split("-")[0]
    if number.isdigit():  # a service's code: the source names it
        assert number in entry.source, code


@pytest.mark.parametrize("index", range(len(catalog.INVALID_CREDENTIALS_CAUSES)))
def test_every_cause_of_36009004_names_the_source_of_its_message(index: int) -> None:
    cause = catalog.INVALID_CREDENTIALS_CAUSES[index]
    assert PUBLIC_SOURCE.search(cause.source) and "36009004" in cause.source, cause.cause
    assert QUOTED.search(cause.cause), f"cause {index} quotes no message"
    assert uncovered(cause.source, cause.cause, cause.fix) == [], cause.cause


def test_every_protocol_constant_names_its_source() -> None:
    """Every lifetime and window in ``protocol`` has its source in ``protocol.SOURCES``, and that
    source states the same value."""
    constants = {name for name, value in vars(protocol).items() if name.isupper() and isinstance(value, timedelta)}
    assert constants == set(protocol.__all__) - {"SOURCES"}
    assert set(protocol.SOURCES) == constants
    for name in constants:
        source = protocol.SOURCES[name]
        assert PUBLIC_SOURCE.search(source), f"{name}: {source!r} names no public document"
        assert _phrase(getattr(protocol, name)) in source, (
            f"{name}: its source does not state {_phrase(getattr(protocol, name))}"
        )
