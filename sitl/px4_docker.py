"""PX4 SITL in Docker, behind the same interface as sitl.px4 (``scripts/px4-sitl --docker``).

The image is built here from the PX4 build sitl.px4 finds (GS_PX4_HOME or ../shared/px4-sitl),
staged with its links intact, on ``debian:bookworm-slim`` (sitl/docker/Dockerfile.prebuilt).
With no image registry that base is made once with debootstrap and ``docker import`` (cached as
a tarball). ``sitl/docker/Dockerfile.source`` builds PX4 from source instead.

Networking: the first container gets a private loopback (``--network none``), the others join it
(``--network container:``), so PX4's fixed ports meet nothing else; a command given to
scripts/px4-sitl runs on the host inside that network namespace (``nsenter -n``, root). With
``host_network`` (no command) the containers use the host's network, as PX4's own images do.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sitl.physics import Home
from sitl.px4 import (
    AIRFRAME_SIH_QUADX,
    READY_LINE,
    Px4Error,
    Px4Install,
    cache_root,
    find_px4,
    stage,
    url,
)

DOCKER_DIR = Path(__file__).resolve().parent / "docker"
BASE_IMAGE = "debian:bookworm-slim"
IMAGE_REPO = "dfr/px4-sitl"
DEBIAN_MIRROR = "http://deb.debian.org/debian"


def run(argv: Sequence[str], *, timeout_s: float = 600, check: bool = True,
        stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """One docker (or helper) command; Px4Error with its output when it fails."""
    try:
        done = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=timeout_s,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Px4Error(f"{argv[0]}: {exc}") from exc
    if check and done.returncode != 0:
        raise Px4Error(f"{' '.join(argv[:3])} ... failed ({done.returncode}): "
                       f"{done.stderr.decode(errors='replace')[-1500:]}")
    return done


def docker_ready() -> None:
    if shutil.which("docker") is None:
        raise Px4Error("no docker client: install Debian's docker.io")
    done = run(["docker", "info"], timeout_s=20, check=False)
    if done.returncode != 0:
        raise Px4Error("`docker info` does not answer: start the engine (`dockerd &` as root "
                       "where there is no init system) and wait for `docker info`")


def image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag], check=False).returncode == 0


def mirror() -> str:
    """The Debian mirror of this machine's apt sources (deb.debian.org when none is found)."""
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        with contextlib.suppress(OSError):
            for line in path.read_text().splitlines():
                words = line.split()
                if words[:1] == ["deb"] and len(words) > 1 and "security" not in line:
                    return next(w for w in words[1:] if w.startswith("http"))
                if words[:1] == ["URIs:"] and len(words) > 1 and "security" not in words[1]:
                    return words[1]
    return DEBIAN_MIRROR


def ensure_base_image(cache: Path | None = None) -> None:
    """``debian:bookworm-slim``: already there, else imported from a cached debootstrap tarball,
    else made with debootstrap (minbase, about a minute) and cached."""
    if image_exists(BASE_IMAGE):
        return
    tarball = (cache or cache_root()) / "debian-bookworm-minbase.tar"
    if not tarball.exists():
        if shutil.which("debootstrap") is None:
            raise Px4Error(f"no {BASE_IMAGE} image and no debootstrap to make one "
                           "(Debian package debootstrap; or `docker pull` where a registry is "
                           "reachable)")
        tarball.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="dfr-rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror()],
                timeout_s=1200)
            part = tarball.with_suffix(".part")
            run(["tar", "-C", str(rootfs), "-cf", str(part), "."], timeout_s=300)
            part.rename(tarball)
    with tarball.open("rb") as f:
        run(["docker", "import", "-", BASE_IMAGE], stdin=f.read(), timeout_s=300)


def image_tag(runtime: Px4Install) -> str:
    """One tag per PX4 binary and entrypoint, so a new build gets a new image."""
    h = hashlib.sha256()
    st = runtime.binary.stat()
    h.update(f"{st.st_size}-{st.st_mtime_ns}".encode())
    h.update((DOCKER_DIR / "px4-entrypoint").read_bytes())
    h.update((DOCKER_DIR / "Dockerfile.prebuilt").read_bytes())
    return f"{IMAGE_REPO}:prebuilt-{h.hexdigest()[:12]}"


