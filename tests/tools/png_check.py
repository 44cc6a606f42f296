#!/usr/bin/env python3
"""png_check.py FILE: exit 0 when the PNG shows something (not one flat colour), else 1.

Decodes the PNG with the standard library only (zlib + the five row filters), counts the
distinct colours and the pixels that differ from the most common one (the background)."""
import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or interlace or ctype not in (0, 2, 4, 6):
        raise ValueError("unsupported PNG: depth %d colour type %d" % (depth, ctype))
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw, stride, prev, out = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                row[i] = (row[i] + a) & 255
            elif f == 2:
                row[i] = (row[i] + b) & 255
            elif f == 3:
                row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(bytes(row))
        prev = row
    return w, h, bpp, out


def main():
    w, h, bpp, rows = pixels(sys.argv[1])
    counts = {}
    for row in rows[::2]:                       # every other row is plenty
        for x in range(0, len(row), bpp * 2):
            px = row[x:x + bpp]
            counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values())
    background = max(counts.values())
    drawn = total - background
    print("%s: %dx%d, %d colours, %.1f%% drawn" % (sys.argv[1], w, h, len(counts), 100.0 * drawn / total))
    return 0 if len(counts) >= 8 and drawn * 100 >= total else 1


if __name__ == "__main__":
    sys.exit(main())
