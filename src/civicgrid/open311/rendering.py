"""Open311 answers as JSON or XML. The XML is the spec's schemaless shape (the JSON is its
Spark-convention mapping): a list becomes a wrapper element with one child per item, named
by ITEM_TAGS; booleans are `true`/`false`; a missing value is an empty element."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi.responses import Response

from civicgrid.open311.domain import FORMATS

# The element name of the items of each list.
ITEM_TAGS = {
    "services": "service",
    "attributes": "attribute",
    "values": "value",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}
# Characters XML 1.0 cannot carry (control characters other than tab and line breaks).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def render(fmt: str, root: str, data: list[Any] | dict[str, Any], status: int = 200) -> Response:
    """DATA as FMT ("json" or "xml"), with the spec's content types (UTF-8)."""
    if fmt == "xml":
        return Response(
            to_xml(root, data), status_code=status, media_type=f"{FORMATS['xml']}; charset=utf-8"
        )
    body = json.dumps(data, ensure_ascii=False)
    return Response(body, status_code=status, media_type=f"{FORMATS['json']}; charset=utf-8")


def to_xml(root: str, data: list[Any] | dict[str, Any]) -> str:
    element = Element(root)
    _fill(element, root, data)
    text = tostring(element, encoding="unicode", short_empty_elements=True)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + text


def _fill(element: Element, name: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _fill(SubElement(element, key), key, item)
    elif isinstance(value, list):
        tag = ITEM_TAGS.get(name, "item")
        for item in value:
            _fill(SubElement(element, tag), tag, item)
    elif value is None:
        return
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = _NOT_XML.sub("", str(value))
