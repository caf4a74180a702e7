"""Which tier of the suite is running, and how many generated examples each property test gets.

``python3 runbook.py test`` runs everything (the full tier); ``python3 runbook.py test --quick`` sets
``RUNBOOK_TEST_TIER=quick``: no browser, no multi-process durability, no slow tests (a second
run or build of the notebooks, a peer SDK; ``-m "not browser and not durability and not slow"``),
and a twentieth of the generated examples (at least 5). ``HYPOTHESIS_PROFILE=thorough`` asks for
THOROUGH_FACTOR times more, for a long fuzzing run by hand.
"""

from __future__ import annotations

import os
from typing import Final

TIER: Final = os.environ.get("RUNBOOK_TEST_TIER", "full")
QUICK: Final = TIER == "quick"
THOROUGH_FACTOR: Final = 25
THOROUGH: Final = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"


def examples(n: int) -> int:
    """``n`` generated examples in the full tier; fewer in the quick tier, more when thorough."""
    if THOROUGH:
        return n * THOROUGH_FACTOR
    if QUICK:
        return max(5, n // 20)
    return n
