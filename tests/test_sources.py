"""Every fact in the project cites its public source, never a private compilation of sources.

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
from pathlib import Path

import pytest

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
