"""Inventory files: load and validate with line-numbered errors, save, schema (generated
fleets: :mod:`hvroll.synthetic`)."""

from hvroll.inventory.document import Format
from hvroll.inventory.files import (
    Serialized,
    dump_fleet,
    fingerprint,
    fleet_data,
    fleet_schema,
    load_fleet,
    parse_fleet,
    save_fleet,
    schema_text,
    serialized,
    write_atomic,
)

__all__ = [
    "Format",
    "Serialized",
    "dump_fleet",
    "fingerprint",
    "fleet_data",
    "fleet_schema",
    "load_fleet",
    "parse_fleet",
    "save_fleet",
    "schema_text",
    "serialized",
    "write_atomic",
]
