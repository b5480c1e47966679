"""Checking uploads: only images, only up to the size limit."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from civicgrid.cases.repository import Attachment
from civicgrid.core.errors import InvalidInput

# Signatures of the image formats phones and cameras produce.
SIGNATURES: list[tuple[bytes, str]] = [
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
]


@dataclass(frozen=True)
class Upload:
    filename: str
    content: bytes

    @classmethod
    def from_base64(cls, filename: str, data: str) -> Upload:
        try:
            content = base64.b64decode(data.split(",", 1)[-1], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput("attachment_bad_data", name=filename) from exc
        return cls(filename, content)


def image_type(content: bytes) -> str | None:
    for signature, content_type in SIGNATURES:
        if content.startswith(signature):
            return content_type
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_upload(upload: Upload, max_mb: float, uploaded_by: str, now: datetime) -> Attachment:
    """An Attachment ready to store, or a 422 naming the file."""
    size_mb = len(upload.content) / 1024 / 1024
    if size_mb > max_mb:
        raise InvalidInput(
            "attachment_too_large", name=upload.filename, size=f"{size_mb:.1f}", max=max_mb
        )
    content_type = image_type(upload.content)
    if content_type is None:
        raise InvalidInput("attachment_not_image", name=upload.filename)
    return Attachment(
        id=str(uuid.uuid4()),
        filename=upload.filename[:200],
        content_type=content_type,
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
        data=upload.content,
        uploaded_by=uploaded_by,
        created_at=now,
    )
