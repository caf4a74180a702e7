"""``python -m tiktok_helpers``: the runbook's command line (see :mod:`tiktok_helpers.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
