"""The field-ownership mapping: model, loader, validation against the source."""

from split.mapping.load import load_mapping, parse_mapping
from split.mapping.model import (
    Affiliate,
    AllRows,
    ColumnRule,
    Destination,
    Follow,
    Mapping,
    NoRows,
    Own,
    Partitioning,
    Scope,
    TableRule,
    Wave,
)
from split.mapping.validate import validate_against_source

__all__ = [
    "Affiliate",
    "AllRows",
    "ColumnRule",
    "Destination",
    "Follow",
    "Mapping",
    "NoRows",
    "Own",
    "Partitioning",
    "Scope",
    "TableRule",
    "Wave",
    "load_mapping",
    "parse_mapping",
    "validate_against_source",
]
