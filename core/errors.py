"""Error types shared by every package.

Two kinds of error (STYLE §3): a peer's bad input is expected and becomes a ``ValidationError`` or a
protocol-specific error that the adapter counts and answers; a bug of ours is any other exception.
``ConfigError`` stops start-up with one line naming the file, the key and what was expected.
"""

from __future__ import annotations

from typing import ClassVar


class EmwError(Exception):
    """Base class of the platform's own expected errors."""


class ValidationError(EmwError, ValueError):
    """A value outside its contract: the message names the field, the unit and the expected range."""

    def __init__(self, field: str, value: object, expected: str, unit: str = "") -> None:
        self.field = field
        self.value = value
        self.expected = expected
        self.unit = unit
        unit_txt = f" {unit}" if unit else ""
        super().__init__(f"{field}={value!r}{unit_txt}: expected {expected}")


class ConfigError(EmwError):
    """A configuration file or setting is missing or invalid."""

    def __init__(self, file: str, key: str, expected: str) -> None:
        self.file = file
        self.key = key
        self.expected = expected
        super().__init__(f"{file}: {key}: expected {expected}")


class RequestError(EmwError):
    """A request refused with an HTTP-like status (400 malformed, 404 unknown, 409 conflict: stale
    version or action not allowed, 422 invalid value). The API answers it; the CLI exits 2."""

    CODES: ClassVar[dict[int, str]] = {
        400: "bad_request",
        403: "forbidden",
        404: "not_found",
        409: "conflict",
        422: "invalid",
    }

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or self.CODES.get(status, "error")

    def body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}
