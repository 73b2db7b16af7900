"""Users and roles from one file: ``users.json``, read by ``groundstation broker-config --users``
(the broker's password file and ACL) and by ``groundstation controller --users`` (who may call
which operator method). One file, so the broker and the controller never disagree on a login.

The format (JSON Schema: ``docs/users.schema.json``)::

    {"users": [
      {"username": "ctl-1",       "role": "controller", "password": "change-me"},
      {"username": "cad1",        "role": "cad",        "password_hash": "$7$101000$...$..."},
      {"username": "islington-1", "role": "dock",       "password": "..."},
      {"username": "alice",       "role": "operator",   "password": "..."},
      {"username": "lfb-control", "role": "partner-viewer", "agency": "lfb", "password": "..."}
    ]}

Each user has a ``username`` (1-64 of ``A-Z a-z 0-9 _ . -``; a dock's username is its dock id),
a ``role`` (controller, operator, viewer, dock, cad, partner-viewer, partner-dispatcher) and
either a clear ``password`` or a ``password_hash`` in mosquitto's own format (``$7$``
PBKDF2-SHA512 or ``$6$`` SHA512, as ``mosquitto_passwd`` writes). A bare list of users is
accepted too.

Agencies (docs/partners.md): every user belongs to an ``agency`` (``a-z 0-9 _ -``, 1-32). The
file's top-level ``agency`` is the force's own (default ``met``) and a user without one is the
force's. The partner roles belong to another agency (``lfb``, ``las``, ``npas``, ``btp``, ...)
and see only what the force shares with that agency; the force's roles belong to the force.

The controller reads only usernames and roles: :class:`UserDirectory` is a live mapping
username -> role that reloads the file when it changes (its modification time, looked at no more
than once a second) or on :meth:`UserDirectory.reload` (the controller calls it on SIGHUP). A file
that fails to load keeps the previous table and the error is logged.

``groundstation controller`` refuses to start without ``--users``, unless given the explicit
``--demo-users``: then it has the built-in demo users (:data:`DEMO_USERS`), meant for the demo,
the soak and tests only (in-process, ``ControllerConfig``'s default).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

from groundstation.contract import Role, valid_id
from groundstation.errors import ConfigError

log = logging.getLogger(__name__)

DEMO_USERS: Mapping[str, Role] = {
    "pilot": Role.OPERATOR,
    "pilot2": Role.OPERATOR,
    "dispatcher": Role.OPERATOR,
    "console": Role.OPERATOR,
    "demo": Role.OPERATOR,
    "cad": Role.CAD,
    "cad1": Role.CAD,
    "viewer": Role.VIEWER,
}
"""The controller's users when it is given no ``--users`` file: for the demo and the lab only."""

HASH_PREFIXES = ("$7$", "$6$")
RECHECK_S = 1.0
_FIELDS = frozenset({"username", "role", "password", "password_hash", "agency"})
DEFAULT_AGENCY = "met"
"""The force's own agency when the users file does not name one."""
PARTNER_ROLES = frozenset({Role.PARTNER_VIEWER, Role.PARTNER_DISPATCHER})
_AGENCY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
PBKDF2_ITERATIONS = 101_000
_SALT_BYTES = 12


@dataclass(frozen=True, slots=True)
class UserSpec:
    """One broker login and its role, with a clear password or a mosquitto password hash."""

    username: str
    role: Role
    password: str = ""
    password_hash: str = ""
    agency: str = DEFAULT_AGENCY
    """The user's agency: the force's own, or a partner's for the partner roles."""

    def __post_init__(self) -> None:
        if not valid_id(self.username):
            raise ConfigError(f"username {self.username!r}: use 1-64 of A-Z a-z 0-9 _ . -")
        if not _AGENCY.match(self.agency):
            raise ConfigError(
                f"user {self.username}: agency {self.agency!r}: use 1-32 of a-z 0-9 _ -"
            )
        if bool(self.password) == bool(self.password_hash):
            raise ConfigError(
                f"user {self.username}: give a password or a password_hash (exactly one)"
            )
        if self.password_hash and (
            not self.password_hash.startswith(HASH_PREFIXES) or self.password_hash.count("$") < 3
        ):
            raise ConfigError(
                f"user {self.username}: password_hash must be a mosquitto hash ($7$... or $6$...)"
            )


