"""Share links to the browser view, the pure rules and the link book: expiry, PIN, viewer cap,
revocation, what ends a link, and the audit trail (a real journal)."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from pathlib import Path

import pytest

from groundstation import contract as c
from groundstation.adapters.journal import Journal
from groundstation.cli.controller import web_config_from_args
from groundstation.core import weblink_rules as rules
from groundstation.errors import ConfigError, Refused
from groundstation.web.links import LinkBook

pytestmark = pytest.mark.unit

R = rules.Refusal


def incident(status: c.IncidentStatus = c.IncidentStatus.ON_SCENE) -> c.Incident:
    return c.Incident(incident_id="inc-1", status=status, lat_deg=51.5, lon_deg=-0.1,
                      priority=1, created_ms=0)


def link(*, pin: str | None = None, agency: str | None = "lfb", cap: int = 2) -> rules.Link:
    return rules.Link(
        link_id="lnk-1", incident_id="inc-1", token_sha256=rules.token_digest("t"),
        created_by="alice", created_ms=0, expires_ms=60_000, reason="LFB asked",
        max_viewers=cap, agency=agency,
        pin_sha256=rules.pin_digest("lnk-1", pin) if pin else None,
    )


def opens(
    lk: rules.Link | None,
    *,
    now_ms: int = 1000,
    state: rules.LinkState | None = None,
    inc: c.Incident | None = None,
    shared: Collection[str] = ("lfb",),
    viewers: int = 0,
    pin: str | None = None,
) -> rules.Refusal | None:
    return rules.open_refusal(lk, state or rules.LinkState(), now_ms,
                              incident=inc or incident(), shared_with=shared, viewers=viewers,
                              pin=pin)


def test_a_valid_link_opens_until_its_cap() -> None:
    assert opens(link()) is None
    assert opens(link(), viewers=1) is None
    assert opens(link(), viewers=2) == R.FULL


def test_expiry_revocation_closing_and_unsharing_end_a_link() -> None:
    assert opens(link(), now_ms=60_000) == R.EXPIRED
    assert opens(link(), state=rules.LinkState(revoked_ms=5, revoked_by="bob")) == R.REVOKED
    assert opens(link(), inc=incident(c.IncidentStatus.CLOSED)) == R.CLOSED
    assert opens(link(), shared=()) == R.UNSHARED
    assert opens(link(agency=None), shared=()) is None  # the force's own decision
    assert opens(None) == R.UNKNOWN


def test_the_pin_is_asked_checked_and_locks_after_five_wrong_ones() -> None:
    lk = link(pin="482913")
    assert opens(lk) == R.PIN_REQUIRED
    assert opens(lk, pin="000000") == R.WRONG_PIN
    assert opens(lk, pin="482913") is None
    assert opens(lk, pin="482913", state=rules.LinkState(wrong_pins=5)) == R.LOCKED
    # an expired link does not tell whether the PIN was right; a wrong PIN does not learn the cap
    assert opens(lk, pin="000000", now_ms=70_000) == R.EXPIRED
    assert opens(lk, pin="000000", viewers=2) == R.WRONG_PIN


def test_a_link_is_made_only_for_an_open_incident_shared_with_its_agency() -> None:
    def refusal(**kw: object) -> tuple[c.Result, str] | None:
        args: dict[str, object] = {"agency": "lfb", "shared_with": ("lfb",), "expires_s": 600,
                                   "max_viewers": 5} | kw
        inc = args.pop("inc", incident())
        return rules.create_refusal(inc, "inc-1", **args)  # type: ignore[arg-type]

    assert refusal() is None
    assert refusal(agency=None, shared_with=()) is None
    not_shared = refusal(shared_with=("las",))
    assert not_shared is not None and not_shared[0] == c.Result.INVALID_STATE
    assert "not shared with lfb" in not_shared[1]
    assert refusal(inc=None) == (c.Result.UNKNOWN_INCIDENT, "unknown incident 'inc-1'")
    closed = refusal(inc=incident(c.IncidentStatus.CLOSED))
    assert closed is not None and closed[0] == c.Result.INVALID_STATE
    for bad in ({"expires_s": 10}, {"expires_s": 2 * 86_400}, {"max_viewers": 0},
                {"max_viewers": 51}):
        out = refusal(**bad)
        assert out is not None and out[0] == c.Result.OUT_OF_RANGE, bad


def test_tokens_are_unguessable_and_never_stored() -> None:
    tokens = {rules.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 32 for t in tokens)


class Facts:
    def __init__(self) -> None:
        self.record: c.Incident | None = incident()
        self.shared: tuple[str, ...] = ("lfb",)

    def incident(self, incident_id: str) -> c.Incident | None:
        return self.record

    def shared_with(self, incident_id: str) -> Collection[str]:
        return self.shared


def test_the_link_book_counts_viewers_and_audits_each_step(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    facts = Facts()
    now = [1_000_000]
    book = LinkBook(facts, journal, now_ms=lambda: now[0])
    made = book.create("alice", "inc-1", reason="LFB asked", expires_s=600, max_viewers=1,
                       agency="lfb", pin=True)
    assert made.pin is not None and len(made.pin) == 6
    assert made.token not in repr(book.links) and made.pin not in repr(book.links)
    assert book.open(made.token, None, "10.0.0.9")[1] == R.PIN_REQUIRED
    assert book.open(made.token, made.pin, "10.0.0.9")[1] is None
    assert book.open(made.token, made.pin, "10.0.0.8")[1] == R.FULL
    book.close(made.link, "10.0.0.9", None)
    assert book.open(made.token, made.pin, "10.0.0.8")[1] is None
    facts.shared = ()
    assert book.still_valid(made.link) == R.UNSHARED
    facts.shared = ("lfb",)
    book.revoke("bob", made.link.link_id, "LFB left")
    assert book.peek(made.token)[1] == R.REVOKED
    with pytest.raises(Refused, match="already revoked by bob"):
        book.revoke("bob", made.link.link_id, "again")
    with pytest.raises(Refused, match="no share link"):
        book.revoke("bob", "lnk-nope", "typo")
    with pytest.raises(Refused, match="not shared with las"):
        book.create("alice", "inc-1", reason="x", expires_s=600, max_viewers=1, agency="las",
                    pin=False)
    events = [(e[2], e[3]) for e in journal.events()]
    codes = [code for code, _ in events]
    assert codes == ["share_link_created", "share_link_opened", "share_link_refused",
                     "share_link_closed", "share_link_opened", "share_link_revoked"]
    assert "alice made share link" in events[0][1] and "LFB asked" in events[0][1]
    assert "bob revoked" in events[-1][1] and "LFB left" in events[-1][1]
    assert all(made.token not in m and made.pin not in m for _, m in events)
    now[0] += 601_000
    book2 = LinkBook(facts, journal, now_ms=lambda: now[0])
    assert book2.peek(made.token)[1] == R.UNKNOWN  # links do not outlive the process
    journal.close()


def test_the_browser_view_is_https_off_loopback() -> None:
    def args(listen: str | None, cert: str | None = None, key: str | None = None) -> object:
        return argparse.Namespace(web_listen=listen, web_cert=cert, web_key=key,
                                  web_public_host=None)

    assert web_config_from_args(args(None)) is None  # type: ignore[arg-type]
    local = web_config_from_args(args("127.0.0.1:0"))  # type: ignore[arg-type]
    assert local is not None and local.cert_file is None
    with pytest.raises(ConfigError, match="needs --web-cert and --web-key"):
        web_config_from_args(args("0.0.0.0:8443"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="go together"):
        web_config_from_args(args("0.0.0.0:8443", cert="a.crt"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        web_config_from_args(args("8443"))  # type: ignore[arg-type]
    tls = web_config_from_args(args("[::]:8443", "a.crt", "a.key"))  # type: ignore[arg-type]
    assert tls is not None and (tls.host, tls.port, tls.cert_file) == ("::", 8443, "a.crt")
