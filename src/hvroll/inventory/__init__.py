"""Inventory files: load and validate with line-numbered errors, save, schema (generated
fleets: :mod:`hvroll.synthetic`)."""

from hvroll.inventory.document import Format
from hvroll.inventory.files import (
    dump_fleet,
    fingerprint,
    fleet_data,
    fleet_schema,
    load_fleet,
    parse_fleet,
    save_fleet,
    schema_text,
    write_atomic,
)

__all__ = [
    "Format",
    "dump_fleet",
    "fingerprint",
    "fleet_data",
    "fleet_schema",
    "load_fleet",
    "parse_fleet",
    "save_fleet",
    "schema_text",
    "write_atomic",
]
