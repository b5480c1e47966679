"""Open311 shapes: the spec's answers as plain dicts (rendered as JSON or XML by
open311.rendering), and the attribute list of the administrators' API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from civicgrid.cases.domain import POINT_DECIMALS, Category, is_about_a_person, scrub
from civicgrid.core.i18n import Locale, translate
from civicgrid.core.types import DB_INT_MAX
from civicgrid.open311.domain import (
    FORMATS,
    SPECIFICATION,
    Datatype,
    ErrorItem,
    RequestRecord,
    ServiceAttribute,
    public_status,
    service_notice,
    status_notes,
    w3c,
)
from civicgrid.open311.services import PublicRequest, Service

# ------------------------------------------------------------------ the spec's answers


def name_of(category: Category, locale: Locale) -> str:
    return (category.name_en if locale == "en" else "") or category.name


def service_out(service: Service, locale: Locale) -> dict[str, Any]:
    category = service.category
    return {
        "service_code": category.code,
        "service_name": name_of(category, locale),
        "description": category.description or None,
        "metadata": bool(service.attributes),
        "type": "realtime",  # a request is a case with its number at once
        "keywords": ", ".join(category.keywords.split()) or None,
        "group": name_of(service.group, locale) if service.group else None,
    }


def definition_out(service: Service, locale: Locale) -> dict[str, Any]:
    return {
        "service_code": service.category.code,
        "attributes": [attribute_out(a, locale) for a in service.attributes],
    }


def attribute_out(attribute: ServiceAttribute, locale: Locale) -> dict[str, Any]:
    return {
        "variable": attribute.variable,
        "code": attribute.code,
        "datatype": attribute.datatype.value,
        "required": attribute.required,
        "datatype_description": attribute.describe_datatype(locale) or None,
        "order": attribute.order,
        "description": attribute.describe(locale),
        "values": [
            {"key": option["key"], "name": attribute.option_name(option, locale)}
            for option in attribute.values
        ],
    }


def receipt_out(record: RequestRecord, notice: str, account_id: str) -> dict[str, Any]:
    """The answer to a POST: the request number, as the case exists at once. GeoReport v2
    answers with service_request_id or, when the number comes later, a token, never both:
    a client given both may follow the token and never read the number."""
    return {
        "service_request_id": str(record.case_id),
        "service_notice": notice,
        "account_id": account_id or None,
    }


def token_out(record: RequestRecord) -> dict[str, Any]:
    return {"service_request_id": str(record.case_id), "token": record.token}


def request_out(request: PublicRequest, locale: Locale) -> dict[str, Any]:
    """A case as the spec's request. Nothing about who reported it is ever part of this;
    nor, when she asked to stay anonymous to the public, her words and the address she
    typed (the point still places the problem). A case about a person (cases.domain's
    rule, as on the transparency page) shows neither, and its point only to about 100 m;
    other words are published without e-mails, long numbers and house numbers."""
    case, record = request.case, request.record
    group = request.category.parent_code if request.category else None
    about_a_person = is_about_a_person(case.category_code, group)
    hidden = case.reporter_hidden or about_a_person
    lat, lon = case.lat, case.lon
    if about_a_person and lat is not None and lon is not None:
        lat, lon = round(lat, POINT_DECIMALS), round(lon, POINT_DECIMALS)
    return {
        "service_request_id": str(case.id),
        "status": public_status(case.status).value,
        "status_notes": status_notes(case),
        "service_name": name_of(request.category, locale) if request.category else None,
        "service_code": case.category_code,
        "description": None if hidden else scrub(case.description) or None,
        "agency_responsible": request.unit_name,
        "service_notice": service_notice(request.unit_name, locale) if case.is_open else None,
        "requested_datetime": w3c(case.created_at),
        "updated_datetime": w3c(request.updated_at),
        "expected_datetime": w3c(request.expected_at) if request.expected_at else None,
        "address": None if hidden else case.address or None,
        "address_id": (record.address_id if record else "") or None,
        "zipcode": (record.zipcode if record else "") or None,
        "lat": lat,
        "long": lon,
        "media_url": (record.media_url if record else "") or None,
    }


def discovery_out(base_url: str, changed_at: datetime | None, locale: Locale) -> dict[str, Any]:
    """The discovery document: one production GeoReport v2 endpoint, in XML and JSON."""
    changeset = w3c(changed_at) if changed_at else "2013-01-01T00:00:00+00:00"
    return {
        "changeset": changeset,
        "contact": translate("open311.contact", locale),
        "key_service": translate("open311.key_service", locale),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base_url.rstrip('/')}/open311/v2",
                "changeset": changeset,
                "type": "production",
                "formats": [FORMATS["xml"], FORMATS["json"]],
            }
        ],
    }


def errors_out(items: list[ErrorItem]) -> list[dict[str, Any]]:
    return [{"code": item.code, "description": item.description} for item in items]


# ------------------------------------------------------------------ the administrators' API


class OptionIn(BaseModel):
    key: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field(default="", max_length=200)


class AttributeIn(BaseModel):
    service_code: str = Field(min_length=1, max_length=32, description="a level-2 category")
    code: str = Field(min_length=1, max_length=64)
    order: int = Field(
        ge=1, le=DB_INT_MAX, description="position in the form; unique within the service"
    )
    datatype: Datatype
    required: bool = False
    variable: bool = Field(default=True, description="false: only informs, asks nothing")
    description: str = Field(min_length=1, description="the question, in Chinese")
    description_en: str = ""
    datatype_description: str = ""
    datatype_description_en: str = ""
    values: list[OptionIn] = Field(
        default_factory=list, description="options of singlevaluelist and multivaluelist"
    )

    def to_attribute(self) -> ServiceAttribute:
        return ServiceAttribute(
            service_code=self.service_code,
            code=self.code,
            datatype=self.datatype,
            order=self.order,
            description=self.description,
            description_en=self.description_en,
            datatype_description=self.datatype_description,
            datatype_description_en=self.datatype_description_en,
            required=self.required,
            variable=self.variable,
            values=[option.model_dump() for option in self.values],
        )

    @classmethod
    def of(cls, attribute: ServiceAttribute) -> AttributeIn:
        return cls(
            service_code=attribute.service_code,
            code=attribute.code,
            order=attribute.order,
            datatype=attribute.datatype,
            required=attribute.required,
            variable=attribute.variable,
            description=attribute.description,
            description_en=attribute.description_en,
            datatype_description=attribute.datatype_description,
            datatype_description_en=attribute.datatype_description_en,
            values=[OptionIn(**option) for option in attribute.values],
        )
