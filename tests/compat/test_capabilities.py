"""Migration capabilities both hosts support: they gate the rungs of the migration ladder."""

from __future__ import annotations

import pytest

from hvroll.compat.ruleset import capabilities
from hvroll.domain import HostProfile
from hvroll.synthetic.presets import CPV1, CPV2, PRESETS

PUBLIC = {p.name: p for p in PRESETS["public"].profiles}
ALL = {"auto_converge", "post_copy", "migrate_uri3"}


@pytest.mark.parametrize(("source", "dest", "expected"), [
    (CPV1, CPV2, set()),                        # QEMU 2.0 / libvirt 1.2.2 on the source
    (CPV2, CPV1, set()),
    (CPV2, CPV2, ALL),                          # QEMU 2.11.1 / libvirt 4.0.0
    (PUBLIC["mitaka"], PUBLIC["mitaka"], set()),  # QEMU 2.5.0 but libvirt 1.3.1 < 1.3.3
    (PUBLIC["newton"], PUBLIC["newton"], ALL),  # QEMU 2.6.1 / libvirt 2.5.0
    (PUBLIC["newton"], PUBLIC["liberty"], set()),
])
def test_capabilities(source: HostProfile, dest: HostProfile, expected: set[str]) -> None:
    assert capabilities(source, dest) == expected


def test_strictest_bound_decides_post_copy() -> None:
    """QEMU 2.5 satisfies Nova's post-copy bound but not seed 003's (2.6)."""
    qemu25 = CPV2.model_copy(update={"name": "q25", "qemu_version": "2.5.0"})
    assert capabilities(qemu25, qemu25) == {"auto_converge", "migrate_uri3"}
