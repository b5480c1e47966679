"""Checking uploads: only images, only up to the size limit, only files that really are
what their first bytes say (the structure of each format is read through, and a PNG's
pixels are inflated); and, for reporters who asked to stay anonymous to the public, without
the location their phone wrote into the photo (EXIF GPS, XMP).

Pure Python on purpose: no image library to install, and nothing here draws pixels."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import uuid
import zlib
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


def check_upload(
    upload: Upload,
    max_mb: float,
    uploaded_by: str,
    now: datetime,
    *,
    strip_location: bool = False,
) -> Attachment:
    """An Attachment ready to store, or a 422 naming the file (field `photos`). With
    STRIP_LOCATION the photo is stored without the place it was taken."""
    size_mb = len(upload.content) / 1024 / 1024
    if size_mb > max_mb:
        raise InvalidInput(
            "attachment_too_large",
            name=upload.filename,
            size=f"{size_mb:.1f}",
            max=max_mb,
            field="photos",
        )
    content_type = image_type(upload.content)
    if content_type is None:
        raise InvalidInput("attachment_not_image", name=upload.filename, field="photos")
    try:
        content = READERS[content_type](upload.content, strip_location)
    except (ValueError, IndexError, struct.error, zlib.error) as exc:
        raise InvalidInput("attachment_broken", name=upload.filename, field="photos") from exc
    return Attachment(
        id=str(uuid.uuid4()),
        filename=upload.filename[:200],
        content_type=content_type,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        data=content,
        uploaded_by=uploaded_by,
        created_at=now,
    )


# ------------------------------------------------------------------ reading each format
# Each reader walks the file's structure, raises ValueError where it does not hold, and
# answers the content, without location metadata when asked.

XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
GPS_IFD_TAG = 0x8825


def read_jpeg(content: bytes, strip_location: bool) -> bytes:
    """Segments up to the scan must parse, a frame header must give a size, and the image
    must end (EOI). Stripping drops XMP and empties the EXIF GPS directory, keeping the
    rest of EXIF (the orientation that makes a phone photo stand upright)."""
    out = bytearray(content[:2])
    pos, sized = 2, False
    while True:
        if content[pos] != 0xFF:
            raise ValueError("no marker")
        marker = content[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9 or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            raise ValueError("no scan")
        (length,) = struct.unpack(">H", content[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(content):
            raise ValueError("segment past the end")
        segment = content[pos : pos + 2 + length]
        payload = segment[4:]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE):
            height, width = struct.unpack(">HH", payload[1:5])
            sized = width > 0 and height > 0
        if marker == 0xDA:  # start of scan: entropy-coded data follows, up to EOI
            if not sized:
                raise ValueError("no frame size")
            if content.rfind(b"\xff\xd9") <= pos:
                raise ValueError("no end of image")
            out += content[pos:]
            return bytes(out)
        if strip_location and marker == 0xE1:
            if payload.startswith(XMP_JPEG):
                pos += 2 + length
                continue
            if payload.startswith(b"Exif\x00\x00"):
                segment = segment[:10] + _without_gps(payload[6:])
        out += segment
        pos += 2 + length


def _without_gps(tiff: bytes) -> bytes:
    """The EXIF (TIFF) block with its GPS directory emptied and its values zeroed."""
    data = bytearray(tiff)
    order = {b"II": "<", b"MM": ">"}.get(bytes(data[:2]))
    if order is None:
        raise ValueError("bad EXIF byte order")
    (ifd0,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd0 : ifd0 + 2])
    for n in range(count):
        entry = ifd0 + 2 + 12 * n
        tag, _, _, gps = struct.unpack(order + "HHII", data[entry : entry + 12])
        if tag != GPS_IFD_TAG:
            continue
        (entries,) = struct.unpack(order + "H", data[gps : gps + 2])
        sizes = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}
        for m in range(entries):
            at = gps + 2 + 12 * m
            _, kind, number, value = struct.unpack(order + "HHII", data[at : at + 12])
            size = sizes.get(kind, 1) * number
            if size > 4 and value + size <= len(data):
                data[value : value + size] = bytes(size)  # a value stored elsewhere
            data[at : at + 12] = bytes(12)
        data[gps : gps + 2] = struct.pack(order + "H", 0)
    return bytes(data)


def read_png(content: bytes, strip_location: bool) -> bytes:
    """Every chunk's checksum must hold, IHDR must come first with a size, the pixels must
    inflate, and IEND must close it. Stripping drops eXIf and XMP text chunks."""
    out = bytearray(content[:8])
    pos, pixels = 8, bytearray()
    kinds: list[bytes] = []
    while pos < len(content):
        (length,) = struct.unpack(">I", content[pos : pos + 4])
        kind = content[pos + 4 : pos + 8]
        data = content[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", content[pos + 8 + length : pos + 12 + length])
        if len(data) != length or zlib.crc32(kind + data) != crc:
            raise ValueError("bad chunk")
        kinds.append(kind)
        if kind == b"IDAT":
            pixels += data
        dropped = kind == b"eXIf" or (kind == b"iTXt" and data.startswith(b"XML:com.adobe.xmp"))
        if not (strip_location and dropped):
            out += content[pos : pos + 12 + length]
        pos += 12 + length
        if kind == b"IEND":
            break
    if not kinds or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or b"IDAT" not in kinds:
        raise ValueError("chunks out of order")
    width, height = struct.unpack(">II", content[16:24])
    if not width or not height or not zlib.decompress(bytes(pixels)):
        raise ValueError("no pixels")
    return bytes(out)


def read_gif(content: bytes, strip_location: bool) -> bytes:
    """A size in the screen descriptor and the trailer at the end (GIF carries no EXIF)."""
    width, height = struct.unpack("<HH", content[6:10])
    if not width or not height or not content.rstrip(b"\x00").endswith(b"\x3b"):
        raise ValueError("bad GIF")
    return content


def read_webp(content: bytes, strip_location: bool) -> bytes:
    """The RIFF container's chunks must add up and hold an image (VP8, VP8L or VP8X and
    frames). Stripping drops the EXIF and XMP chunks and their flags."""
    (size,) = struct.unpack("<I", content[4:8])
    if size + 8 > len(content) or size < 12:
        raise ValueError("bad RIFF size")
    pos = 12
    chunks: list[tuple[bytes, bytes]] = []
    while pos < size + 8:
        kind = content[pos : pos + 4]
        (length,) = struct.unpack("<I", content[pos + 4 : pos + 8])
        end = pos + 8 + length + (length & 1)
        if pos + 8 + length > size + 8:
            raise ValueError("chunk past the end")
        chunks.append((kind, content[pos:end]))
        pos = end
    kinds = [kind for kind, _ in chunks]
    if not kinds or kinds[0] not in (b"VP8 ", b"VP8L", b"VP8X"):
        raise ValueError("no image chunk")
    if kinds[0] == b"VP8X" and not {b"VP8 ", b"VP8L", b"ANIM"} & set(kinds):
        raise ValueError("no image chunk")
    if not strip_location:
        return content
    kept = [chunk for kind, chunk in chunks if kind not in (b"EXIF", b"XMP ")]
    if kinds[0] == b"VP8X":
        header = bytearray(kept[0])
        header[8] &= ~(0x08 | 0x04) & 0xFF  # the EXIF and XMP flags
        kept[0] = bytes(header)
    body = b"WEBP" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body


READERS = {
    "image/jpeg": read_jpeg,
    "image/png": read_png,
    "image/gif": read_gif,
    "image/webp": read_webp,
}
