"""Errors raised by services. Each carries a message key (core.i18n) and its parameters, so
the API, the pages and the CLI can each show it in the reader's language."""

from __future__ import annotations

from typing import Any

from civicgrid.core.i18n import Locale, message_text, translate


class CivicGridError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message_key: str, **params: Any) -> None:
        self.message_key = message_key
        self.params = params
        super().__init__(translate(message_key, "en", params))

    def message(self, locale: Locale) -> str:
        return translate(self.message_key, locale, self.params)

    def details(self) -> dict[str, Any]:
        """What an API caller's program reads beside the message: the field that is wrong
        (as the API names it), where there is one. Never other parameters, which may hold
        what a person typed."""
        name = self.params.get("field")
        return {"field": str(name)} if isinstance(name, str) and name else {}


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
    field's name in the reader's words ("field.<name>" in any catalogue; the API's name
    where none is written), and the API's answer names the field as its program knows it."""

    def message(self, locale: Locale) -> str:
        name = str(self.params["field"])
        return f"{message_text(f'field.{name}', locale) or name}: {super().message(locale)}"


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
