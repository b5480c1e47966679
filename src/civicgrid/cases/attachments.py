"""Checking uploads: only images, only up to the size limit, only files that really are
what their first bytes say (the structure of each format is read through, a PNG's pixels
are inflated and every frame of a GIF is decoded); never more pixels than the limit, which
is read from each format's header before anything is decoded, so a small file that claims
a huge picture (a "decompression bomb") costs neither memory nor time; and, for reporters
who asked to stay anonymous to the public, without the location their phone wrote into the
photo (EXIF GPS, XMP).

Pure Python on purpose: no image library to install, and nothing here keeps pixels: a PNG
is inflated piece by piece and a GIF's codes are only counted, so checking a photo takes a
few megabytes at most, whatever it claims."""

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

# What check_upload allows unless told otherwise (the setting max_image_megapixels):
# a 48-megapixel phone photo fits with room to spare.
DEFAULT_MAX_PIXELS = 50_000_000


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


class TooManyPixels(ValueError):
    """An image whose header (or frames, added up) declares more pixels than allowed."""

    def __init__(self, pixels: int) -> None:
        super().__init__(f"{pixels} pixels")
        self.pixels = pixels


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
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Attachment:
    """An Attachment ready to store, or a 422 naming the file (field `photos`). With
    STRIP_LOCATION the photo is stored without the place it was taken. An image of more
    than MAX_PIXELS (all frames of an animation together) is refused before its pixels
    are decoded."""
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
        content = READERS[content_type](upload.content, strip_location, Budget(max_pixels))
    except TooManyPixels as exc:
        raise InvalidInput(
            "attachment_too_many_pixels",
            name=upload.filename,
            megapixels=_megapixels(exc.pixels),
            max=_megapixels(max_pixels),
            field="photos",
        ) from exc
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


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.1f}".removesuffix(".0")


class Budget:
    """The pixels an image may declare: every picture decoded (a still image, each frame
    of an animation) takes its width × height from it before anything of it is decoded."""

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.declared = 0

    def check(self, width: int, height: int) -> None:
        """A size that is no picture of its own (a GIF's screen, a WebP's canvas): within
        the limit by itself."""
        if width <= 0 or height <= 0:
            raise ValueError("no size")
        if width * height > self.max_pixels:
            raise TooManyPixels(width * height)

    def take(self, width: int, height: int) -> None:
        self.check(width, height)
        self.declared += width * height
        if self.declared > self.max_pixels:
            raise TooManyPixels(self.declared)


# ------------------------------------------------------------------ reading each format
# Each reader walks the file's structure, raises ValueError where it does not hold (and
# TooManyPixels where a size is over the budget), and answers the content, without
# location metadata when asked.

XMP_JPEG = b"http://ns.adobe.com/xap/1.0/\x00"
GPS_IFD_TAG = 0x8825
# Start-of-frame markers: baseline, extended, progressive, lossless, hierarchical, arithmetic.
SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE}


def read_jpeg(content: bytes, strip_location: bool, budget: Budget) -> bytes:
    """Segments up to the scan must parse, a frame header must give a size within the
    budget, and the image must end (EOI). Stripping drops XMP and empties the EXIF GPS
    directory, keeping the rest of EXIF (the orientation that makes a phone photo stand
    upright). The compressed scan itself is never decoded here."""
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
        if marker in SOF_MARKERS:
            if sized:
                raise ValueError("two frames")
            height, width = struct.unpack(">HH", payload[1:5])
            budget.take(width, height)
            sized = True
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


# PNG: the bit depths each colour type allows, and its samples per pixel.
PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7's seven passes: first column and row, then the steps between them.
ADAM7 = [
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
]
INFLATE_INPUT = 1 << 16  # compressed bytes fed at a time
INFLATE_PIECE = 1 << 18  # the most inflated at a time, each piece dropped at once


