"""Where a table lives: a filesystem or object-store path, or a catalog name.

A leaf (pydantic only), so that configuration and the Delta layer share it without importing
each other.
"""

from __future__ import annotations

import os
import posixpath
import re

from pydantic import BaseModel, ConfigDict, model_validator

# A catalog identifier: up to three dot-separated parts (catalog.schema.table), each a plain
# SQL name. Anything else is refused so a table name from config can never inject SQL.
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


class TableRef(BaseModel):
    """Where a table lives: a filesystem/object-store ``path`` or a catalog ``name``, not both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TableRef:
        if (self.path is None) == (self.name is None):
            raise ValueError("give exactly one of 'path' or 'name'")
        if self.name is not None and not _IDENTIFIER.match(self.name):
            raise ValueError(f"invalid table name {self.name!r}")
        return self

    def __str__(self) -> str:
        return self.path if self.path is not None else f"table {self.name}"


def is_uri(path: str) -> bool:
    return "://" in path


def normalise_path(path: str) -> str:
    """A table path in one spelling: ``..``, ``.``, repeated and trailing slashes removed
    (after the scheme of a URI too), so one table never shows up under two addresses."""
    if is_uri(path):
        scheme, _, rest = path.partition("://")
        authority, slash, tail = rest.partition("/")
        if not slash:
            return path
        return f"{scheme}://{authority}/{posixpath.normpath('/' + tail).lstrip('/')}"
    return os.path.normpath(path)
