"""Real PX4 SITL (SIH quadrotor, headless) as child processes: find it, start N instances at
given homes (one per dock), stop them cleanly.

    python -m sitl.px4 --sites met-trial [--drones N] [--speed-factor F] [-- CMD ARGS...]
    groundstation px4 ...            (the same)
    scripts/px4-sitl ...             (the same, in a private network namespace when root)

Instance i (``px4 -i i``) has MAV_SYS_ID i+1 and sends its API link to 127.0.0.1:14540+i, as PX4
does: a ground station listens on ``udpin://0.0.0.0:14540+i``. PX4 is found from ``GS_PX4_HOME``
(a PX4 build folder such as ``PX4-Autopilot/build/px4_sitl_default``, a PX4-Autopilot source tree
that has been built, or a folder holding ``bin/px4`` and ``etc/`` like ../shared/px4-sitl),
else ../shared/px4-sitl next to the checkout.

PX4 keeps a lock and a socket file per instance number in /tmp. As root each instance runs in its
own mount namespace with a private /tmp (``unshare -m``), so instance numbers never collide with
other PX4 programs on the machine; the network namespace is the caller's (scripts/px4-sitl and
the test layer run in a private one, see docs/px4.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sitl.physics import Home

HOME_ENV = "GS_PX4_HOME"
API_BASE_PORT = 14540
MAX_INSTANCES = 10  # instance 10 and up all send to 14549 (PX4's rule): one vehicle per port
AIRFRAME_SIH_QUADX = "10040"
READY_LINE = "Startup script returned successfully"
FAILED_LINE = "Startup script returned with return value"
CHECKOUT = Path(__file__).resolve().parents[1]


class Px4Error(Exception):
    """PX4 SITL is missing, will not start, or was asked for something it cannot do."""


@dataclass(frozen=True, slots=True)
class Px4Install:
    """A PX4 SITL build: the ``px4`` binary, its command links and the ``etc/`` startup files."""

    root: Path
    bin_dir: Path
    etc_dir: Path

    @property
    def binary(self) -> Path:
        return self.bin_dir / "px4"

    def links_ok(self) -> bool:
        """True when every ``px4-<command>`` is a symbolic link (a copied tree may have flattened
        them into 3-byte files holding the text ``px4``; PX4's startup script cannot run those)."""
        return all(p.is_symlink() or p.name == "px4-alias.sh" for p in self.bin_dir.glob("px4-*"))


def candidates(env: Mapping[str, str] = os.environ, checkout: Path = CHECKOUT) -> list[Path]:
    """Where PX4 is looked for, in order: GS_PX4_HOME alone when set, else next to the checkout."""
    given = env.get(HOME_ENV, "").strip()
    if given:
        return [Path(given).expanduser()]
    return [checkout.parent / "shared" / "px4-sitl"]


def _layout(root: Path) -> Px4Install | None:
    for base in (root, root / "build" / "px4_sitl_default"):
        binary, rcs = base / "bin" / "px4", base / "etc" / "init.d-posix" / "rcS"
        if binary.is_file() and os.access(binary, os.X_OK) and rcs.is_file():
            return Px4Install(root, base / "bin", base / "etc")
    return None


def find_px4(env: Mapping[str, str] = os.environ, checkout: Path = CHECKOUT) -> Px4Install:
    """The PX4 SITL build to run, or Px4Error saying what was looked for and what is missing."""
    why: list[str] = []
    for root in candidates(env, checkout):
        if not root.is_dir():
            why.append(f"{root}: no such folder")
            continue
        found = _layout(root)
        if found is not None:
            return found
        why.append(
            f"{root}: neither bin/px4 (executable) with etc/init.d-posix/rcS, nor "
            "build/px4_sitl_default/ holding them"
        )
    source = f"{HOME_ENV}" if env.get(HOME_ENV, "").strip() else f"default ({HOME_ENV} unset)"
    raise Px4Error(
        f"no PX4 SITL build found ({source}): " + "; ".join(why)
        + f". Set {HOME_ENV} to a PX4 build (`make px4_sitl_default` in PX4-Autopilot) or to a "
        "folder like ../shared/px4-sitl."
    )


def cache_root(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dfr-groundstation"


def stage(install: Px4Install, cache: Path | None = None) -> Px4Install:
    """A runnable copy of ``install``: itself when its links are intact, else a private folder
    (cached by the binary's size and time) with the binary, real links and ``etc/``."""
    if install.links_ok():
        return install
    st = install.binary.stat()
    dest = (cache or cache_root()) / f"px4-{st.st_size}-{st.st_mtime_ns}"
    if _layout(dest) is not None:
        return Px4Install(install.root, dest / "bin", dest / "etc")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".px4-stage-", dir=dest.parent))
    try:
        (work / "bin").mkdir()
        shutil.copy2(install.binary, work / "bin" / "px4")
        for p in install.bin_dir.glob("px4-*"):
            if p.name.endswith(".sh") or p.stat().st_size > 64:
                shutil.copy2(p, work / "bin" / p.name)
            else:
                (work / "bin" / p.name).symlink_to("px4")
        shutil.copytree(install.etc_dir, work / "etc", symlinks=True)
        try:
            work.rename(dest)
        except OSError:  # another process staged it first
            shutil.rmtree(work, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Px4Install(install.root, dest / "bin", dest / "etc")


def can_isolate_tmp() -> bool:
    """Root with ``unshare``: each instance gets a private /tmp for PX4's lock and socket."""
    return os.geteuid() == 0 and shutil.which("unshare") is not None


def url(instance: int) -> str:
    return f"udpin://0.0.0.0:{API_BASE_PORT + instance}"


@dataclass
class Px4Instance:
    """One running PX4: instance number, home, working folder and its process."""

    instance: int
    home: Home
    workdir: Path
    proc: asyncio.subprocess.Process | None = None
    started_s: float = 0.0
    ready_s: float | None = None

    @property
    def system_id(self) -> int:
        return self.instance + 1

    @property
    def url(self) -> str:
        return url(self.instance)

    @property
    def log_path(self) -> Path:
        return self.workdir / "px4.log"

    def output(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")
        return ""


@dataclass
class Px4Fleet:
    """N PX4 SIH instances, instance ``first_instance + i`` at ``homes[i]``; an async context
    manager that waits for every startup script and stops every process on exit."""

    homes: Sequence[Home]
    install: Px4Install | None = None
    first_instance: int = 0
    speed_factor: float | None = None
    params: Mapping[str, float | int] = field(default_factory=dict)
    workdir: Path | None = None
    private_tmp: bool | None = None
    ready_timeout_s: float = 30.0
    instances: list[Px4Instance] = field(default_factory=list)
    _tmpdir: tempfile.TemporaryDirectory[str] | None = None

    def __post_init__(self) -> None:
        if not self.homes:
            raise Px4Error("no homes: nothing to start")
        last = self.first_instance + len(self.homes) - 1
        if self.first_instance < 0 or last >= MAX_INSTANCES:
            raise Px4Error(
                f"instances {self.first_instance}..{last}: PX4 gives each of 0..9 its own API port "
                f"({API_BASE_PORT}+i); from 10 on they all share {API_BASE_PORT + 9}"
            )
        if self.speed_factor is not None and not 0 < self.speed_factor <= 20:
            raise Px4Error(f"speed factor {self.speed_factor}: must be in (0, 20]")
        for name in self.params:
            if not name.replace("_", "").isalnum() or not name.isupper():
                raise Px4Error(f"parameter name {name!r}: PX4 names are upper case, A-Z 0-9 _")

    @property
    def urls(self) -> list[str]:
        return [i.url for i in self.instances]

    def environment(self, home: Home) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PX4_")}
        env.update(
            PX4_SYS_AUTOSTART=AIRFRAME_SIH_QUADX,
            PX4_SIM_MODEL="sihsim_quadx",
            PX4_SIMULATOR="sihsim",
            PX4_HOME_LAT=f"{home.lat_deg:.7f}",
            PX4_HOME_LON=f"{home.lon_deg:.7f}",
            PX4_HOME_ALT=f"{home.alt_amsl_m:.2f}",
            PX4_PARAM_SDLOG_MODE="-1",  # no ULog files
        )
        if self.speed_factor is not None and self.speed_factor != 1:
            env["PX4_SIM_SPEED_FACTOR"] = f"{self.speed_factor:g}"
        for name, value in self.params.items():
            env[f"PX4_PARAM_{name}"] = str(value)
        return env

    def argv(self, inst: Px4Instance, runtime: Px4Install, private_tmp: bool) -> list[str]:
        px4 = [str(runtime.binary), "-i", str(inst.instance), "-d", str(runtime.etc_dir)]
        # Stop PX4 if this process dies without stopping it (no orphans).
        guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
        if not private_tmp:
            return [*guard, *px4]
        # PX4 works in /tmp/work, inside the private /tmp (its paths must resolve after the mount).
        script = 'mount --bind "$1" /tmp && cd /tmp/work && shift && exec "$@" </dev/null'
        return [*guard, "unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                str(inst.workdir / "tmp"), *px4]

    async def __aenter__(self) -> Px4Fleet:
        runtime = stage(self.install or find_px4())
        private_tmp = can_isolate_tmp() if self.private_tmp is None else self.private_tmp
        if self.workdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="dfr-px4-")
            self.workdir = Path(self._tmpdir.name)
        try:
            for n, home in enumerate(self.homes):
                inst = Px4Instance(self.first_instance + n, home,
                                   self.workdir / f"px4-{self.first_instance + n}")
                shutil.rmtree(inst.workdir, ignore_errors=True)
                (inst.workdir / "tmp" / "work").mkdir(parents=True)
                self.instances.append(inst)
                with inst.log_path.open("wb") as log:
                    inst.started_s = time.monotonic()
                    inst.proc = await asyncio.create_subprocess_exec(
                        *self.argv(inst, runtime, private_tmp), cwd=inst.workdir,
                        env=self.environment(home), stdin=asyncio.subprocess.DEVNULL,
                        stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                    )
            await asyncio.gather(*(self._ready(i) for i in self.instances))
        except BaseException:
            await self.stop()
            raise
        return self

    async def _ready(self, inst: Px4Instance) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            out = inst.output()
            if READY_LINE in out:
                inst.ready_s = time.monotonic() - inst.started_s
                return
            assert inst.proc is not None
            if FAILED_LINE in out or inst.proc.returncode is not None:
                raise Px4Error(f"PX4 instance {inst.instance} did not start:\n{out[-2000:]}")
            if time.monotonic() > deadline:
                raise Px4Error(
                    f"PX4 instance {inst.instance} not ready after {self.ready_timeout_s:g} s:\n"
                    f"{out[-2000:]}"
                )
            await asyncio.sleep(0.05)

    async def stop(self, timeout_s: float = 10.0) -> list[int | None]:
        """SIGTERM every instance, wait, SIGKILL what is left; the return codes."""

        async def one(inst: Px4Instance) -> int | None:
            proc = inst.proc
            if proc is None:
                return None
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), timeout_s)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    await proc.wait()
            return proc.returncode

        codes = list(await asyncio.gather(*(one(i) for i in self.instances)))
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None
        return codes

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


