"""The sandbox's mutable data, its lock, and the state file that shares it between sandboxes.

Request handlers run on several threads, so every operation of the simulated services runs
inside :meth:`StateStore.reading` or :meth:`StateStore.mutation`, which hold one re-entrant lock.

Persistence (``state_path``)
----------------------------
With a ``state_path`` the mutable data lives in a JSON file shared by every sandbox (in any
process) that uses the same path, so a runbook whose notebooks each start their own sandbox
keeps its codes, tokens and stores. What is persisted, and the format, are in :mod:`.codec`.

* The file is loaded when the state is created and re-read, when its ``stat`` changed, before
  every operation; every change is written at once (atomically, mode 0600) while holding the
  state's lock and a cross-process lock on ``<name>.lock`` (see :mod:`.persist`).
* A file that is not valid JSON, has another ``version`` or does not fit the sample data is moved
  aside as ``<name>.corrupt`` with a warning on the ``tiktok_helpers.sandbox`` logger (naming
  the problem, never a value), and the sandbox continues from empty state.
* :meth:`StateStore.reset` (``SandboxState.reset``) clears everything mutable and deletes the
  file; other sandboxes on the same file then see empty state too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from .codec import StateCodec
from .model import Api2CartAccount, App, AuthCode, Grant, Seller, StateData
from .persist import BadStateFile, StateFile

__all__ = ["StateStore"]

logger = logging.getLogger("tiktok_helpers.sandbox")


class StateStore:
    """Codes, grants (indexed by token), API2Cart stores and redirect URLs, guarded by one lock.

    ``apps``, ``sellers`` and ``accounts`` are the sandbox's fixed objects; the store keeps each
    app's ``redirect_url`` and each account's ``carts`` in step with the state file.
    """

    def __init__(
        self,
        apps: dict[str, App],
        sellers: Mapping[str, Seller],
        accounts: dict[str, Api2CartAccount],
        state_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.apps = apps
        self.sellers = sellers
        self.accounts = accounts
        self._default_redirects = {key: app.redirect_url for key, app in apps.items()}
        self._codec = StateCodec(apps=apps, sellers=sellers, accounts=accounts)
        self.codes: dict[str, AuthCode] = {}
        self.grants: list[Grant] = []
        self.by_access: dict[str, Grant] = {}
        self.by_refresh: dict[str, Grant] = {}
        self.next_cart_id = 1
        self._file = StateFile(state_path) if state_path is not None else None
        self._mutation_depth = 0
        if self._file is not None:
            with self.lock, self._file.lock():
                self._load(self._file)

    @property
    def path(self) -> Path | None:
        """The state file (None: in memory only)."""
        return self._file.path if self._file is not None else None

    def sync(self) -> None:
        """Re-read the state file if another sandbox changed it (a ``stat`` when it did not)."""
        with self.lock:
            self._sync()

    def reset(self) -> None:
        """Forget codes, grants and stores, restore the redirect URLs, delete the file."""
        with self.lock:
            self._apply(StateData())
            file = self._file
            if file is None:
                return
            with file.lock():
                try:
                    file.delete()
                except OSError as err:
                    logger.warning(
                        "cannot delete the sandbox state file %s (%s)", file.path, err.strerror or type(err).__name__
                    )

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock, reloading first if the file changed."""
        with self.lock:
            self._sync()
            yield

    @contextlib.contextmanager
    def mutation(self) -> Iterator[None]:
        """Hold the locks, reload if needed, and save once the outermost mutation is done."""
        with self.lock:
            file = self._file
            if file is None:
                yield
                return
            with file.lock():
                if self._mutation_depth == 0 and file.changed():
                    self._load(file)
                self._mutation_depth += 1
                try:
                    yield
                finally:
                    self._mutation_depth -= 1
                    if self._mutation_depth == 0:
                        self._save(file)

    def _sync(self) -> None:
        """Reload if the file changed; the caller holds ``self.lock``."""
        file = self._file
        if file is None or self._mutation_depth > 0 or not file.changed():
            return
        try:
            if file.read() == file.content:  # racy re-check or a touch: same bytes, nothing to do
                return
        except OSError:
            pass  # _load reports it
        with file.lock():
            self._load(file)

    def _load(self, file: StateFile) -> None:
        """Read the file and apply it; the caller holds ``self.lock`` and ``file.lock()``."""
        try:
            raw = file.read()
        except OSError as err:
            self._discard(file, None, f"unreadable: {err.strerror or type(err).__name__}")
            return
        if raw == file.content:
            return
        if raw is None:
            self._apply(StateData())
            file.content = None
            return
        try:
            data = self._codec.decode(StateFile.decode(raw))
        except BadStateFile as err:
            self._discard(file, raw, str(err))
            return
        self._apply(data)
        file.content = raw

    def _discard(self, file: StateFile, raw: bytes | None, problem: str) -> None:
        kept = file.quarantine()
        where = f"moved to {kept}" if kept is not None else "left in place (it could not be moved)"
        logger.warning(
            "sandbox state file %s is not usable (%s); starting from empty state, the file was %s",
            file.path,
            problem,
            where,
        )
        self._apply(StateData())
        file.content = None if kept is not None else raw

    def _save(self, file: StateFile) -> None:
        raw = StateFile.encode(self._codec.encode(self._snapshot()))
        if raw == file.content:
            return
        try:
            file.write(raw)
        except OSError as err:
            logger.warning(
                "cannot save the sandbox state to %s (%s); the change is kept in this process only",
                file.path,
                err.strerror or type(err).__name__,
            )

    def _snapshot(self) -> StateData:
        return StateData(
            redirect_urls={key: app.redirect_url for key, app in self.apps.items()},
            codes=self.codes,
            grants=self.grants,
            carts={key: account.carts for key, account in self.accounts.items()},
            next_cart_id=self.next_cart_id,
        )

    def _apply(self, data: StateData) -> None:
        for key, app in self.apps.items():
            app.redirect_url = data.redirect_urls.get(key, self._default_redirects[key])
        self.codes = data.codes
        self.grants = data.grants
        self.by_access = {g.access_token: g for g in self.grants}
        self.by_refresh = {g.refresh_token: g for g in self.grants}
        for key, account in self.accounts.items():
            account.carts = data.carts.get(key, [])
        self.next_cart_id = data.next_cart_id
