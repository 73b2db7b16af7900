"""The relay's logins: the files broker-config writes for mosquitto, and the demo's users."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from groundstation.contract import Role
from groundstation.errors import ConfigError
from groundstation.tools.security import UserSpec, hash_password, write_mosquitto_config
from groundstation.users import UserDirectory
from groundstation.video.auth import (
    BasicCredentials,
    DemoUsers,
    PasswordFileUsers,
    UsersFileLogins,
    may_view,
    parse_basic,
)

pytestmark = pytest.mark.unit

USERS = [
    UserSpec("alice", Role.OPERATOR, "s3cret:with:colons"),
    UserSpec("vic", Role.VIEWER, "v-pass"),
    UserSpec("dock-1", Role.DOCK, "d-pass"),
    UserSpec("ctl", Role.CONTROLLER, "c-pass"),
]


def test_password_file_users(tmp_path: Path) -> None:
    write_mosquitto_config(tmp_path, USERS, port=18830)
    users = PasswordFileUsers.from_dir(tmp_path)
    assert users.authenticate("alice", "s3cret:with:colons") == Role.OPERATOR
    assert users.authenticate("alice", "s3cret:with:colons") == Role.OPERATOR  # remembered
    assert users.authenticate("alice", "wrong") is None
    assert users.authenticate("vic", "v-pass") == Role.VIEWER
    assert users.authenticate("dock-1", "d-pass") == Role.DOCK
    assert users.authenticate("nobody", "x") is None


def test_password_file_reloads_when_rewritten(tmp_path: Path) -> None:
    write_mosquitto_config(tmp_path, USERS[1:2], port=18830)
    users = PasswordFileUsers.from_dir(tmp_path)
    assert users.authenticate("vic", "v-pass") == Role.VIEWER
    time.sleep(0.01)
    write_mosquitto_config(tmp_path, [UserSpec("vic", Role.DOCK, "new")], port=18830)
    assert users.authenticate("vic", "v-pass") is None
    assert users.authenticate("vic", "new") == Role.DOCK


def test_bad_files_say_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="passwd"):
        PasswordFileUsers(tmp_path / "passwd", tmp_path / "roles.json")
    (tmp_path / "passwd").write_text("alice:plaintext\n")
    (tmp_path / "roles.json").write_text('{"alice": "operator"}')
    with pytest.raises(ConfigError, match=r"passwd:1: expected user:\$7\$"):
        PasswordFileUsers.from_dir(tmp_path)


def test_demo_users() -> None:
    anyone = DemoUsers({"pilot": Role.OPERATOR, "viewer": Role.VIEWER})
    assert anyone.authenticate("pilot", "") == Role.OPERATOR
    assert anyone.authenticate("stranger", "") is None
    locked = DemoUsers({"pilot": Role.OPERATOR}, password="demo")
    assert locked.authenticate("pilot", "demo") == Role.OPERATOR
    assert locked.authenticate("pilot", "nope") is None


def test_roles_that_may_view() -> None:
    assert [r for r in Role if not may_view(r)] == [Role.DOCK]


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_parse_basic() -> None:
    assert parse_basic(_basic("alice:pw:x")) == BasicCredentials("alice", "pw:x")
    assert "no login" in str(parse_basic(None))
    assert "HTTP Basic" in str(parse_basic("Bearer abc"))
    assert "malformed" in str(parse_basic("Basic %%%"))
    assert "malformed" in str(parse_basic(_basic("no-colon")))


def test_the_users_file_the_broker_and_controller_share(tmp_path: Path) -> None:
    """``controller --users users.json``: the relay checks the same logins (clear or hashed)."""
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": [
        {"username": "cad1", "role": "cad", "password": "cad1-pass"},
        {"username": "pilot", "role": "operator", "password_hash": hash_password("p-pass")},
    ]}))
    logins = UsersFileLogins(UserDirectory(path))
    assert logins.authenticate("cad1", "cad1-pass") == Role.CAD
    assert logins.authenticate("cad1", "wrong") is None
    assert logins.authenticate("pilot", "p-pass") == Role.OPERATOR
    assert logins.authenticate("pilot", "cad1-pass") is None
    assert logins.authenticate("stranger", "x") is None
    directory = logins.directory
    path.write_text(json.dumps({"users": [
        {"username": "vic", "role": "viewer", "password": "v"},
    ]}))
    assert directory.reload()
    assert logins.authenticate("vic", "v") == Role.VIEWER
    assert logins.authenticate("cad1", "cad1-pass") is None  # removed from the file
