"""A secured mosquitto deployment: password file, ACL per role, TLS.

``groundstation broker-config --users users.json --out DIR`` writes it from the same users file
the controller reads (``groundstation controller --users users.json``; format and reloading in
``groundstation.users``, schema in ``docs/users.schema.json``). The configuration sets
``set_tcp_nodelay true``: without it a request/reply round trip took 44 ms instead of 1.1 ms.

Roles and what the generated ACL lets each user do (``NAME`` is the user's login):

============ ================================================================================
controller   read and write everything under ``dfr/v1/``
operator     write ``operators/NAME/services``; read its ``services_reply``, drones, docks
             (osd, state, status), incidents and controllers
viewer       read drones, docks (osd, state, status), incidents and controllers; write nothing
dock         the dock whose id is NAME: write ``docks/NAME/{osd,state,status,services_reply,
             events}``, read ``docks/NAME/{services,events_reply,assignment}`` and drone
             telemetry (to sense its drone in the dock); write ``operators/NAME/services`` and
             read its ``services_reply`` (only ``dock_register``, for itself)
cad          write ``operators/NAME/services``; read its ``services_reply`` and incidents. The
             controller accepts only incident_create, incident_close and incident_get from it
             (``contract.ROLE_METHODS``)
partner-     another agency's user (``agency`` in the users file): read
viewer       ``agencies/AGENCY/#`` only, where the controller mirrors what the force shares
             with that agency (docs/partners.md); nothing else of the fleet
partner-     as partner-viewer, and write ``operators/NAME/services``, read its
dispatcher   ``services_reply`` (the controller accepts only ``incident_request`` from it)
============ ================================================================================

Operators also read ``agencies/+/requests/+`` (partners' requests waiting for a decision).

The username in ``operators/{username}/...`` is therefore the MQTT login: nobody can ask or answer
in another user's namespace. Remember that mosquitto drops a denied publish silently.

Passwords are hashed in mosquitto's own format (PBKDF2-SHA512, ``$7$``, by
``groundstation.users.hash_password``, which the video relay's login checks too), so neither
``mosquitto_passwd`` nor the clear passwords are needed on the broker host. The files are made
readable by the ``mosquitto`` user, which mosquitto switches to when started as root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from groundstation.contract import PREFIX, Role
from groundstation.errors import ConfigError
from groundstation.users import (
    PARTNER_ROLES,
    UserSpec,
    hash_password,
    load_roles,
    load_users,
    verify_password,
)

__all__ = [
    "TlsFiles", "UserSpec", "acl_rules", "acl_text", "hash_password", "load_roles", "load_users",
    "main", "parse_user", "verify_password", "write_mosquitto_config",
]

@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The broker's certificate chain and key, and the CA clients verify it with."""

    certfile: Path
    keyfile: Path
    cafile: Path


def _dfr(path: str) -> str:
    return f"{PREFIX}/{path}"


_READ_COMMON = (
    "drones/+/telemetry", "drones/+/state", "drones/+/video", "docks/+/osd", "docks/+/state",
    "docks/+/status",
    "incidents/+", "controllers/+/status", "controllers/+/events",
    "drones/+/tracking", "units/+/position", "targets/+/position",
)


