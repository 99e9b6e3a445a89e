"""The Nova lab's virt driver: Nova's fake live-migration driver made to survive restarts.

Linked into ``nova.virt`` as ``hvlab_fake`` (Nova loads drivers from ``nova.virt.*`` only) and
configured as ``compute_driver = hvlab_fake.RestartableFakeLiveMigrateDriver``.

- Node identity: stable across restarts (``compute_id`` in the compute's ``state_path``), taken
  from ``FakeDriverWithoutFakeNodes``; stock fake drivers refuse to restart.
- Guests: kept in ``<state_path>/fake_instances.json``, so a restarted compute still runs them.
- Profile: ``<state_path>/profile.json`` gives the hypervisor version and CPU the compute
  reports (the lab's reinstall writes it, then restarts the compute).
- Live migration: each one runs for ``lm_seconds`` and writes memory and disk progress to its
  migration record every ``TICK_S``, as the libvirt driver does; force-complete and abort end it
  at once. Knobs, read at the start of every migration from the lab's knob directory (the parent
  of ``state_path``, or ``HVLAB_KNOBS``): ``lm_seconds`` (default 5), ``lm_fail`` (``1`` or
  instance UUIDs, one a line: the migration ends in ``error``, the guest stays on the source),
  ``lm_stall`` (``1`` or UUIDs: progress stops at half way until force-complete or abort).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import nova.conf
from nova import exception
from nova.virt import fake

CONF = nova.conf.CONF
MIB = 1024 * 1024
TICK_S = 0.5
DEFAULT_LM_SECONDS = 5.0
DEFAULT_PROFILE = {"profile": "CPv1", "hypervisor_version": 2000000,
                   "cpu_model": "Broadwell-noTSX", "cpu_vendor": "Intel",
                   "cpu_features": ["vmx", "xsaveopt"], "vcpus": 32, "memory_mb": 65536,
                   "local_gb": 400}


def _knob_dir() -> Path:
    env = os.environ.get("HVLAB_KNOBS")
    return Path(env) if env else Path(CONF.state_path).parent


def _read(name: str) -> str | None:
    try:
        return (_knob_dir() / name).read_text().strip()
    except OSError:
        return None


def _selected(name: str, uuid: str) -> bool:
    value = _read(name)
    if not value:
        return False
    words = value.split()
    return words == ["1"] or uuid in words


def _lm_seconds() -> float:
    value = _read("lm_seconds") or os.environ.get("HVLAB_LM_SECONDS")
    try:
        return max(0.0, float(value)) if value else DEFAULT_LM_SECONDS
    except ValueError:
        return DEFAULT_LM_SECONDS


class _Migration:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome = "running"


class _SavingDict(dict[str, Any]):
    """The driver's guests; every change is written to disk."""

    def __init__(self, save: Any) -> None:
        super().__init__()
        self._save = save

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self._save()

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self._save()

    def pop(self, key: str, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._save()
        return value


class RestartableFakeLiveMigrateDriver(fake.FakeDriverWithoutFakeNodes):
    """A fake compute that keeps its identity and guests across restarts."""

    def __init__(self, virtapi: Any, read_only: bool = False) -> None:
        super().__init__(virtapi, read_only)
        self._lock = threading.RLock()
        self._loading = False
        self.instances = _SavingDict(self._save_instances)
        self._sizes: dict[str, dict[str, int]] = {}
        self.active_migrations: dict[str, _Migration] = {}
        profile = self._profile()
        self.vcpus = int(profile["vcpus"])
        self.memory_mb = int(profile["memory_mb"])
        self.local_gb = int(profile["local_gb"])
        self.resources = fake.Resources(vcpus=self.vcpus, memory_mb=self.memory_mb,
                                        local_gb=self.local_gb)

    # --- persistence ---------------------------------------------------------------------

    @property
    def _instances_file(self) -> Path:
        return Path(CONF.state_path) / "fake_instances.json"

    def _save_instances(self) -> None:
        if self._loading:
            return
        with self._lock:
            data = {uuid: {"name": i.name, "state": i.state, **self._sizes.get(uuid, {})}
                    for uuid, i in self.instances.items()}
            tmp = self._instances_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(self._instances_file)

    def init_host(self, host: str) -> None:
        super().init_host(host)
        try:
            data = json.loads(self._instances_file.read_text())
        except (OSError, ValueError):
            data = {}
        self._loading = True
        try:
            for uuid, item in data.items():
                self.instances[uuid] = fake.FakeInstance(item["name"], item["state"], uuid)
                size = {k: int(item.get(k, 0)) for k in ("vcpus", "mem", "disk")}
                self._sizes[uuid] = size
                self.resources.claim(**size)
        finally:
            self._loading = False

    def spawn(self, context: Any, instance: Any, image_meta: Any, injected_files: Any,
              admin_password: Any, allocations: Any, network_info: Any = None,
              block_device_info: Any = None, power_on: bool = True,
              accel_info: Any = None) -> None:
        flavor = instance.flavor
        self._sizes[instance.uuid] = {"vcpus": int(flavor.vcpus), "mem": int(flavor.memory_mb),
                                      "disk": int(flavor.root_gb)}
        super().spawn(context, instance, image_meta, injected_files, admin_password,
                      allocations, network_info, block_device_info, power_on, accel_info)

    def power_off(self, instance: Any, timeout: int = 0, retry_interval: int = 0) -> None:
        super().power_off(instance, timeout, retry_interval)
        self._save_instances()

    def power_on(self, context: Any, instance: Any, network_info: Any,
                 block_device_info: Any = None, accel_info: Any = None,
                 share_info: Any = None) -> None:
        super().power_on(context, instance, network_info, block_device_info, accel_info,
                         share_info)
        self._save_instances()

    # --- what the host reports -----------------------------------------------------------

    def _profile(self) -> dict[str, Any]:
        try:
            data = json.loads((Path(CONF.state_path) / "profile.json").read_text())
        except (OSError, ValueError):
            data = {}
        return {**DEFAULT_PROFILE, **data}

    def get_available_resource(self, nodename: str) -> dict[str, Any]:
        resources: dict[str, Any] = super().get_available_resource(nodename)
        if not resources:
            return resources
        profile = self._profile()
        resources["hypervisor_type"] = "QEMU"
        resources["hypervisor_version"] = int(profile["hypervisor_version"])
        resources["cpu_info"] = json.dumps({
            "arch": "x86_64", "model": profile["cpu_model"], "vendor": profile["cpu_vendor"],
            "features": list(profile["cpu_features"]),
            "topology": {"cells": 1, "sockets": 1, "cores": self.vcpus // 2, "threads": 2},
        })
        return resources

    def get_host_uptime(self) -> str:
        return " 00:00:00 up 1 day,  0:00,  0 users,  load average: 0.00, 0.00, 0.00"

    # --- live migration ------------------------------------------------------------------

    def live_migration(self, context: Any, instance: Any, dest: str, post_method: Any,
                       recover_method: Any, block_migration: bool = False,
                       migrate_data: Any = None) -> None:
        job = _Migration()
        self.active_migrations[instance.uuid] = job
        try:
            outcome = self._run(instance, job, migrate_data)
        finally:
            self.active_migrations.pop(instance.uuid, None)
        if outcome == "completed":
            post_method(context, instance, dest, block_migration, migrate_data)
        elif outcome == "cancelled":
            recover_method(context, instance, dest, migrate_data,
                           migration_status="cancelled")
        else:
            recover_method(context, instance, dest, migrate_data, migration_status="error")

    def _run(self, instance: Any, job: _Migration, migrate_data: Any) -> str:
        seconds = _lm_seconds()
        fail = _selected("lm_fail", instance.uuid)
        stall = _selected("lm_stall", instance.uuid)
        migration = getattr(migrate_data, "migration", None) if migrate_data else None
        total = int(instance.flavor.memory_mb) * MIB
        disk_total = int(instance.flavor.root_gb) * 1024 * MIB if block_migration_of(
            migrate_data) else 0
        start = time.monotonic()
        while True:
            elapsed = time.monotonic() - start
            fraction = 1.0 if seconds <= 0 else min(1.0, elapsed / seconds)
            if stall:
                fraction = min(fraction, 0.5)
            self._save_progress(migration, total, fraction, disk_total)
            if job.outcome != "running":
                return job.outcome
            if fraction >= 1.0:
                return "error" if fail else "completed"
            job.done.wait(TICK_S)

    @staticmethod
    def _save_progress(migration: Any, total: int, fraction: float, disk_total: int) -> None:
        if migration is None:
            return
        processed = int(total * fraction)
        migration.memory_total = total
        migration.memory_processed = processed
        migration.memory_remaining = total - processed
        migration.disk_total = disk_total
        migration.disk_processed = int(disk_total * fraction)
        migration.disk_remaining = disk_total - int(disk_total * fraction)
        with contextlib.suppress(exception.NovaException):
            migration.save()

    def live_migration_force_complete(self, instance: Any) -> None:
        job = self.active_migrations.get(instance.uuid)
        if job is not None:
            job.outcome = "completed"
            job.done.set()

    def live_migration_abort(self, instance: Any) -> None:
        job = self.active_migrations.get(instance.uuid)
        if job is None:
            raise exception.NoActiveMigrationForInstance(instance_id=instance.uuid)
        job.outcome = "cancelled"
        job.done.set()

    def post_live_migration(self, context: Any, instance: Any, block_device_info: Any,
                            migrate_data: Any = None) -> None:
        # on the source, once the guest runs on the destination
        self.destroy(context, instance, network_info=None,
                     block_device_info=block_device_info)

    def destroy(self, context: Any, instance: Any, network_info: Any,
                block_device_info: Any = None, destroy_disks: bool = True,
                destroy_secrets: bool = True) -> None:
        if instance.uuid in self.instances:
            super().destroy(context, instance, network_info, block_device_info,
                            destroy_disks, destroy_secrets)


def block_migration_of(migrate_data: Any) -> bool:
    return bool(getattr(migrate_data, "block_migration", False)) if migrate_data else False

