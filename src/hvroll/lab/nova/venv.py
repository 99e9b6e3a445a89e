"""Nova's own virtual environment: one per release, in a shared cache, installed once.

The lab never installs OpenStack into hvroll's environment: Nova, placement and glance get a
virtual environment under ``<cache>/nova-<release>/venv`` installed with that release's
upstream constraints, so their pins never meet hvroll's. A ``ready`` file records what was
installed; a second lab of the same release reuses the environment in a second.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hvroll.errors import DriverError, InputError


@dataclass(frozen=True, slots=True)
class Release:
    """An OpenStack release the lab can run, with the versions it installs."""

    name: str
    nova: str
    placement: str
    glance: str
    constraints: str
    """A file in ``hvroll/lab/nova/constraints/``."""
    relaxed: tuple[str, ...] = ()
    """Constraint pins dropped because the release's own requirements exceed them (the master
    constraints were copied before Nova 34.0.0 was tagged)."""
    extra: tuple[str, ...] = ("gunicorn", "PyMySQL")

    def requirements(self) -> list[str]:
        return [f"nova=={self.nova}", f"openstack-placement=={self.placement}",
                f"glance=={self.glance}", *self.extra]


RELEASES: dict[str, Release] = {
    # the newest point releases of each series when its constraints were copied; control-plane
    # rehearsals start a lab on the oldest and upgrade it (docs/controlplane.md)
    "2025.1": Release(name="2025.1", nova="31.3.1", placement="13.0.1", glance="30.2.0",
                      constraints="upper-constraints-2025.1.txt"),
    "2025.2": Release(name="2025.2", nova="32.2.1", placement="14.0.0", glance="31.1.0",
                      constraints="upper-constraints-2025.2.txt"),
    "2026.1": Release(name="2026.1", nova="33.0.2", placement="15.0.0", glance="32.0.0",
                      constraints="upper-constraints-2026.1.txt"),
    "2026.2": Release(name="2026.2", nova="34.0.0", placement="16.0.0", glance="33.0.0",
                      constraints="upper-constraints-master.txt",
                      relaxed=("keystoneauth1", "oslo.versionedobjects")),
}
DEFAULT_RELEASE = "2026.2"
INSTALL_TIMEOUT_S = 1800.0


def release(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise InputError(f"unknown Nova lab release {name!r} "
                         f"(expected one of: {', '.join(RELEASES)})") from None


def constraints_text(rel: Release) -> str:
    """The release's constraints, less the relaxed pins."""
    text = resources.files("hvroll.lab.nova").joinpath("constraints", rel.constraints)
    relaxed = {r.lower() for r in rel.relaxed}
    lines = [line for line in text.read_text().splitlines()
             if line.split("===", 1)[0].strip().lower() not in relaxed]
    return "\n".join(lines) + "\n"


def fingerprint(rel: Release) -> str:
    """A short hash of what the release's environment installs (requirements and pins)."""
    blob = json.dumps([rel.requirements(), constraints_text(rel)])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def venvfiles_dir() -> Path:
    """The lab's files that run inside Nova's environment (driver, token filter, stubs)."""
    return Path(str(resources.files("hvroll.lab.nova").joinpath("venvfiles")))


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise DriverError(f"{venv}: no site-packages (a broken virtual environment)")
    return found[0]


def ensure_venv(rel: Release, cache: Path, *, log: Path) -> Path:
    """The release's virtual environment in ``cache``, installed if missing; the lab's files
    are linked into it on every call (cheap, and follows the hvroll that runs)."""
    home = cache / f"nova-{rel.name}"
    venv = home / "venv"
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the Nova lab cache {home} ({exc.strerror}): "
                         "set HVROLL_LAB_CACHE to a writable directory") from exc
    ready = home / "ready"
    want = fingerprint(rel)
    with (home / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (ready.is_file() and ready.read_text().strip() == want
                and (venv / "bin" / "nova-compute").exists()):
            _install(rel, home, venv, log)
            (home / "libvirt-ready").unlink(missing_ok=True)
            ready.write_text(want + "\n")
        _link_files(venv)
    return venv


def ensure_libvirt_binding(rel: Release, cache: Path, *, log: Path) -> None:
    """libvirt-python in the release's environment (for computes on Nova's libvirt driver),
    built once against this machine's libvirt (needs libvirt-dev and pkg-config from apt).

    A separate step with its own marker, so fake-driver labs sharing the cache never wait for
    it and an environment already installed is extended, never rebuilt."""
    home = cache / f"nova-{rel.name}"
    venv = home / "venv"
    marker = home / "libvirt-ready"
    with (home / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():
            return
        pin = [line for line in constraints_text(rel).splitlines()
               if line.lower().startswith("libvirt-python===")]
        argv = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                *(pin or ["libvirt-python"])]
        with log.open("ab") as out:
            try:
                proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, timeout=INSTALL_TIMEOUT_S,
                                      check=False)
            except subprocess.TimeoutExpired as exc:
                raise DriverError(f"installing libvirt-python into {venv} took over "
                                  f"{INSTALL_TIMEOUT_S:.0f} s (see {log})") from exc
        if proc.returncode != 0:
            raise DriverError(f"installing libvirt-python into {venv} failed (exit "
                              f"{proc.returncode}; it builds against libvirt-dev and "
                              f"pkg-config from apt; see {log})")
        marker.write_text(" ".join(pin) + "\n")


def _install(rel: Release, home: Path, venv: Path, log: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    constraints = home / "constraints.txt"
    constraints.write_text(constraints_text(rel))
    log.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        # hvroll's own interpreter may be a venv: Nova's is built from the base interpreter
        [str(Path(sys.base_prefix) / "bin" / "python3"), "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
         "-c", str(constraints), *rel.requirements()],
    ]
    with log.open("ab") as out:
        for argv in steps:
            try:
                proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, timeout=INSTALL_TIMEOUT_S,
                                      check=False)
            except subprocess.TimeoutExpired as exc:
                raise DriverError(f"installing Nova {rel.nova} took over "
                                  f"{INSTALL_TIMEOUT_S:.0f} s (see {log})") from exc
            if proc.returncode != 0:
                raise DriverError(f"installing Nova {rel.nova} into {venv} failed "
                                  f"(exit {proc.returncode}; see {log})")


def _link_files(venv: Path) -> None:
    """``nova.virt.hvlab_fake`` → the lab's driver; the other files on ``sys.path``.

    Called under the release's lock; each file is replaced atomically, so a lab already
    running from this environment never finds either missing."""
    site = site_packages(venv)
    files = venvfiles_dir()
    driver = site / "nova" / "virt" / "hvlab_fake.py"
    target = files / "hvlab_fake.py"
    if not (driver.is_symlink() and driver.resolve() == target.resolve()):
        fresh = driver.with_name(f".hvlab_fake.{os.getpid()}.{secrets.token_hex(4)}")
        fresh.unlink(missing_ok=True)
        fresh.symlink_to(target)
        fresh.replace(driver)
    pth = site / "hvlab.pth"
    if not pth.is_file() or pth.read_text().strip() != str(files):
        fresh = pth.with_name(f".hvlab.{os.getpid()}.{secrets.token_hex(4)}")
        fresh.write_text(f"{files}\n")
        fresh.replace(pth)