# --- CLI --------------------------------------------------------------------------------------


def _param(text: str) -> tuple[str, float | int]:
    name, sep, value = text.partition("=")
    try:
        number = int(value) if value.strip().lstrip("-").isdigit() else float(value)
    except ValueError:
        number = None
    if not sep or number is None:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=NUMBER")
    return name.strip(), number


def build_parser() -> argparse.ArgumentParser:
    from sitl.__main__ import parse_home

    p = argparse.ArgumentParser(
        prog="groundstation px4", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--sites", help="site set name or JSON file: one PX4 per dock")
    where.add_argument("--home", type=parse_home, help="LAT,LON,ALT_AMSL of the first vehicle")
    p.add_argument("--drones", type=int, default=None, help="the first N docks (default: all)")
    p.add_argument("--first-instance", type=int, default=0, help="PX4 instance of the first dock")
    p.add_argument("--speed-factor", type=float, default=None,
                   help="PX4_SIM_SPEED_FACTOR: simulated seconds per wall second")
    p.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                   help="a PX4 parameter at boot (repeatable)")
    p.add_argument("--workdir", type=Path, default=None, help="working folders (default: temp)")
    p.add_argument("--docker", action="store_true", help="run PX4 in Docker containers")
    p.add_argument("--image", default=None, help="with --docker: the image (default: built)")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- CMD ARGS: run CMD with GS_PX4_URLS set, then stop PX4 (its exit code)")
    return p


