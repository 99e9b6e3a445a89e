"""Telemetry: what a campaign's state file says, for people and for monitoring.

- :mod:`.snapshot` reads the state file read-only, one consistent snapshot per call;
- :mod:`.views` computes progress, failures, distributions and the observed matrix from it;
- :mod:`.metrics` exports Prometheus metrics computed from the store on every scrape;
- :mod:`.svg` draws charts as inline SVG for the dashboard and the report;
- :mod:`hvroll.virt.iface` (re-exported here) normalizes interface RX/TX statistics by the
  reporting host's libvirt version.
"""

from hvroll.virt.iface import InterfaceStats, normalize_iface_stats

__all__ = ["InterfaceStats", "normalize_iface_stats"]
