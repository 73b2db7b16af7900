"""users.json: one file for the broker's logins and the controller's roles, without a broker."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from groundstation import users as u
from groundstation.contract import Role
from groundstation.errors import ConfigError
from groundstation.tools.security import hash_password, main, verify_password

pytestmark = pytest.mark.unit

DOCS = Path(__file__).parents[2] / "docs"
HASH = hash_password("cad-secret", salt=b"0123456789ab", iterations=101)


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text(json.dumps({"users": rows}))
    return path


def test_the_documented_format_loads_with_passwords_or_hashes(tmp_path: Path) -> None:
    f = write(tmp_path / "users.json", [
        {"username": "ctl-1", "role": "controller", "password": "ctl-pw"},
        {"username": "cad1", "role": "cad", "password_hash": HASH},
        {"username": "islington-1", "role": "dock", "password": "d"},
    ])
    specs = u.load_users(f)
    assert [(s.username, s.role) for s in specs] == [
        ("ctl-1", Role.CONTROLLER), ("cad1", Role.CAD), ("islington-1", Role.DOCK)]
    assert specs[1].password_hash == HASH and specs[1].password == ""


@pytest.mark.parametrize(("row", "reason"), [
    ({"username": "cad1", "password": "x"}, "needs a string role"),
    ({"username": "cad1", "role": "admin", "password": "x"}, "role must be one of"),
    ({"username": "cad1", "role": "cad"}, "password or a password_hash"),
    ({"username": "cad1", "role": "cad", "password": "x", "password_hash": HASH},
     "exactly one"),
    ({"username": "cad1", "role": "cad", "password_hash": "plain"}, "mosquitto hash"),
    ({"username": "cad/1", "role": "cad", "password": "x"}, "A-Z a-z 0-9"),
    ({"username": "cad1", "role": "cad", "password": "x", "pasword": "y"}, "unknown field"),
])
def test_a_bad_user_is_refused_with_its_name_and_reason(
    tmp_path: Path, row: dict[str, str], reason: str
) -> None:
    f = write(tmp_path / "users.json", [row])
    with pytest.raises(ConfigError, match=reason):
        u.load_users(f)


def test_duplicates_and_broken_files_are_refused(tmp_path: Path) -> None:
    row = {"username": "cad1", "role": "cad", "password": "x"}
    with pytest.raises(ConfigError, match="'cad1' appears twice"):
        u.load_users(write(tmp_path / "a.json", [row, row]))
    (tmp_path / "b.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        u.load_users(tmp_path / "b.json")
    with pytest.raises(ConfigError, match="No such file"):
        u.load_users(tmp_path / "missing.json")


def test_broker_config_writes_a_given_hash_as_it_is(tmp_path: Path) -> None:
    f = write(tmp_path / "users.json", [
        {"username": "cad1", "role": "cad", "password_hash": HASH},
        {"username": "alice", "role": "operator", "password": "alice-pw"},
    ])
    assert main(["--out", str(tmp_path / "deploy"), "--users", str(f)]) == 0
    lines = dict(line.split(":", 1) for line in
                 (tmp_path / "deploy" / "passwd").read_text().splitlines())
    assert lines["cad1"] == HASH
    assert verify_password("alice-pw", lines["alice"])
    acl = (tmp_path / "deploy" / "acl").read_text()
    assert "topic read dfr/v1/docks/+/assignment" not in acl  # docks read only their own
    conf = (tmp_path / "deploy" / "mosquitto.conf").read_text()
    assert "set_tcp_nodelay true" in conf


def test_the_directory_follows_the_file_and_keeps_the_old_table_on_a_bad_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = write(tmp_path / "users.json", [{"username": "cad1", "role": "cad", "password": "x"}])
    d = u.UserDirectory(f)
    assert d.get("cad1") == Role.CAD and d.get("cad2") is None
    write(f, [{"username": "cad2", "role": "cad", "password": "x"}])
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    monkeypatch.setattr(u, "RECHECK_S", 0.0)
    assert d.get("cad2") == Role.CAD  # reloaded on the changed modification time
    assert d.get("cad1") is None
    assert "not a user in users.json" in u.no_role_reason("cad1", d)
    f.write_text('{"users": [{"username": "x"}]}')
    assert d.reload() is False
    assert d.get("cad2") == Role.CAD and d.last_error is not None
    assert "built-in demo users" in u.no_role_reason("bob", u.DEMO_USERS)


def test_the_guides_example_logins_are_demo_users() -> None:
    assert u.DEMO_USERS["cad1"] == Role.CAD
    assert u.DEMO_USERS["pilot"] == Role.OPERATOR


def test_the_published_schema_is_the_one_the_code_makes() -> None:
    assert (DOCS / "users.schema.json").read_text() == u.schema_text()
    entry = u.schema()["$defs"]["UserEntry"]
    assert set(entry["properties"]) == {"username", "role", "password", "password_hash", "agency"}
    assert entry["properties"]["role"] == {"$ref": "#/$defs/Role"}
    assert set(u.schema()["$defs"]["Role"]["enum"]) == {r.value for r in Role}


def test_the_production_controller_refuses_to_start_without_a_users_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from groundstation.cli.controller import main as controller

    assert controller(["--sites", "met-trial", "--broker", "mqtt://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "no users file" in err and "--users users.json" in err
    assert "docs/users.schema.json" in err and "--demo-users" in err
    # The opt-in and the file exclude each other: one source of roles.
    with pytest.raises(SystemExit):
        controller(["--users", "users.json", "--demo-users"])
