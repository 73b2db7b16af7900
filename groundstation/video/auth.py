"""Who may watch: the relay's logins are the broker's logins.

An :class:`Authenticator` answers "which role has this login, if the password is right". Two
implementations:

- :class:`PasswordFileUsers`: the files ``groundstation broker-config`` writes for mosquitto, the
  password file (``user:$7$iterations$salt$hash``, PBKDF2-SHA512) and ``roles.json``. Both are
  re-read when they change on disk. A PBKDF2 check costs about 0.1 s of CPU, so the relay calls
  authenticators in a worker thread and this one remembers the logins it has verified (by a
  keyed digest, never the clear password) for as long as the file is unchanged.
- :class:`DemoUsers`: the demo's embedded broker admits anyone; its users are the controller's
  built-in role table (``pilot``, ``viewer``, ``cad``, ...). A login is accepted when the name is
  in that table (and the password matches, when the demo was given one).

Every role may view but ``dock`` (:func:`may_view`); the partner roles only the drones over an
incident shared with their agency, as a :class:`ViewGate` (``groundstation.control.sharing``) says.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from groundstation.contract import Role
from groundstation.errors import ConfigError
from groundstation.users import UserDirectory, load_roles, verify_password

__all__ = [
    "GATED_ROLES",
    "VIEWING_ROLES",
    "Authenticator",
    "BasicCredentials",
    "DemoUsers",
    "PasswordFileUsers",
    "ViewGate",
    "may_view",
    "parse_basic",
]

VIEWING_ROLES = frozenset(r for r in Role if r != Role.DOCK)
GATED_ROLES = frozenset({Role.PARTNER_VIEWER, Role.PARTNER_DISPATCHER})
"""Roles that watch only what a :class:`ViewGate` lets them, drone by drone."""


def may_view(role: Role) -> bool:
    """Every role may watch the drones' video except a dock's own login."""
    return role in VIEWING_ROLES


class Authenticator(Protocol):
    """The role of a login whose password is right, ``None`` otherwise. May block (hashing):
    the relay calls it in a worker thread, so an implementation must be thread-safe."""

    def authenticate(self, username: str, password: str) -> Role | None: ...


class ViewGate(Protocol):
    """Whether a login of a gated role may watch a drone now: None, or the reason it may not.
    Called on the event loop at each request and every second while the login watches."""

    def may_watch(self, username: str, role: Role, drone_id: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class BasicCredentials:
    username: str
    password: str


def parse_basic(header: str | None) -> BasicCredentials | str:
    """Credentials of an ``Authorization: Basic ...`` header, or the reason they are unusable."""
    if not header:
        return "no login: send HTTP Basic credentials (the broker's username and password)"
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return f"unsupported authorization scheme {scheme!r}: use HTTP Basic"
    try:
        text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "malformed Basic credentials (not base64 of UTF-8 user:password)"
    username, sep, password = text.partition(":")
    if not sep or not username:
        return "malformed Basic credentials (expected user:password)"
    return BasicCredentials(username, password)


class PasswordFileUsers:
    """Mosquitto's password file plus the ``roles.json`` broker-config writes next to it."""

    def __init__(self, passwd: Path, roles: Path) -> None:
        self.passwd = passwd
        self.roles_path = roles
        self._lock = threading.Lock()
        self._stamp: tuple[float, float] | None = None
        self._hashes: dict[str, str] = {}
        self._roles: dict[str, Role] = {}
        self._verified: dict[str, bytes] = {}
        self._key = secrets.token_bytes(32)
        self._load()

    @classmethod
    def from_dir(cls, directory: Path) -> PasswordFileUsers:
        """The ``--out`` directory of ``groundstation broker-config``."""
        return cls(directory / "passwd", directory / "roles.json")

    def _load(self) -> None:
        try:
            stamp = (self.passwd.stat().st_mtime, self.roles_path.stat().st_mtime)
        except OSError as exc:
            raise ConfigError(f"video logins: {exc}") from exc
        if stamp == self._stamp:
            return
        hashes: dict[str, str] = {}
        for n, line in enumerate(self.passwd.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            name, sep, encoded = line.partition(":")
            if not sep or not encoded.startswith("$7$"):
                raise ConfigError(f"{self.passwd}:{n}: expected user:$7$... (PBKDF2-SHA512)")
            hashes[name] = encoded.strip()
        self._hashes, self._roles = hashes, load_roles(self.roles_path)
        self._verified.clear()
        self._stamp = stamp

    def _digest(self, username: str, password: str) -> bytes:
        return hmac.new(self._key, f"{username}\0{password}".encode(), hashlib.sha256).digest()

    def authenticate(self, username: str, password: str) -> Role | None:
        with self._lock:
            self._load()
            encoded = self._hashes.get(username)
            role = self._roles.get(username)
            known = self._verified.get(username)
        if encoded is None or role is None:
            return None
        digest = self._digest(username, password)
        if known is not None and hmac.compare_digest(known, digest):
            return role
        if not verify_password(password, encoded):
            return None
        with self._lock:
            self._verified[username] = digest
        return role


class UsersFileLogins:
    """The users file the broker and the controller share (``--users``, groundstation.users):
    a clear password or a mosquitto ``$7$`` hash per user, re-read when the file changes."""

    def __init__(self, directory: UserDirectory) -> None:
        self.directory = directory

    def authenticate(self, username: str, password: str) -> Role | None:
        spec = self.directory.spec(username)
        if spec is None:
            return None
        if spec.password:
            ok = secrets.compare_digest(password.encode(), spec.password.encode())
        else:
            ok = verify_password(password, spec.password_hash)
        return spec.role if ok else None


class DemoUsers:
    """The demo's logins: a name -> role table (the controller's built-in ``roles``) and, when
    given, one shared password. The demo's embedded broker admits anyone, so does this without
    a password: it is for the demo on loopback, never a deployment."""

    def __init__(self, roles: Mapping[str, Role], password: str | None = None) -> None:
        self.roles = dict(roles)
        self.password = password

    def authenticate(self, username: str, password: str) -> Role | None:
        role = self.roles.get(username)
        if role is None:
            return None
        if self.password is not None and not secrets.compare_digest(
            password.encode(), self.password.encode()
        ):
            return None
        return role


def _implementations() -> tuple[type[Authenticator], ...]:
    """Both logins satisfy the Protocol (checked by mypy)."""
    return (PasswordFileUsers, UsersFileLogins, DemoUsers)