def acl_rules(user: UserSpec) -> list[tuple[str, str]]:
    """The (access, topic) rules of one user: access is read, write or readwrite."""
    name = user.username
    if user.role == Role.CONTROLLER:
        return [("readwrite", _dfr("#"))]
    if user.role == Role.OPERATOR:
        return [
            ("write", _dfr(f"operators/{name}/services")),
            ("read", _dfr(f"operators/{name}/services_reply")),
            *(("read", _dfr(t)) for t in _READ_COMMON),
            ("read", _dfr("agencies/+/requests/+")),
        ]
    if user.role == Role.VIEWER:
        return [("read", _dfr(t)) for t in _READ_COMMON]
    if user.role == Role.DOCK:
        return [
            *(("write", _dfr(f"docks/{name}/{leaf}"))
              for leaf in ("osd", "state", "status", "services_reply", "events")),
            ("read", _dfr(f"docks/{name}/services")),
            ("read", _dfr(f"docks/{name}/events_reply")),
            ("read", _dfr(f"docks/{name}/assignment")),
            ("read", _dfr("drones/+/telemetry")),
            ("write", _dfr(f"operators/{name}/services")),  # dock_register (registration.py)
            ("read", _dfr(f"operators/{name}/services_reply")),
        ]
    if user.role in (Role.PARTNER_VIEWER, Role.PARTNER_DISPATCHER):
        rules = [("read", _dfr(f"agencies/{user.agency}/#"))]
        if user.role == Role.PARTNER_DISPATCHER:
            rules += [
                ("write", _dfr(f"operators/{name}/services")),
                ("read", _dfr(f"operators/{name}/services_reply")),
            ]
        return rules
    if user.role == Role.CAD:
        return [
            ("write", _dfr(f"operators/{name}/services")),
            ("read", _dfr(f"operators/{name}/services_reply")),
            ("read", _dfr("incidents/+")),
            ("read", _dfr("controllers/+/status")),
            # Ground units' AVL and moving points to follow (drone_track sources).
            ("write", _dfr("units/+/position")),
            ("write", _dfr("targets/+/position")),
        ]
    raise ConfigError(f"unknown role {user.role!r}")


def acl_text(users: Sequence[UserSpec]) -> str:
    lines = ["# generated by groundstation broker-config: one block per user, no patterns", ""]
    for user in users:
        agency = f", agency {user.agency}" if user.role in PARTNER_ROLES else ""
        lines.append(f"# role {user.role.value}{agency}")
        lines.append(f"user {user.username}")
        lines += [f"topic {access} {topic}" for access, topic in acl_rules(user)]
        lines.append("")
    return "\n".join(lines)


def _give_to_mosquitto(path: Path, mode: int) -> None:
    """Make a file readable by the broker: owned by the mosquitto user when we are root."""
    path.chmod(mode)
    if os.geteuid() == 0:
        with contextlib.suppress(KeyError, OSError):
            entry = pwd.getpwnam("mosquitto")
            os.chown(path, entry.pw_uid, entry.pw_gid)


def write_mosquitto_config(
    outdir: Path,
    users: Sequence[UserSpec],
    *,
    port: int,
    tls: TlsFiles | None = None,
    bind: str = "127.0.0.1",
) -> Path:
    """Write mosquitto.conf, passwd, acl (and the TLS files) into ``outdir``; return the conf.

    The directory is self-contained: start the broker with ``mosquitto -c outdir/mosquitto.conf``.
    ``roles.json`` maps each login to its role for the controller's per-method check.
    """
    names = [u.username for u in users]
    if len(set(names)) != len(names):
        raise ConfigError("duplicate usernames")
    if not users:
        raise ConfigError("no users: an empty password file locks everybody out")
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    outdir.chmod(0o755)
    data = outdir / "data"
    data.mkdir(exist_ok=True)
    _give_to_mosquitto(data, 0o700)

    passwd = outdir / "passwd"
    passwd.write_text(
        "".join(f"{u.username}:{u.password_hash or hash_password(u.password)}\n" for u in users),
        encoding="utf-8",
    )
    _give_to_mosquitto(passwd, 0o600)
    acl = outdir / "acl"
    acl.write_text(acl_text(users), encoding="utf-8")
    _give_to_mosquitto(acl, 0o640)
    roles = outdir / "roles.json"
    roles.write_text(json.dumps({u.username: u.role.value for u in users}, indent=2) + "\n",
                     encoding="utf-8")
    roles.chmod(0o644)

    conf = [
        "# generated by groundstation broker-config",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {passwd}",
        f"acl_file {acl}",
        "set_tcp_nodelay true",
        "persistence true",
        f"persistence_location {data}/",
        "max_queued_messages 10000",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"listener {port} {bind}",
    ]
    if tls is not None:
        copies = {}
        for kind, src in (("ca.crt", tls.cafile), ("server.crt", tls.certfile),
                          ("server.key", tls.keyfile)):
            if not src.is_file():
                raise ConfigError(f"TLS file {src} not found")
            dst = outdir / kind
            if src.resolve() != dst:
                shutil.copyfile(src, dst)
            _give_to_mosquitto(dst, 0o600 if kind == "server.key" else 0o644)
            copies[kind] = dst
        conf += [
            f"cafile {copies['ca.crt']}",
            f"certfile {copies['server.crt']}",
            f"keyfile {copies['server.key']}",
            "tls_version tlsv1.2",
            "require_certificate false",
        ]
    path = outdir / "mosquitto.conf"
    path.write_text("\n".join(conf) + "\n", encoding="utf-8")
    path.chmod(0o644)
    return path


