"""The grant store's PostgreSQL URL (``TIKTOK_GRANTS_URL``): read as libpq reads it, checked, masked.

The runbook keeps every seller's grant in the SQLite file beside ``.env`` unless
``TIKTOK_GRANTS_URL`` holds a ``postgresql://`` (or ``postgres://``) URL; then a team shares one
PostgreSQL database. :class:`StoreUrl` is that URL as a value.

- It is split the way libpq splits a connection URI (PostgreSQL documentation, libpq "Connection
  Strings": ``postgresql://[user[:password]@][host][:port][,...][/dbname][?name=value&...]``,
  every part percent-encoded, the query's ``host=``/``hostaddr=``/``sslmode=`` winning over the
  address): the first ``@`` before any ``/`` ends the user and password, a ``[...]`` host is an IPv6
  address, a host starting with ``/`` is a unix socket folder. So what the doctor says about the
  hosts and TLS is what the driver will do.
- What libpq would refuse is refused here first, in a message that never repeats the URL or any
  part of it: libpq's own messages for a malformed URI quote it (``invalid percent-encoded token:
  "<the password>"``). A ``/`` or ``@`` left unencoded in a password is the usual cause, and each
  message says how to encode it.
- Only :meth:`StoreUrl.reveal` returns the URL as given (for the driver). ``str``, ``repr`` and
  f-strings give :attr:`StoreUrl.masked`: the password, and every query value that is a secret
  (``password``, ``sslpassword``, ``oauth_client_secret``), replaced by ``****``.

What the URL cannot say is left to libpq: an unknown query parameter, and, when the URL names no
host, ``PGHOST``, ``PGSSLMODE`` or a ``service`` file (a URL with ``service=`` and no host is not
counted as local).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator
from typing import Final, NamedTuple
from urllib.parse import unquote_to_bytes

from .errors import FieldProblem, ValidationError
from .secret import Secret
from .validation import is_loopback, strip_pasted

__all__ = [
    "ENCRYPTING_SSL_MODES",
    "EXAMPLE_URL",
    "GRANTS_URL_SETTING",
    "MASK",
    "SECRET_PARAMETERS",
    "SSL_MODES",
    "StoreUrl",
]

#: The setting that names a shared grant store.
GRANTS_URL_SETTING: Final = "TIKTOK_GRANTS_URL"
#: The URL every message and document shows as the model.
EXAMPLE_URL: Final = "postgresql://runbook@db.example.com/grants?sslmode=verify-full"
#: What a masked password or secret query value becomes.
MASK: Final = "****"
#: libpq's two URI designators, lower case only (libpq compares them as written).
SCHEMES: Final = ("postgresql://", "postgres://")
#: libpq's ``sslmode`` values, weakest first.
SSL_MODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
#: The ``sslmode`` values with which libpq refuses a connection that is not TLS.
ENCRYPTING_SSL_MODES: Final = frozenset({"require", "verify-ca", "verify-full"})
#: libpq's ``gssencmode`` values (``require``: GSSAPI encryption or no connection).
GSS_ENC_MODES: Final = ("disable", "prefer", "require")
#: Query parameters whose value is a secret, masked like the password.
SECRET_PARAMETERS: Final = frozenset({"password", "sslpassword", "oauth_client_secret"})

_UNSET: Final = "leave it unset for the SQLite file beside .env"
_ENCODE: Final = (
    "percent-encode the user name and password (@ as %40, / as %2F, : as %3A, % as %25; "
    "in Python: urllib.parse.quote(password, safe=''))"
)
_SCHEME_LIKE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,19})://")
_BAD_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PORT: Final = re.compile(r"^[0-9]{1,5}$")


def _refused(field: str, message: str) -> ValidationError:
    return ValidationError([FieldProblem(field, message)])


def _scheme_problem(text: str) -> str:
    """Why ``text`` is not a PostgreSQL URL, naming at most its scheme (never anything after it)."""
    model = f"must be a PostgreSQL URL such as {EXAMPLE_URL} ({_UNSET})"
    found = _SCHEME_LIKE.match(text)
    if found is None:
        if "=" in text:
            return f"looks like a key=value connection string; {model}"
        return model
    scheme = found.group(1)
    if f"{scheme.lower()}://" in SCHEMES:
        return f"starts with {scheme}://, which libpq does not read: write {scheme.lower()}:// in lower case"
    if scheme.lower().startswith("sqlite"):
        return f"is a {scheme}:// URL, but the SQLite grant store needs no setting: {_UNSET}"
    return f"is a {scheme}:// URL; {model}"


def _decoded(raw: str, field: str, part: str) -> str:
    """``raw`` percent-decoded as libpq does (a ``%`` must start ``%XX``; ``%00`` is refused)."""
    if _BAD_PERCENT.search(raw):
        raise _refused(field, f"{part} has a % that is not followed by two hex digits: write a % as %25")
    data = unquote_to_bytes(raw)
    if b"\0" in data:
        raise _refused(field, f"{part} holds %00 (a NUL byte), which libpq refuses: remove it")
    return data.decode("utf-8", errors="replace")


class _Span(NamedTuple):
    """A secret of the URL: where it is in the URL as given (``text[start:end]``, percent-encoded as
    written), what it is called (``password`` for the user's, else its query parameter) and its value."""

    start: int
    end: int
    name: str
    value: Secret


class _Parts(NamedTuple):
    """A URL split as libpq splits it; hosts, ports and hostaddrs after the query's own."""

    hosts: tuple[str, ...]
    ports: tuple[str, ...]
    hostaddrs: tuple[str, ...]
    parameters: dict[str, str]
    secrets: tuple[_Span, ...]


class _Reader:
    """One pass over a URL, left to right, the way libpq's URI parser walks it."""

    def __init__(self, text: str, field: str) -> None:
        self.text, self.field = text, field
        self.at = next(len(s) for s in SCHEMES if text.startswith(s))
        self.secrets: list[_Span] = []

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def until(self, stops: str) -> str:
        """The text from here to the first of ``stops`` (or the end); the reader moves past it."""
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in stops:
            self.at += 1
        return self.text[start : self.at]

    def user_and_password(self) -> None:
        """``user[:password]@``, ended by the first ``@`` before any ``/``."""
        rest = self.text[self.at :]
        ends = re.search(r"[@/]", rest)
        if ends is None or ends.group() != "@":
            return
        user, colon, password = rest[: ends.start()].partition(":")
        _decoded(user, self.field, "the user name")
        if colon:
            value = _decoded(password, self.field, "the password")
            start = self.at + len(user) + 1
            if password:
                self.secrets.append(_Span(start, start + len(password), "password", Secret(value)))
        self.at += ends.end()

    def hosts(self) -> tuple[list[str], list[str]]:
        """``host[:port]``, comma-separated; a ``[...]`` host is an IPv6 address."""
        hosts: list[str] = []
        ports: list[str] = []
        while True:
            hosts.append(self.ipv6() if self.peek() == "[" else self.until(":/?,"))
            port = ""
            if self.peek() == ":":
                self.at += 1
                port = self.until("/?,")
            ports.append(port)
            if self.peek() != ",":
                return hosts, ports
            self.at += 1

    def ipv6(self) -> str:
        close = self.text.find("]", self.at)
        if close < 0:
            raise _refused(self.field, f"a host starts with [ (an IPv6 address) but has no closing ]; {_ENCODE}")
        if close == self.at + 1:
            raise _refused(self.field, "a host is an empty [] : write the IPv6 address inside the brackets")
        host = self.text[self.at + 1 : close]
        self.at = close + 1
        if self.peek() not in ("", ":", "/", "?", ","):
            raise _refused(self.field, "after an IPv6 address in [ ] comes :port, /, ? or a comma; nothing else")
        return host

    def database(self) -> str | None:
        if self.peek() != "/":
            return None
        self.at += 1
        raw = self.until("?")
        if "@" in raw or "/" in raw:
            raise _refused(self.field, f"the database name holds an unencoded @ or /; {_ENCODE}")
        return _decoded(raw, self.field, "the database name") or None

    def parameters(self) -> Iterator[tuple[str, str]]:
        """``?name=value&...``: each decoded; a secret's value recorded for masking."""
        if self.peek() != "?":
            return
        self.at += 1
        number = 0
        while self.at < len(self.text):
            number += 1
            start = self.at
            piece = self.until("&")
            if self.peek() == "&":
                self.at += 1
            raw_name, equals, raw_value = piece.partition("=")
            where = f"query parameter {number} (after the ?)"
            if not equals:
                raise _refused(self.field, f"{where} has no =; write name=value, joined by &")
            if "=" in raw_value:
                raise _refused(self.field, f"{where} has a second =; write a = inside a value as %3D")
            name = _decoded(raw_name, self.field, f"the name of {where}")
            value = _decoded(raw_value, self.field, f"the value of {where}")
            if name in SECRET_PARAMETERS and raw_value:
                value_start = start + len(raw_name) + 1
                self.secrets.append(_Span(value_start, value_start + len(raw_value), name, Secret(value)))
            yield name, value


def _split(text: str, field: str) -> _Parts:
    """``text`` (a ``postgresql://`` URL) in libpq's parts, or :class:`ValidationError`."""
    reader = _Reader(text, field)
    reader.user_and_password()
    hosts, ports = reader.hosts()
    database = reader.database()
    parameters: dict[str, str] = {}
    if database is not None:
        parameters["dbname"] = database
    joined_hosts, joined_ports = ",".join(hosts), ",".join(ports)
    if joined_hosts:
        parameters["host"] = _decoded(joined_hosts, field, "the host")
    if joined_ports.strip(","):
        parameters["port"] = _decoded(joined_ports, field, "the port")
    for name, value in reader.parameters():
        if name == "ssl":  # libpq's JDBC-style spelling, its only accepted value
            if value != "true":
                raise _refused(field, "ssl=true is the only ssl value libpq reads; write sslmode=verify-full instead")
            name, value = "sslmode", "require"
        parameters[name] = value
    return _Parts(
        hosts=tuple(parameters.get("host", "").split(",")),
        ports=tuple(parameters.get("port", "").split(",")),
        hostaddrs=tuple(parameters["hostaddr"].split(",")) if parameters.get("hostaddr") else (),
        parameters={k: v for k, v in parameters.items() if k not in SECRET_PARAMETERS},
        secrets=tuple(reader.secrets),
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}{'es' if noun.endswith('s') else 's'}"


def _check(parts: _Parts, field: str) -> None:
    """What libpq would refuse only when connecting (and might then quote): refused now."""
    for host in parts.hosts:
        if "@" in host[1:]:
            raise _refused(field, f"a host holds an @; {_ENCODE}")
    for port in parts.ports:
        if port and not (_PORT.match(port) and 1 <= int(port) <= 65535):
            raise _refused(field, f"a port is not a number from 1 to 65535; {_ENCODE}")
    hosts, ports, addresses = len(parts.hosts), len(parts.ports), len(parts.hostaddrs)
    if ports not in (1, hosts):
        raise _refused(
            field, f"it gives {_count(ports, 'port')} for {_count(hosts, 'host')}: give one, or one per host"
        )
    if addresses and addresses != hosts:
        raise _refused(
            field, f"hostaddr gives {_count(addresses, 'address')} for {_count(hosts, 'host')}: one per host"
        )
    for name, allowed, advice in (
        ("sslmode", SSL_MODES, "; verify-full also checks the server's certificate and name"),
        ("gssencmode", GSS_ENC_MODES, ""),
    ):
        if parts.parameters.get(name, allowed[0]) not in allowed:
            raise _refused(field, f"{name} must be one of {', '.join(allowed)}{advice}")


def _masked(text: str, secrets: tuple[_Span, ...]) -> str:
    for span in sorted(secrets, reverse=True):
        text = text[: span.start] + MASK + text[span.end :]
    return text


def _local_target(name: str) -> bool:
    """A host libpq reaches without the network: its default socket (no name), a unix socket folder
    (``/...``), an abstract unix socket (``@...``), or this computer's loopback address."""
    return not name or name.startswith(("/", "@")) or is_loopback(name)


class StoreUrl:
    """A PostgreSQL connection URL, checked; its ``str`` and ``repr`` are :attr:`masked`.

    Make one with :meth:`parse`. Immutable, compared and hashed by the URL as given, never pickled
    (the pickle would hold the password in clear).
    """

    __slots__ = ("_masked", "_parts", "_url")
    _url: Secret
    _masked: str
    _parts: _Parts

    def __init__(self, text: str, *, field: str = GRANTS_URL_SETTING) -> None:
        cleaned = strip_pasted(text, field)
        if not cleaned:
            raise _refused(field, f"is empty; give a PostgreSQL URL such as {EXAMPLE_URL}, or {_UNSET}")
        if not cleaned.startswith(SCHEMES):
            raise _refused(field, _scheme_problem(cleaned))
        if any(ch.isspace() for ch in cleaned):
            raise _refused(field, "contains a space or line break: write a space inside a value as %20")
        parts = _split(cleaned, field)
        _check(parts, field)
        object.__setattr__(self, "_url", Secret(cleaned))
        object.__setattr__(self, "_masked", _masked(cleaned, parts.secrets))
        object.__setattr__(self, "_parts", parts)

    @classmethod
    def parse(cls, text: str, *, field: str = GRANTS_URL_SETTING) -> StoreUrl:
        """``text`` as a :class:`StoreUrl`, or :class:`ValidationError` naming ``field``, saying what
        is wrong and what is accepted, and quoting nothing of ``text`` after its scheme."""
        return cls(text, field=field)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("StoreUrl is immutable")

    def reveal(self) -> str:
        """The URL as given (surrounding spaces and quotes trimmed): for the driver only."""
        return self._url.reveal()

    @property
    def masked(self) -> str:
        """The URL with its password and secret query values replaced by ``****``."""
        return self._masked

    @property
    def password(self) -> str | None:
        """The password libpq will send (the query's ``password=`` wins over the user's), decoded; None
        without one (libpq then reads ``~/.pgpass``). Never show it: it is here for :meth:`scrub`."""
        given = [span.value.reveal() for span in self._parts.secrets if span.name == "password"]
        return given[-1] if given else None

    def scrub(self, text: str) -> str:
        """``text`` (a driver's message) with this URL and each of its secrets, as written and decoded,
        replaced by the masked forms: libpq's messages may quote either."""
        text = text.replace(self.reveal(), self._masked)
        url = self.reveal()
        for span in self._parts.secrets:
            for form in (url[span.start : span.end], span.value.reveal()):
                if len(form) >= 3:
                    text = text.replace(form, MASK)
        return text

    @property
    def host_names(self) -> tuple[str, ...]:
        """The hosts named (the query's ``host=`` if given, else the address's), decoded; an empty
        tuple when the URL names none (libpq's default socket, or ``PGHOST``)."""
        return tuple(host for host in self._parts.hosts if host)

    @property
    def is_local(self) -> bool:
        """True when every host libpq would connect to is on this computer: a unix socket folder,
        ``localhost``, 127.0.0.0/8, ``::1`` or no host at all (a ``hostaddr`` wins over its host).
        False when only a ``service`` file would say where the server is."""
        parts = self._parts
        if not any(parts.hosts) and not parts.hostaddrs and "service" in parts.parameters:
            return False
        if parts.hostaddrs:  # libpq connects to the address, and uses the name only to check it
            return all(_local_target(a or h) for a, h in zip(parts.hostaddrs, parts.hosts, strict=True))
        return all(_local_target(host) for host in parts.hosts)

    @property
    def tls(self) -> str | None:
        """The ``sslmode`` given (``ssl=true`` reads as ``require``); None when not given: libpq's
        default, ``prefer``, uses TLS only if the server offers it and so guarantees nothing."""
        return self._parts.parameters.get("sslmode")

    @property
    def encrypted(self) -> bool:
        """True when libpq refuses an unencrypted connection: ``sslmode`` require, verify-ca or
        verify-full (or ``gssencmode=require``, GSSAPI's own encryption)."""
        return self.tls in ENCRYPTING_SSL_MODES or self._parts.parameters.get("gssencmode") == "require"

    def __str__(self) -> str:
        return self._masked

    def __repr__(self) -> str:
        return f"StoreUrl({self._masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self._masked, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StoreUrl):
            return hmac.compare_digest(self.reveal().encode(), other.reveal().encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("StoreUrl", self.reveal()))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a StoreUrl cannot be pickled")
