"""Uploads: only images that open, and without the place they were taken when the reporter
asked to stay anonymous to the public."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime

import pytest

from civicgrid.cases.attachments import Upload, check_upload
from civicgrid.core.errors import InvalidInput
from civicgrid.demo.cases import demo_photo

NOW = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
LATITUDE = struct.pack(">IIIIII", 30, 1, 39, 1, 3600, 100)  # 30° 39' 36.00"


def exif_with_gps() -> bytes:
    """A big-endian EXIF block: IFD0 with an orientation and a GPS directory whose
    latitude is stored outside the entry (as phones write it)."""
    ifd0 = 8
    gps = ifd0 + 2 + 12 * 2 + 4
    latitude_at = gps + 2 + 12 * 2 + 4
    tiff = bytearray(b"MM\x00\x2a" + struct.pack(">I", ifd0))
    tiff += struct.pack(">H", 2)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)  # orientation: rotate 90°
    tiff += struct.pack(">HHII", 0x8825, 4, 1, gps)
    tiff += struct.pack(">I", 0)
    tiff += struct.pack(">H", 2)
    tiff += struct.pack(">HHI4s", 0x0001, 2, 2, b"N\x00\x00\x00")
    tiff += struct.pack(">HHII", 0x0002, 5, 3, latitude_at)
    tiff += struct.pack(">I", 0)
    tiff += LATITUDE
    return bytes(tiff)


def jpeg(*segments: bytes) -> bytes:
    """A JPEG's structure: the segments given, a frame of 8×8, one scan and the end."""
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 8, 8, 1) + b"\x01\x11\x00"
    scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    return b"\xff\xd8" + b"".join(segments) + frame + scan + b"\x12\x34\x56" + b"\xff\xd9"


def app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def check(content: bytes, strip: bool = False) -> bytes:
    return check_upload(Upload("photo", content), 10, "resident", NOW, strip_location=strip).data


def test_a_phone_photo_keeps_its_location_unless_the_reporter_stays_anonymous() -> None:
    photo = jpeg(app1(b"Exif\x00\x00" + exif_with_gps()))
    assert check(photo) == photo
    stripped = check(photo, strip=True)
    assert LATITUDE not in stripped and len(stripped) == len(photo)
    assert struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) in stripped  # it still stands upright


def test_xmp_is_dropped_from_an_anonymous_reporters_photo() -> None:
    xmp = app1(b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta exif:GPSLatitude='30,39.6N'/>")
    stripped = check(jpeg(xmp), strip=True)
    assert b"GPSLatitude" not in stripped
    assert stripped == jpeg()


def test_a_png_loses_its_exif_chunk_and_keeps_its_pixels() -> None:
    plain = demo_photo()
    with_exif = plain[:-12] + png_chunk(b"eXIf", exif_with_gps()) + plain[-12:]
    assert check(with_exif) == with_exif
    assert check(with_exif, strip=True) == plain


@pytest.mark.parametrize(
    "broken",
    [
        demo_photo()[:-30],  # cut off while uploading
        demo_photo().replace(b"IDAT", b"IDAX"),  # a checksum no longer holds
        jpeg()[:-2],  # no end
        b"\xff\xd8\xff\xe0" + bytes(40),  # a signature and nothing behind it
        b"GIF89a" + bytes(20),
        b"RIFF" + struct.pack("<I", 400) + b"WEBPVP8 " + bytes(8),
    ],
)
def test_a_file_that_only_starts_like_an_image_is_refused_by_name(broken: bytes) -> None:
    with pytest.raises(InvalidInput) as refused:
        check(broken)
    assert refused.value.message_key == "attachment_broken"
    assert refused.value.params["field"] == "photos"


def test_what_is_not_an_image_or_too_big_names_the_photos_field() -> None:
    with pytest.raises(InvalidInput) as not_image:
        check(b"%PDF-1.7")
    assert (not_image.value.message_key, not_image.value.params["field"]) == (
        "attachment_not_image",
        "photos",
    )
    with pytest.raises(InvalidInput) as too_big:
        check_upload(Upload("big.png", demo_photo() + bytes(2 * 1024 * 1024)), 1, "r", NOW)
    assert too_big.value.params["field"] == "photos"