def parse_user(text: str) -> UserSpec:
    """``NAME:ROLE:PASSWORD`` (the password may contain colons)."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ConfigError(f"--user {text.split(':', 1)[0]}: expected NAME:ROLE:PASSWORD")
    try:
        role = Role(parts[1])
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise ConfigError(f"--user {parts[0]}: role must be one of {roles}") from None
    return UserSpec(parts[0], role, parts[2])


def write_bridge(outdir: Path, spec: str, users: Sequence[UserSpec], tls: bool) -> Path:
    """``bridge-AGENCY.conf`` from ``AGENCY:USER@HOST:PORT`` (USER a partner user of AGENCY)."""
    from groundstation.control.sharing import bridge_config

    agency, _, rest = spec.partition(":")
    username, _, address = rest.partition("@")
    host, _, port = address.rpartition(":")
    if not agency or not username or not host or not port.isdigit():
        raise ConfigError(f"--bridge {spec!r}: expected AGENCY:USER@HOST:PORT")
    user = next((u for u in users if u.username == username), None)
    if user is None or user.role not in PARTNER_ROLES or user.agency != agency:
        raise ConfigError(f"--bridge {spec}: {username} is not a partner user of {agency}")
    text = bridge_config(
        agency,
        address=f"{host}:{port}",
        username=username,
        password=user.password or "CHANGE-ME (the users file holds only a hash)",
        cafile="ca.crt" if tls else None,
    )
    path = outdir / f"bridge-{agency}.conf"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def _tls_files(cert: Path | None, key: Path | None, ca: Path | None) -> TlsFiles | None:
    if cert is None and key is None and ca is None:
        return None
    if cert is None or key is None or ca is None:
        raise ConfigError("TLS needs --tls-cert, --tls-key and --tls-ca together")
    return TlsFiles(cert, key, ca)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="groundstation broker-config",
                                description="Write a secured mosquitto configuration.")
    p.add_argument("--out", required=True, type=Path, help="directory to write into")
    p.add_argument("--users", type=Path,
                   help="users.json (docs/users.schema.json): the same file the controller's "
                        "--users reads")
    p.add_argument("--user", action="append", default=[], metavar="NAME:ROLE:PASSWORD")
    p.add_argument("--port", type=int, default=None, help="listener port (1883, 8883 with TLS)")
    p.add_argument("--bind", default="127.0.0.1", help="listener address (0.0.0.0 for all)")
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument("--tls-ca", type=Path)
    p.add_argument(
        "--bridge",
        action="append",
        default=[],
        metavar="AGENCY:USER@HOST:PORT",
        help="also write bridge-AGENCY.conf: a mosquitto bridge for the partner's own broker, "
        "logging in here as USER (a partner user of AGENCY) and bringing in only what is "
        "shared with AGENCY (docs/partners.md)",
    )
    args = p.parse_args(argv)
    try:
        users = load_users(args.users) if args.users else []
        users += [parse_user(u) for u in args.user]
        tls = _tls_files(args.tls_cert, args.tls_key, args.tls_ca)
        port = args.port or (8883 if tls else 1883)
        path = write_mosquitto_config(args.out, users, port=port, tls=tls, bind=args.bind)
        for spec in args.bridge:
            print(f"wrote {write_bridge(args.out, spec, users, tls is not None)}")
    except (ConfigError, OSError, ValueError) as exc:
        print(f"broker-config: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}; start the broker with: mosquitto -c {path}")
    if args.users:
        print(f"start the controller with: groundstation controller --users {args.users} ...")
    return 0