def read_png(content: bytes, strip_location: bool, budget: Budget) -> bytes:
    """Every chunk's checksum must hold, IHDR must come first with a size within the
    budget, the pixels must inflate to exactly what that size takes (a stream that would
    inflate further is refused as soon as it does, never held), and IEND must close it.
    An animated PNG's later frames count against the budget too and are inflated the
    same way. Stripping drops eXIf and XMP text chunks."""
    out = bytearray(content[:8])
    pos = 8
    kinds: list[bytes] = []
    # Each picture: the bytes it must inflate to and its compressed data; the first is
    # the image (IDAT), the others an animation's later frames (fcTL, then fdAT).
    pictures: list[tuple[int, bytearray]] = []
    width = height = depth = colour = interlace = 0
    while pos < len(content):
        (length,) = struct.unpack(">I", content[pos : pos + 4])
        kind = content[pos + 4 : pos + 8]
        data = content[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", content[pos + 8 + length : pos + 12 + length])
        if len(data) != length or zlib.crc32(kind + data) != crc:
            raise ValueError("bad chunk")
        if (kind == b"IHDR") != (not kinds):
            raise ValueError("chunks out of order")
        kinds.append(kind)
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
            if depth not in PNG_DEPTHS.get(colour, ()) or interlace > 1:
                raise ValueError("bad header")
            budget.take(width, height)  # before a single byte is inflated
            pictures.append((_png_raw_size(width, height, depth, colour, interlace), bytearray()))
        elif kind == b"IDAT":
            if len(pictures) > 1:
                raise ValueError("image data after a frame")
            pictures[0][1].extend(data)
        elif kind == b"fcTL":
            frame_width, frame_height, x, y = struct.unpack(">IIII", data[4:20])
            if x + frame_width > width or y + frame_height > height:
                raise ValueError("frame outside the image")
            if b"IDAT" in kinds:  # a later frame (before IDAT, it describes the image)
                budget.take(frame_width, frame_height)
                size = _png_raw_size(frame_width, frame_height, depth, colour, interlace)
                pictures.append((size, bytearray()))
        elif kind == b"fdAT":
            if len(pictures) < 2:
                raise ValueError("frame data without a frame")
            pictures[-1][1].extend(data[4:])  # after the sequence number
        dropped = kind == b"eXIf" or (kind == b"iTXt" and data.startswith(b"XML:com.adobe.xmp"))
        if not (strip_location and dropped):
            out += content[pos : pos + 12 + length]
        pos += 12 + length
        if kind == b"IEND":
            break
    if not kinds or kinds[-1] != b"IEND" or b"IDAT" not in kinds:
        raise ValueError("chunks out of order")
    for size, compressed in pictures:
        _inflate_exactly(compressed, size)
    return bytes(out)


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlace: int) -> int:
    """The bytes a PNG's pixels of this size inflate to: each row of each pass, with its
    filter byte."""
    bits = PNG_CHANNELS[colour] * depth
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    total = 0
    for x0, y0, dx, dy in passes:
        columns = (width - x0 + dx - 1) // dx if width > x0 else 0
        rows = (height - y0 + dy - 1) // dy if height > y0 else 0
        if columns and rows:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


def _inflate_exactly(compressed: bytearray, size: int) -> None:
    """COMPRESSED must inflate to exactly SIZE bytes. Fed and inflated a piece at a time,
    each piece dropped at once, so memory stays small; past SIZE it stops there."""
    inflater = zlib.decompressobj()
    total = 0
    view = memoryview(compressed)
    for start in range(0, len(view), INFLATE_INPUT):
        pending: bytes | memoryview = view[start : start + INFLATE_INPUT]
        while pending and not inflater.eof:
            total += len(inflater.decompress(pending, INFLATE_PIECE))
            if total > size:
                raise ValueError("more pixels than the header says")
            pending = inflater.unconsumed_tail
    while not inflater.eof:  # what the last piece of input still holds
        piece = inflater.decompress(b"", INFLATE_PIECE)
        if not piece:
            break
        total += len(piece)
        if total > size:
            raise ValueError("more pixels than the header says")
    if not inflater.eof or total != size:
        raise ValueError("fewer pixels than the header says")


def read_gif(content: bytes, strip_location: bool, budget: Budget) -> bytes:
    """The logical screen's size within the budget, then every block up to the trailer:
    extensions, and each frame with its size (all frames together within the budget too)
    and its LZW-compressed pixels, decoded through to the frame's last pixel (counting
    them, keeping none). GIF carries no EXIF."""
    screen_width, screen_height, flags = struct.unpack("<HHB", content[6:11])
    budget.check(screen_width, screen_height)
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    frames = 0
    while True:
        block = content[pos]
        if block == 0x3B:  # the trailer
            break
        if block == 0x21:  # an extension: its label, then data sub-blocks
            _, pos = _gif_sub_blocks(content, pos + 2)
        elif block == 0x2C:  # a frame
            _, _, width, height, flags = struct.unpack("<HHHHB", content[pos + 1 : pos + 10])
            budget.take(width, height)
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
            code_size = content[pos]
            data, pos = _gif_sub_blocks(content, pos + 1)
            _lzw_decode(data, code_size, width * height)
            frames += 1
        else:
            raise ValueError("unknown block")
    if not frames:
        raise ValueError("no frame")
    return content


