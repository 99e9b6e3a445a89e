"""Version strings as distributions write them, compared by their upstream version.

A host profile records the QEMU and libvirt versions its packages report, which are rarely
plain upstream numbers: RHEL writes ``3.2.0-14.el7_4.9`` (upstream ``-`` release, dist tag),
``qemu-kvm-ev`` ``10:2.9.0-16.el7_4.8.1`` (epoch ``N:``), Debian and Ubuntu
``1:2.11+dfsg-1ubuntu7.23`` (epoch, ``+`` repack suffix, ``-`` revision) and
``2.12.0~rc1-1`` (``~`` sorts before the release). Version bounds in rules and facts are
upstream versions, so hvroll compares :func:`upstream_version` of the string and keeps the
string as written (inventory round trips, reports).

Worked examples::

    upstream_version("3.2.0-14.el7_4.9")         == Version("3.2.0")
    upstream_version("10:2.9.0-16.el7_4.8.1")     == Version("2.9.0")
    upstream_version("1:2.11+dfsg-1ubuntu7.23")   == Version("2.11")
    upstream_version("2.12.0~rc1-1")              == Version("2.12.0rc1")
    upstream_version("4.0.0")                     == Version("4.0.0")
"""

from __future__ import annotations

import re
from functools import cache

from packaging.version import Version

__all__ = ["upstream_version"]

_EPOCH = re.compile(r"^\d+:")
_UPSTREAM = re.compile(r"^v?(\d+(?:\.\d+)*)(?:~?((?:rc|alpha|beta|a|b|pre)\d*))?", re.I)


@cache
def upstream_version(raw: str) -> Version:
    """The upstream version in a distribution's version string (epoch, packaging revision,
    dist tag and repack suffix dropped; ``~rc1`` kept as a pre-release).

    Raises :class:`ValueError` with the expected form when no version number leads the string.
    """
    text = _EPOCH.sub("", raw.strip())
    match = _UPSTREAM.match(text)
    rest = text[match.end():] if match else text
    if match is None or (rest and rest[0] not in "-+~"):
        raise ValueError(f"expected a version such as 2.11.1 or a distribution's "
                         f"3.2.0-14.el7_4.9, got {raw!r}")
    return Version(match.group(1) + (match.group(2) or ""))