def homes_for(args: argparse.Namespace) -> list[Home]:
    from sitl.__main__ import homes_from_sites, homes_in_a_row

    if args.home is not None:
        return homes_in_a_row(args.home, args.drones or 1)
    return homes_from_sites(args.sites or "met-trial", args.drones)


async def _serve(fleet: contextlib.AbstractAsyncContextManager[list[str]], command: list[str],
                 count: int, prefix: Callable[[], list[str]] = list) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with fleet as urls:
            print(f"px4-sitl: {count} PX4 instances ready, ports {API_BASE_PORT}.."
                  f"{API_BASE_PORT + count - 1}: {','.join(urls)}", flush=True)
            if not command:
                await stop.wait()
                return 0
            env = {**os.environ, "GS_PX4_URLS": ",".join(urls)}
            child = await asyncio.create_subprocess_exec(*prefix(), *command, env=env)
            waiter = asyncio.create_task(child.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                child.send_signal(signal.SIGTERM)
            stopper.cancel()
            return await waiter
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def native_fleet(fleet: Px4Fleet) -> AsyncIterator[list[str]]:
    async with fleet:
        yield fleet.urls


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    try:
        homes = homes_for(args)
        if args.docker:
            from sitl.px4_docker import DockerPx4Fleet, docker_ready

            docker_ready()
            # With a command: a private loopback shared by the containers, the command entering
            # it; without one: the host's network, for a ground station started by hand.
            docker = DockerPx4Fleet(homes, first_instance=args.first_instance,
                                    speed_factor=args.speed_factor, params=dict(args.param),
                                    image=args.image, host_network=not command)
            return asyncio.run(_serve(docker.running(), command, len(homes),
                                      docker.nsenter_prefix))
        fleet = native_fleet(Px4Fleet(
            homes, first_instance=args.first_instance, speed_factor=args.speed_factor,
            params=dict(args.param), workdir=args.workdir,
        ))
        return asyncio.run(_serve(fleet, command, len(homes)))
    except Px4Error as exc:
        print(f"px4-sitl: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