def _gif_sub_blocks(content: bytes, pos: int) -> tuple[bytes, int]:
    """The data of the sub-blocks starting at POS, and the position after their end."""
    parts: list[bytes] = []
    while True:
        size = content[pos]
        if size == 0:
            return b"".join(parts), pos + 1
        if pos + 1 + size > len(content):
            raise ValueError("sub-block past the end")
        parts.append(content[pos + 1 : pos + 1 + size])
        pos += 1 + size


def _lzw_decode(data: bytes, minimum: int, pixels: int) -> None:
    """Decode a frame's LZW codes until PIXELS pixels came out (a valid code each, or
    ValueError), keeping only each table entry's length, never the pixels."""
    if not 2 <= minimum <= 8:
        raise ValueError("bad LZW code size")
    clear, end = 1 << minimum, (1 << minimum) + 1
    lengths = [1] * clear + [0] * (4096 - clear)
    size, mask, following = minimum + 1, (1 << (minimum + 1)) - 1, end + 1
    previous = -1
    produced = bits = held = pos = 0
    count = len(data)
    while produced < pixels:
        while held < size:
            if pos >= count:
                raise ValueError("pixels missing")
            bits |= data[pos] << held
            pos += 1
            held += 8
        code = bits & mask
        bits >>= size
        held -= size
        if code == clear:
            size, mask, following, previous = minimum + 1, (1 << (minimum + 1)) - 1, end + 1, -1
            continue
        if code == end:
            raise ValueError("pixels missing")
        if previous < 0:
            if code > clear:
                raise ValueError("bad LZW code")
            produced += 1
            previous = code
            continue
        if code < following:
            produced += lengths[code]
        elif code == following:
            produced += lengths[previous] + 1
        else:
            raise ValueError("bad LZW code")
        if following < 4096:
            lengths[following] = lengths[previous] + 1
            following += 1
            if following > mask and size < 12:
                size += 1
                mask = (1 << size) - 1
        previous = code


def read_webp(content: bytes, strip_location: bool, budget: Budget) -> bytes:
    """The RIFF container's chunks must add up and hold an image (VP8, VP8L or VP8X and
    frames), whose size (the canvas and each frame of an animation) is within the budget.
    Stripping drops the EXIF and XMP chunks and their flags."""
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
    if kinds[0] == b"VP8X":
        if not {b"VP8 ", b"VP8L", b"ANMF"} & set(kinds):
            raise ValueError("no image chunk")
        payload = chunks[0][1][8:]
        canvas_width, canvas_height = _u24(payload, 4) + 1, _u24(payload, 7) + 1
        budget.check(canvas_width, canvas_height)
        for frame in (chunk[8:] for kind, chunk in chunks if kind == b"ANMF"):
            width, height = _u24(frame, 6) + 1, _u24(frame, 9) + 1
            if 2 * _u24(frame, 0) + width > canvas_width:
                raise ValueError("frame outside the canvas")
            if 2 * _u24(frame, 3) + height > canvas_height:
                raise ValueError("frame outside the canvas")
            budget.take(width, height)
        for kind, chunk in chunks:
            if kind in (b"VP8 ", b"VP8L"):
                width, height = _webp_size(kind, chunk[8:])
                if width > canvas_width or height > canvas_height:
                    raise ValueError("image larger than the canvas")
                budget.take(width, height)
    else:
        budget.take(*_webp_size(kinds[0], chunks[0][1][8:]))
    if not strip_location:
        return content
    kept = [chunk for kind, chunk in chunks if kind not in (b"EXIF", b"XMP ")]
    if kinds[0] == b"VP8X":
        header = bytearray(kept[0])
        header[8] &= ~(0x08 | 0x04) & 0xFF  # the EXIF and XMP flags
        kept[0] = bytes(header)
    body = b"WEBP" + b"".join(kept)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _u24(data: bytes, at: int) -> int:
    if at + 3 > len(data):
        raise ValueError("short chunk")
    return int.from_bytes(data[at : at + 3], "little")


def _webp_size(kind: bytes, payload: bytes) -> tuple[int, int]:
    """The width and height in a VP8 key frame's or a VP8L bitstream's header."""
    if kind == b"VP8 ":
        if payload[3:6] != b"\x9d\x01\x2a":
            raise ValueError("no VP8 key frame")
        width, height = struct.unpack("<HH", payload[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if payload[:1] != b"\x2f":
        raise ValueError("no VP8L signature")
    (bits,) = struct.unpack("<I", payload[1:5])
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


READERS = {
    "image/jpeg": read_jpeg,
    "image/png": read_png,
    "image/gif": read_gif,
    "image/webp": read_webp,
}
