"""How much of an image is not background: PNG (Chromium's screenshot) and PPM (pdftoppm),
read with the standard library only, so that "not blank" is a number a test can assert."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def png_rows(path: Path) -> tuple[list[bytes], int]:
    """The RGB(A) scanlines of an 8-bit non-interlaced PNG, unfiltered, and the channels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    offset, idat, width, height, channels = 8, b"", 0, 0, 0
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        chunk = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), f"unsupported PNG (depth {depth}, colour {colour})"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        offset += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytes(width * channels)
    for y in range(height):
        start = y * (stride + 1)
        rows.append(_unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous, channels))
        previous = rows[-1]
    return [bytes(row) for row in rows], channels


def _unfilter(kind: int, line: bytearray, previous: bytes, bpp: int) -> bytes:
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            p = left + up - corner
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
            line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
    return bytes(line)


def png_ink(path: Path, every: int = 4) -> float:
    """Share of sampled pixels (every n-th row) that are not near-white."""
    rows, channels = png_rows(path)
    inked = total = 0
    for row in rows[::every]:
        for x in range(0, len(row) - channels + 1, channels * every):
            total += 1
            inked += min(row[x:x + 3]) < 200
    return inked / total


def ppm_ink(path: Path) -> float:
    """Share of pixels of a binary PPM (pdftoppm's default output) that are not near-white."""
    data = path.read_bytes()
    parts = data.split(maxsplit=4)
    assert parts[0] == b"P6", f"{path} is not a binary PPM"
    pixels = parts[4]
    inked = sum(1 for i in range(0, len(pixels), 3 * 7) if min(pixels[i:i + 3]) < 200)
    return inked / (len(pixels) / (3 * 7))
