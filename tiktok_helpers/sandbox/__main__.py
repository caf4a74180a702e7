"""``python -m tiktok_helpers.sandbox``: serve the sandbox until Ctrl-C (see :mod:`.command`)."""

from __future__ import annotations

import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main())
