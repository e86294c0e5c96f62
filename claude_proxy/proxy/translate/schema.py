"""Tool input schemas made acceptable to providers that reject some JSON-schema keywords.

Stripping walks the schema structurally: under ``properties`` (and the other maps of
named sub-schemas) the keys are property names, not keywords, so a property called
``format`` survives while the ``format`` keyword is removed.
"""

from __future__ import annotations

from typing import Any, Iterable

# Keywords whose value is a map from names to sub-schemas.
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
# Keywords whose value is one sub-schema (or, for some, a boolean).
_SCHEMA_ONE = (
    "items", "additionalProperties", "additionalItems", "not", "if", "then", "else", "contains",
    "propertyNames", "unevaluatedProperties", "unevaluatedItems",
)
# Keywords whose value is a list of sub-schemas.
_SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems", "items")


def strip_keywords(schema: Any, keywords: Iterable[str]) -> Any:
    """A copy of ``schema`` without ``keywords`` at any schema level; the input is untouched."""
    drop = frozenset(keywords)
    if not drop:
        return schema
    return _strip(schema, drop)


def _strip(schema: Any, drop: frozenset[str]) -> Any:
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in drop:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _strip(sub, drop) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_strip(sub, drop) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = _strip(value, drop)
        else:
            out[key] = value
    return out