def build_prebuilt_image(install: Px4Install | None = None) -> str:
    """The PX4 image from a prebuilt PX4 folder (cached by tag); its tag."""
    docker_ready()
    runtime = stage(install or find_px4())
    tag = image_tag(runtime)
    if image_exists(tag):
        return tag
    ensure_base_image()
    with tempfile.TemporaryDirectory(prefix="dfr-px4-image-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(runtime.bin_dir, ctx / "bin", symlinks=True)
        shutil.copytree(runtime.etc_dir, ctx / "etc", symlinks=False)
        shutil.copy2(DOCKER_DIR / "px4-entrypoint", ctx / "px4-entrypoint")
        run(["docker", "build", "-q", "-f", str(DOCKER_DIR / "Dockerfile.prebuilt"), "-t", tag,
             str(ctx)], timeout_s=900)
    return tag


@dataclass
class DockerPx4Fleet:
    """N PX4 containers, instance ``first_instance + i`` at ``homes[i]``."""

    homes: Sequence[Home]
    first_instance: int = 0
    speed_factor: float | None = None
    params: Mapping[str, float | int] = field(default_factory=dict)
    image: str | None = None
    host_network: bool = False
    ready_timeout_s: float = 60.0
    names: list[str] = field(default_factory=list)

    def env_args(self, instance: int, home: Home) -> list[str]:
        env = {
            "PX4_INSTANCE": str(instance),
            "PX4_SYS_AUTOSTART": AIRFRAME_SIH_QUADX,
            "PX4_HOME_LAT": f"{home.lat_deg:.7f}",
            "PX4_HOME_LON": f"{home.lon_deg:.7f}",
            "PX4_HOME_ALT": f"{home.alt_amsl_m:.2f}",
            **{f"PX4_PARAM_{k}": str(v) for k, v in self.params.items()},
        }
        if self.speed_factor is not None and self.speed_factor != 1:
            env["PX4_SIM_SPEED_FACTOR"] = f"{self.speed_factor:g}"
        return [a for k, v in env.items() for a in ("-e", f"{k}={v}")]

    def netns_pid(self) -> int:
        """The process whose network namespace the containers share (for ``nsenter -n``)."""
        done = run(["docker", "inspect", "-f", "{{.State.Pid}}", self.names[0]])
        return int(done.stdout.decode().strip())

    async def start(self) -> list[str]:
        image: str = self.image if self.image else await asyncio.to_thread(build_prebuilt_image)
        tag = f"dfr-px4-{os.getpid()}-{int(time.time())}"
        for n, home in enumerate(self.homes):
            instance = self.first_instance + n
            name = f"{tag}-{instance}"
            if self.host_network:
                net = "host"
            else:
                net = "none" if n == 0 else f"container:{self.names[0]}"
            await asyncio.to_thread(run, [
                "docker", "run", "-d", "--rm", "--init", "--name", name, "--network", net,
                "--stop-timeout", "10", *self.env_args(instance, home), image,
            ])
            self.names.append(name)
        await asyncio.gather(*(self._ready(n) for n in self.names))
        return [url(self.first_instance + n) for n in range(len(self.homes))]

    async def _ready(self, name: str) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            done = await asyncio.to_thread(run, ["docker", "logs", name], check=False)
            out = (done.stdout + done.stderr).decode(errors="replace")
            if READY_LINE in out:
                return
            if done.returncode != 0 or time.monotonic() > deadline:
                raise Px4Error(f"PX4 container {name} did not start:\n{out[-2000:]}")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """SIGTERM (docker stop: then SIGKILL after 10 s); --rm removes the containers."""
        if self.names:
            await asyncio.to_thread(run, ["docker", "stop", *reversed(self.names)],
                                    check=False, timeout_s=60)
            self.names.clear()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[list[str]]:
        """The containers for the block; the URLs. A command the caller runs must enter the
        containers' network namespace (``nsenter_prefix``) unless ``host_network``."""
        try:
            yield await self.start()
        finally:
            await self.stop()

    def nsenter_prefix(self) -> list[str]:
        if self.host_network:
            return []
        return ["nsenter", "-t", str(self.netns_pid()), "-n", "--"]


GROUNDSTATION_TAG = "dfr/groundstation:latest"
CHECKOUT = Path(__file__).resolve().parents[1]


def build_groundstation_image(tag: str = GROUNDSTATION_TAG) -> str:
    """The ground-station image (controller, docks, mosquitto) from this checkout's packages."""
    docker_ready()
    ensure_base_image()
    with tempfile.TemporaryDirectory(prefix="dfr-gs-image-") as tmp:
        ctx = Path(tmp)
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(CHECKOUT / name, ctx / name)
        (ctx / "extra-ca").mkdir()
        for crt in Path("/usr/local/share/ca-certificates").glob("*.crt"):
            shutil.copy2(crt, ctx / "extra-ca" / crt.name)
        for pkg in ("groundstation", "missions", "sitl", "bench"):
            shutil.copytree(CHECKOUT / pkg, ctx / pkg,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        run(["docker", "build", "-q", "-f", str(DOCKER_DIR / "Dockerfile.groundstation"), "-t",
             tag, str(ctx)], timeout_s=3600)
    return tag


def tag_latest(install: Px4Install | None = None) -> str:
    """Build the PX4 image and tag it dfr/px4-sitl:latest (what the compose files name)."""
    tag = build_prebuilt_image(install)
    run(["docker", "tag", tag, f"{IMAGE_REPO}:latest"])
    return f"{IMAGE_REPO}:latest"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sitl.px4_docker px4|groundstation``: build an image; print its tag."""
    import sys

    what = list(sys.argv[1:] if argv is None else argv)
    try:
        if what == ["px4"]:
            print(tag_latest())
        elif what == ["groundstation"]:
            print(build_groundstation_image())
        else:
            print("usage: python -m sitl.px4_docker px4|groundstation", file=sys.stderr)
            return 2
    except Px4Error as exc:
        print(f"px4_docker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
