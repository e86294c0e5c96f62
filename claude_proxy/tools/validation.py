"""Input validation against each tool's JSON schema, with errors that name the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from claude_proxy.tools.base import Tool

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_VALIDATORS: dict[type[Tool], "Draft202012Validator"] = {}


def _validator(tool_cls: type[Tool]) -> "Draft202012Validator":
    """One compiled validator per tool class; a broken schema fails loudly on first use.

    jsonschema is imported on the first tool call, not at start-up (chat -p's first request waits for it).
    """
    from jsonschema import Draft202012Validator

    validator = _VALIDATORS.get(tool_cls)
    if validator is None:
        Draft202012Validator.check_schema(tool_cls.input_schema)
        validator = _VALIDATORS[tool_cls] = Draft202012Validator(tool_cls.input_schema)
    return validator


def _field(error: ValidationError) -> str:
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: ValidationError) -> str:
    where = _field(error)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        name = f"{where}.{missing}" if where else missing
        return f"missing required field '{name}'"
    if error.validator == "additionalProperties":
        schema, instance = error.schema, error.instance
        properties = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
        extra = sorted(set(instance) - set(properties)) if isinstance(instance, Mapping) else []
        names = ", ".join(f"'{f}'" for f in extra)
        return f"unknown field{'s' if len(extra) > 1 else ''} {names}" + (f" in '{where}'" if where else "")
    if error.validator == "type":
        return f"field '{where}' must be of type {error.validator_value}, not {type(error.instance).__name__}"
    return f"field '{where or '(input)'}': {error.message}"


def validation_error(tool: Tool, tool_input: Any) -> str | None:
    """Why ``tool_input`` does not fit the tool's schema, or None when it does."""
    if not isinstance(tool_input, dict):
        return f"{tool.name}: the input must be a JSON object, not {type(tool_input).__name__}"
    errors = sorted(_validator(type(tool)).iter_errors(tool_input), key=lambda e: (list(e.absolute_path), e.validator))
    if not errors:
        return None
    reasons = "; ".join(_describe(e) for e in errors[:3])
    return f"InputValidationError: {tool.name}: {reasons}"
