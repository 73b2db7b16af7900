"""A real mosquitto running the configuration ``groundstation.tools.security`` writes."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from groundstation.adapters.broker import free_port


@pytest.fixture
def deploy_dir() -> Iterator[Path]:
    """A directory the ``mosquitto`` user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dfr-security-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def certs() -> Iterator[Path]:
    """A throwaway CA and a server certificate for localhost / 127.0.0.1 (EC P-256, 1 day)."""
    path = Path(tempfile.mkdtemp(prefix="dfr-certs-"))
    path.chmod(0o755)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=path, check=True, capture_output=True)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
        "-subj", "/CN=dfr test CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (path / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "1", "-extfile", "san.ext")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
