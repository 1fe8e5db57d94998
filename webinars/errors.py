"""Domain errors: raised by services, turned into 4xx pages and JSON at the web edge."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    """The request is valid but the state forbids it (full, closed, cancelled, duplicate)."""

    status_code = 409

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class ValidationFailed(DomainError):
    """Input is wrong; `fields` maps each offending field to its reason."""

    status_code = 422

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields
