"""The configuration writer, without a broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from groundstation.contract import Role
from groundstation.errors import ConfigError
from groundstation.tools.security import (
    UserSpec,
    acl_rules,
    hash_password,
    load_roles,
    main,
    parse_user,
    verify_password,
)

pytestmark = pytest.mark.unit


def test_password_hash_is_mosquitto_pbkdf2_sha512() -> None:
    encoded = hash_password("secret", salt=b"0123456789ab", iterations=101)
    assert encoded.startswith("$7$101$MDEyMzQ1Njc4OWFi$")
    assert verify_password("secret", encoded)
    assert not verify_password("Secret", encoded)
    # Made by Debian's mosquitto_passwd 2.0.11 for alice / secret:
    theirs = ("$7$101$mCVOdbtEAso9dCtc$ChaOVy7OuBwcvM9D6eFnFC2OakFi9smVvTUcHYXFRvYnBfeVQkohO4jo"
              "P33qcdmBaQd5LMfYR/ujPcSY+b68lA==")
    assert verify_password("secret", theirs)


def test_acl_keeps_each_user_in_its_own_namespace() -> None:
    alice = {t: a for a, t in acl_rules(UserSpec("alice", Role.OPERATOR, "x"))}
    assert alice["dfr/v1/operators/alice/services"] == "write"
    assert not any("operators/bob" in t or t.endswith("#") for t in alice)
    dock = acl_rules(UserSpec("alpha-1", Role.DOCK, "x"))
    assert all("docks/alpha-1/" in t or "operators/alpha-1/" in t
               or t == "dfr/v1/drones/+/telemetry" for _, t in dock)
    assert all(a == "read" for a, _ in acl_rules(UserSpec("v", Role.VIEWER, "x")))
    cad = acl_rules(UserSpec("cad1", Role.CAD, "x"))
    assert [t for a, t in cad if a != "read"] == [
        "dfr/v1/operators/cad1/services", "dfr/v1/units/+/position", "dfr/v1/targets/+/position"]


def test_parse_user_and_bad_input() -> None:
    assert parse_user("cad1:cad:pa:ss") == UserSpec("cad1", Role.CAD, "pa:ss")
    for bad in ("alice:operator", "alice:admin:x", "al/ice:operator:x", "alice:operator:"):
        with pytest.raises(ConfigError):
            parse_user(bad)


def test_cli_writes_a_self_contained_deployment(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    users.write_text(json.dumps([{"username": "ctl", "role": "controller", "password": "p"}]))
    out = tmp_path / "deploy"
    assert main(["--out", str(out), "--users", str(users), "--user", "alice:operator:pw",
                 "--port", "18883"]) == 0
    conf = (out / "mosquitto.conf").read_text()
    assert "allow_anonymous false" in conf
    assert "set_tcp_nodelay true" in conf
    assert "listener 18883 127.0.0.1" in conf
    assert [line.split(":")[0] for line in (out / "passwd").read_text().splitlines()] == [
        "ctl", "alice"]
    assert load_roles(out / "roles.json") == {"ctl": Role.CONTROLLER, "alice": Role.OPERATOR}
    assert main(["--out", str(out), "--user", "x:operator:p", "--tls-cert", "c"]) == 2
