"""Errors raised by services. Each carries a message key (core.i18n) and its parameters, so
the API, the pages and the CLI can each show it in the reader's language."""

from __future__ import annotations

from typing import Any

from civicgrid.core.i18n import Locale, translate


class CivicGridError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message_key: str, **params: Any) -> None:
        self.message_key = message_key
        self.params = params
        super().__init__(translate(message_key, "en", params))

    def message(self, locale: Locale) -> str:
        return translate(self.message_key, locale, self.params)


class InvalidInput(CivicGridError):
    status = 422
    code = "invalid"


class InvalidFields(InvalidInput):
    """Several fields of one form are wrong at once; each problem names its field (the
    `field` parameter), so a page can show every one beside its input."""

    def __init__(self, problems: list[CivicGridError]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.message_key, **first.params)

    def message(self, locale: Locale) -> str:
        return "; ".join(p.message(locale) for p in self.problems)


class FieldProblem(InvalidInput):
    """A wrong value of one field (the `field` parameter): the message starts with the
    field's name, so an API caller knows where, as a form shows it beside the field."""

    def message(self, locale: Locale) -> str:
        return f"{self.params['field']}: {super().message(locale)}"


class NotAuthenticated(CivicGridError):
    status = 401
    code = "not_authenticated"


class Forbidden(CivicGridError):
    status = 403
    code = "forbidden"


class NotFound(CivicGridError):
    status = 404
    code = "not_found"


class Conflict(CivicGridError):
    status = 409
    code = "conflict"
