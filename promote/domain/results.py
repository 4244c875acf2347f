"""How results become plain data (JSON output, evidence, events): one helper for every type.

`to_data` turns a dataclass into a dict of its fields, recursively. A field's `metadata` may
rename it (`renamed("secret_version_id")`), leave it out (`HIDDEN`) or merge its mapping into
the parent (`FLATTEN`); a class may add computed
values by naming properties in `DATA_PROPERTIES`. A plan step (anything with `describe()`)
becomes its one-line description. Datetimes become ISO strings and paths strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

HIDDEN: Mapping[str, Any] = {"key": None}
FLATTEN: Mapping[str, Any] = {"flatten": True}


def renamed(name: str) -> Mapping[str, Any]:
    """Field metadata: serialise this field under NAME."""
    return {"key": name}


def to_data(value: Any) -> Any:
    """VALUE as JSON-ready data (dicts, lists, strings, numbers, booleans, None)."""
    describe = getattr(value, "describe", None)
    if callable(describe) and dataclasses.is_dataclass(value):
        return describe()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for item in dataclasses.fields(value):
            name = item.metadata.get("key", item.name)
            if item.metadata.get("flatten"):
                out.update(to_data(getattr(value, item.name)))
            elif name is not None:
                out[name] = to_data(getattr(value, item.name))
        extra = getattr(value, "DATA_PROPERTIES", ())
        for name, attribute in (
            extra.items() if isinstance(extra, Mapping) else zip(extra, extra, strict=True)
        ):
            out[name] = to_data(getattr(value, attribute))
        return out
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_data(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value
