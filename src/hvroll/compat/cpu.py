"""Guest CPU compatibility through libvirt's own CPU API and its installed ``cpu_map``.

hvroll never keeps its own copy of cpu_map: model feature lists come from libvirt
(``baselineCPU`` with ``VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES`` on an in-process
``test:///default`` connection, which needs no daemon).
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from functools import cache

from hvroll.errors import InputError

_lock = threading.Lock()


@cache
def _connection() -> object:
    try:
        import libvirt
    except ImportError:
        raise InputError("libvirt-python is not installed (expected the 'libvirt-python' "
                         "package and Debian's libvirt0; see README set-up)") from None
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt.open("test:///default")


@cache
def model_features(model: str, vendor: str = "Intel") -> frozenset[str]:
    """Every feature of a cpu_map model, as libvirt expands it."""
    import libvirt

    xml = f"<cpu><arch>x86_64</arch><model>{model}</model><vendor>{vendor}</vendor></cpu>"
    with _lock:
        try:
            out = _connection().baselineCPU(  # type: ignore[attr-defined]
                [xml], libvirt.VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES)
        except libvirt.libvirtError as exc:
            raise InputError(f"CPU model {model!r} is unknown to libvirt's cpu_map "
                             f"({exc.get_error_message()})") from None
    root = ET.fromstring(out)
    return frozenset(f.get("name", "") for f in root.iter("feature")
                     if f.get("policy", "require") == "require")
