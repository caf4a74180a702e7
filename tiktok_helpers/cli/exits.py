"""The exit codes and the command line's own two errors, below :mod:`.main` and the command modules.

What each code means, and which error gives which, is in :mod:`tiktok_helpers.cli.main` (which
re-exports these names, as :mod:`tiktok_helpers.cli` does).
"""

from __future__ import annotations

from typing import Final

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "CommandFailed", "UsageError"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130


class UsageError(Exception):
    """Bad usage argparse cannot see (conflicting options, a flag outside its mode): exit 2."""


class CommandFailed(Exception):
    """A command's own check failed (not an error of the package's catalog): exit 1."""

    def __init__(self, code: str, title: str, fix: str) -> None:
        self.code, self.title, self.fix = code, title, fix
        super().__init__(fix)