class UserEntry(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One login: a username, its role, and a password or a mosquitto password hash."""

    username: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    role: Role
    password: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    password_hash: Annotated[str, msgspec.Meta(pattern=r"^\$[67]\$")] | None = None
    agency: Annotated[str, msgspec.Meta(pattern=_AGENCY.pattern)] | None = None
    """The user's agency (default: the file's ``agency``); the partner roles need another one."""


class UsersFile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Users and roles of a deployment: read by broker-config --users and controller --users."""

    users: list[UserEntry]
    agency: Annotated[str, msgspec.Meta(pattern=_AGENCY.pattern)] = DEFAULT_AGENCY
    """The force's own agency."""
    description: str = ""
    schema_uri: str | None = msgspec.field(default=None, name="$schema")


def schema() -> dict[str, Any]:
    """The JSON Schema of ``users.json`` (``docs/users.schema.json``)."""
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "DFR ground station users",
    }
    out.update(msgspec.json.schema(UsersFile))
    out["$defs"]["UserEntry"]["oneOf"] = [
        {"required": ["password"]},
        {"required": ["password_hash"]},
    ]
    return out


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def parse_users(raw: Any, where: str = "users") -> list[UserSpec]:
    """Users from the decoded JSON of a users file; ConfigError names the user and the field."""
    if isinstance(raw, dict):
        extra = set(raw) - {"users", "$schema", "description", "agency"}
        if extra:
            raise ConfigError(f"{where}: unknown top-level field(s) {', '.join(sorted(extra))}")
        force = force_agency(raw, where)
        raw = raw.get("users")
    else:
        force = DEFAULT_AGENCY
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: expected {{\"users\": [...]}} or a list of users")
    users: list[UserSpec] = []
    seen: set[str] = set()
    roles = ", ".join(r.value for r in Role)
    for n, item in enumerate(raw):
        label = f"{where}: user #{n}"
        if not isinstance(item, dict):
            raise ConfigError(f"{label}: expected an object")
        name = item.get("username")
        if isinstance(name, str):
            label = f"{where}: user {name!r}"
        unknown = set(item) - _FIELDS
        if unknown:
            raise ConfigError(f"{label}: unknown field(s) {', '.join(sorted(unknown))}")
        for key in ("username", "role"):
            if not isinstance(item.get(key), str):
                raise ConfigError(f"{label}: needs a string {key}")
        for key in ("password", "password_hash", "agency"):
            if key in item and not isinstance(item[key], str):
                raise ConfigError(f"{label}: {key} must be a string")
        try:
            role = Role(item["role"])
        except ValueError:
            raise ConfigError(f"{label}: role must be one of {roles}") from None
        try:
            user = UserSpec(
                item["username"],
                role,
                item.get("password", ""),
                item.get("password_hash", ""),
                item.get("agency", force),
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        partner = user.role in PARTNER_ROLES
        if partner and user.agency == force:
            raise ConfigError(
                f"{label}: role {role} is for another agency's users: give it its agency "
                f"(e.g. lfb, las), not the force's own {force!r}"
            )
        if not partner and user.agency != force:
            raise ConfigError(
                f"{label}: role {role} belongs to the force ({force}); a user of "
                f"{user.agency!r} gets partner-viewer or partner-dispatcher"
            )
        if user.username in seen:
            raise ConfigError(f"{where}: user {user.username!r} appears twice")
        seen.add(user.username)
        users.append(user)
    return users


def force_agency(raw: Any, where: str = "users") -> str:
    """The force's own agency from a users file's decoded JSON (``agency``, default met)."""
    agency = raw.get("agency", DEFAULT_AGENCY) if isinstance(raw, dict) else DEFAULT_AGENCY
    if not isinstance(agency, str) or not _AGENCY.match(agency):
        raise ConfigError(f"{where}: agency {agency!r}: use 1-32 of a-z 0-9 _ -")
    return agency


def read_users_json(path: Path) -> Any:
    """The decoded JSON of a users file (ConfigError with the reason when unreadable)."""
    """Read and check a users file (see the module docstring for the format)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    return raw


def load_users(path: Path) -> list[UserSpec]:
    """Read and check a users file (see the module docstring for the format)."""
    return parse_users(read_users_json(path), str(path))


def roles_of(users: Sequence[UserSpec]) -> dict[str, Role]:
    return {u.username: u.role for u in users}


def hash_password(password: str, *, salt: bytes | None = None,
                  iterations: int = PBKDF2_ITERATIONS) -> str:
    """A password hash as mosquitto 2 stores it: ``$7$iterations$salt$hash`` (PBKDF2-SHA512)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    parts = encoded.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    return secrets.compare_digest(hash_password(password, salt=salt, iterations=int(parts[2])),
                                  encoded)


def load_roles(path: Path) -> dict[str, Role]:
    """The ``roles.json`` that ``broker-config`` writes next to the broker's configuration:
    login -> role."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected an object of username: role")
    try:
        return {str(k): Role(v) for k, v in raw.items()}
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


class UserDirectory(Mapping[str, Role]):
    """username -> role, from a users file that may change while the controller runs.

    A :class:`~collections.abc.Mapping`, so it stands where a fixed table of roles stood
    (``ControllerConfig.roles``). Lookups reload the file when its modification time changed
    (looked at no more than once every :data:`RECHECK_S`); :meth:`reload` forces it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.force_agency = force_agency(read_users_json(path), str(path))
        self._users = load_users(path)
        self._roles: dict[str, Role] = roles_of(self._users)
        self._mtime_ns = self._stat()
        self._checked = time.monotonic()
        self.reloads = 0
        self.last_error: str | None = None

    def _stat(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def reload(self) -> bool:
        """Read the file again. False (and the old table kept) when it fails to load."""
        self._checked = time.monotonic()
        mtime = self._stat()
        try:
            raw = read_users_json(self.path)
            force = force_agency(raw, str(self.path))
            users = parse_users(raw, str(self.path))
        except ConfigError as exc:
            self.last_error = str(exc)
            self._mtime_ns = mtime  # do not retry a broken file on every lookup
            log.warning("users file not reloaded, the previous users stay: %s", exc)
            return False
        roles = roles_of(users)
        added = sorted(set(roles) - set(self._roles))
        removed = sorted(set(self._roles) - set(roles))
        self._users, self._roles, self._mtime_ns, self.last_error = users, roles, mtime, None
        self.force_agency = force
        self.reloads += 1
        log.info(
            "users reloaded from %s: %d users (added %s, removed %s)",
            self.path,
            len(roles),
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
        )
        return True

    def spec(self, username: str) -> UserSpec | None:
        """The user's entry as the file has it now (reloaded when it changed)."""
        self._maybe_reload()
        return next((u for u in self._users if u.username == username), None)

    def agency_of(self, username: str) -> str | None:
        """The user's agency as the file has it now (None: not a user)."""
        spec = self.spec(username)
        return spec.agency if spec is not None else None

    def partner_agencies(self) -> frozenset[str]:
        """The agencies with at least one partner user in the file now."""
        self._maybe_reload()
        return frozenset(u.agency for u in self._users if u.role in PARTNER_ROLES)

    def password(self, username: str) -> str | None:
        """The clear password of a user, if the file has one (the controller's own login)."""
        spec = next((u for u in self._users if u.username == username), None)
        return spec.password or None if spec is not None else None

    def _maybe_reload(self) -> None:
        if time.monotonic() - self._checked < RECHECK_S:
            return
        self._checked = time.monotonic()
        if self._stat() != self._mtime_ns:
            self.reload()

    def __getitem__(self, username: str) -> Role:
        self._maybe_reload()
        return self._roles[username]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._roles))

    def __len__(self) -> int:
        return len(self._roles)

    def __repr__(self) -> str:
        return f"UserDirectory({str(self.path)!r}, {len(self._roles)} users)"


def no_role_reason(username: str, roles: Mapping[str, Role]) -> str:
    """Why a login may call nothing, in words the caller can act on."""
    if isinstance(roles, UserDirectory):
        return (
            f"{username!r} has no role on this controller: not a user in {roles.path.name} "
            "(add it with a role, then the controller reloads the file)"
        )
    return (
        f"{username!r} has no role on this controller: it runs with the built-in demo users "
        f"({', '.join(sorted(roles))}); a deployment gives it --users users.json"
    )
