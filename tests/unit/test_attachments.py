"""Uploads: only images that open, and without the place they were taken when the reporter
asked to stay anonymous to the public."""

from __future__ import annotations

import struct
import time
import tracemalloc
import zlib
from datetime import UTC, datetime
from functools import cache

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


# ------------------------------------------------------------------ decompression bombs
# Small files that claim (or inflate to) pictures far beyond the limit are refused before
# their pixels are decoded, so checking one costs neither time nor memory.

MEGABYTE = 1024 * 1024


def png(width: int, height: int, idat: bytes, colour: int = 2) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


@cache
def zeros_deflated(megabytes: int) -> bytes:
    """MEGABYTES of zero bytes, deflated (to about 1/200 of that), made a megabyte at a
    time so the test itself stays small."""
    deflater = zlib.compressobj(1)
    block = bytes(MEGABYTE)
    return b"".join(deflater.compress(block) for _ in range(megabytes)) + deflater.flush()


def gif(width: int, height: int, *frames: bytes) -> bytes:
    """A GIF89a with a four-colour global palette and FRAMES (made by gif_frame)."""
    screen = struct.pack("<HHBBB", width, height, 0x81, 0, 0)
    palette = bytes([0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0])
    return b"GIF89a" + screen + palette + b"".join(frames) + b"\x3b"


def gif_frame(width: int, height: int, codes: list[int] | None = None) -> bytes:
    """A frame of WIDTH × HEIGHT, its pixels coloured 0, 1, 2, … as 3-bit LZW codes: a
    clear code before every two pixels keeps the code size at 3 bits. CODES replaces
    the codes (to break them)."""
    clear, end = 4, 5
    if codes is None:
        codes = []
        for n in range(width * height):
            if n % 2 == 0:
                codes.append(clear)
            codes.append(n % 4)
        codes.append(end)
    bits = sum(code << (3 * n) for n, code in enumerate(codes))
    data = bits.to_bytes((3 * len(codes) + 7) // 8, "little")
    blocks = b"".join(
        bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255)
    )
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    return descriptor + b"\x02" + blocks + b"\x00"


def refused_quickly(content: bytes, max_pixels: int = 40_000_000) -> InvalidInput:
    """The refusal of CONTENT, checked to have taken little time and no memory to speak
    of (well under the size the file claims)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidInput) as refused:
            check_upload(Upload("bomb", content), 10, "guest", NOW, max_pixels=max_pixels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 2
    assert peak < len(content) + 4 * MEGABYTE, f"{peak / MEGABYTE:.0f} MB held while checking"
    assert refused.value.params["field"] == "photos"
    return refused.value


def test_a_png_that_claims_a_billion_pixels_is_refused_by_its_header() -> None:
    # 1 MB on the wire; its pixels would take 1.2 GB to decode (and it inflates to 256 MB).
    bomb = png(20_000, 20_000, zeros_deflated(256))
    assert len(bomb) < 1.2 * MEGABYTE
    refused = refused_quickly(bomb)
    assert refused.message_key == "attachment_too_many_pixels"
    assert (refused.params["megapixels"], refused.params["max"]) == ("400", "40")
    assert "400" in refused.message("en") and "40" in refused.message("zh")


def test_a_png_whose_pixels_inflate_past_its_size_is_refused_as_soon_as_they_do() -> None:
    # A modest 1000 × 1000 on the header (3 MB of pixels), 256 MB when inflated.
    refused = refused_quickly(png(1000, 1000, zeros_deflated(256)))
    assert refused.message_key == "attachment_broken"


def test_a_png_with_fewer_pixels_than_its_header_says_is_broken() -> None:
    refused = refused_quickly(png(1000, 1000, zlib.compress(bytes(1000))))
    assert refused.message_key == "attachment_broken"


def test_a_gif_is_refused_by_its_screen_or_by_its_frames_added_up() -> None:
    screen = refused_quickly(gif(65_535, 65_535, gif_frame(2, 2)))
    assert screen.message_key == "attachment_too_many_pixels"
    # A small screen and one huge frame: the frame's own size counts.
    frame = refused_quickly(
        gif(2, 2, gif_frame(2, 2), b"\x2c" + struct.pack("<HHHHB", 0, 0, 60_000, 60_000, 0))
    )
    assert frame.message_key == "attachment_too_many_pixels"
    # Many frames, each within the limit, together over it.
    many = refused_quickly(gif(10, 10, *[gif_frame(10, 10)] * 5), max_pixels=450)
    assert many.message_key == "attachment_too_many_pixels"


def test_every_frame_of_a_gif_is_decoded() -> None:
    good = gif(4, 2, gif_frame(4, 2), gif_frame(4, 2))
    assert check(good) == good
    # The second frame's codes go wrong (a table entry not made yet): refused, where
    # looking at the first frame alone would have let it through.
    broken = gif(4, 2, gif_frame(4, 2), gif_frame(4, 2, [4, 0, 7, 5]))
    assert refused_quickly(broken).message_key == "attachment_broken"
    # The second frame stops short of its pixels.
    short = gif(4, 2, gif_frame(4, 2), gif_frame(4, 2, [4, 0, 1, 5]))
    assert refused_quickly(short).message_key == "attachment_broken"


def test_a_jpeg_or_webp_that_claims_too_many_pixels_is_refused_by_its_header() -> None:
    frame = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 60_000, 60_000, 1) + b"\x01\x11\x00"
    scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00\x00\x3f\x00"
    jpeg_bomb = b"\xff\xd8" + frame + scan + b"\x12\x34" + b"\xff\xd9"
    assert refused_quickly(jpeg_bomb).message_key == "attachment_too_many_pixels"
    canvas = bytes([0, 0, 0, 0]) + (20_000 - 1).to_bytes(3, "little") * 2
    vp8l = b"\x2f" + struct.pack("<I", 0) + bytes(5)
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + canvas
    body += b"VP8L" + struct.pack("<I", len(vp8l)) + vp8l
    webp_bomb = b"RIFF" + struct.pack("<I", len(body)) + body
    assert refused_quickly(webp_bomb).message_key == "attachment_too_many_pixels"


def test_the_pixel_limit_is_the_settings() -> None:
    photo = demo_photo(96, 64)
    assert check_upload(Upload("p.png", photo), 10, "r", NOW, max_pixels=96 * 64).data == photo
    with pytest.raises(InvalidInput) as refused:
        check_upload(Upload("p.png", photo), 10, "r", NOW, max_pixels=96 * 64 - 1)
    assert refused.value.message_key == "attachment_too_many_pixels"
