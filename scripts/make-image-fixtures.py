#!/usr/bin/env python3
"""Make essync's image fixtures: real photos (downscaled) and odd or broken files for embed's decoder tests.

Needs: numpy, pillow, scikit-image (only for its CC0 / public-domain sample photos).
Usage: python scripts/make-image-fixtures.py testdata/images

photos/   chelsea (cat), coffee (espresso cup), rocket, astronaut from scikit-image's data folder,
          shorter side scaled to 320, JPEG q88. Licences in photos/LICENSE.txt.
formats/  one picture — left half red, right half blue, a white square top-left — in every format
          embed must read: baseline, progressive, grayscale, CMYK and EXIF-rotated JPEG (and exif-2..8.jpg, one per orientation); 8-bit,
          16-bit, palette and alpha PNG; a 2-frame GIF; lossless and lossy WebP; a PNG named .jpg.
broken/   files embed must refuse with a reason: truncated JPEG, empty file, text named .jpg,
          a PNG whose header claims 60000x60000 pixels (a few hundred bytes: a decoder that trusts
          the header allocates ~14 GB), a JPEG whose data stops after its header.
"""

import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps

W, H = 96, 64


def picture():
    a = np.zeros((H, W, 3), np.uint8)
    a[:, : W // 2] = (220, 30, 30)
    a[:, W // 2:] = (30, 30, 220)
    a[4:20, 4:20] = (255, 255, 255)
    return a


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(width, height, bit_depth, color_type, rows):
    """A PNG from raw filter-0 scanlines (bytes per row already packed)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 9))
            + png_chunk(b"IEND", b""))


def exif_orientation(value):
    """A minimal EXIF APP1 payload with one Orientation tag."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, value, 0) + struct.pack(">I", 0)
    return b"Exif\x00\x00" + tiff


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "testdata/images"
    for d in ("photos", "formats", "broken"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    p = lambda *a: os.path.join(out, *a)

    import skimage
    sk = os.path.join(os.path.dirname(skimage.__file__), "data")
    for src, dst in [("chelsea.png", "chelsea.jpg"), ("coffee.png", "coffee.jpg"),
                     ("rocket.jpg", "rocket.jpg"), ("astronaut.png", "astronaut.jpg")]:
        im = Image.open(os.path.join(sk, src)).convert("RGB")
        s = 320 / min(im.size)
        im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.LANCZOS)
        im.save(p("photos", dst), quality=88)

    pic = Image.fromarray(picture())
    pic.save(p("formats", "baseline.jpg"), quality=95)
    pic.save(p("formats", "progressive.jpg"), quality=95, progressive=True)
    pic.convert("L").save(p("formats", "gray.jpg"), quality=95)
    pic.convert("CMYK").save(p("formats", "cmyk.jpg"), quality=95)
    # Stored rotated 90° clockwise on its side (as a camera held upright writes it) with
    # Orientation=6: a viewer that honours EXIF shows the original W×H picture.
    pic.transpose(Image.Transpose.ROTATE_90).save(p("formats", "exif-rotated.jpg"), quality=95,
                                                   exif=exif_orientation(6))
    # Orientations 2..8: stored transformed so that a viewer honouring EXIF shows the upright picture.
    T = Image.Transpose
    inverse = {2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
               6: T.ROTATE_90, 7: T.TRANSVERSE, 8: T.ROTATE_270}
    for o, t in inverse.items():
        path = p("formats", f"exif-{o}.jpg")
        pic.transpose(t).save(path, quality=95, exif=exif_orientation(o))
        assert ImageOps.exif_transpose(Image.open(path)).size == (W, H)
    pic.save(p("formats", "rgb8.png"))
    a16 = picture().astype(np.uint16) * 257
    rows = [a16[y].astype(">u2").tobytes() for y in range(H)]
    with open(p("formats", "rgb16.png"), "wb") as f:
        f.write(raw_png(W, H, 16, 2, rows))
    pic.convert("P", palette=Image.Palette.ADAPTIVE, colors=8).save(p("formats", "palette.png"))
    rgba = np.dstack([picture(), np.full((H, W), 255, np.uint8)])
    rgba[:, W // 2:, 3] = 0  # right half fully transparent: must come out white, not blue or black
    Image.fromarray(rgba, "RGBA").save(p("formats", "alpha.png"))
    second = Image.fromarray(np.full((H, W, 3), (30, 200, 30), np.uint8))
    pic.save(p("formats", "anim.gif"), save_all=True, append_images=[second], duration=100, loop=0)
    pic.save(p("formats", "lossless.webp"), lossless=True)
    pic.save(p("formats", "lossy.webp"), quality=90)
    with open(p("formats", "png-named.jpg"), "wb") as f:
        f.write(open(p("formats", "rgb8.png"), "rb").read())

    jpg = open(p("formats", "baseline.jpg"), "rb").read()
    with open(p("broken", "truncated.jpg"), "wb") as f:
        f.write(jpg[: len(jpg) // 2])
    open(p("broken", "empty.jpg"), "wb").close()
    with open(p("broken", "text.jpg"), "w") as f:
        f.write("this is not an image, whatever its name says\n")
    # Header says 60000×60000 8-bit grey; the data is one compressed row. Must be refused from the header.
    with open(p("broken", "bomb.png"), "wb") as f:
        f.write(raw_png(60000, 60000, 8, 0, [bytes(60000)]).replace(
            png_chunk(b"IEND", b""), b"") + png_chunk(b"IEND", b""))
    sos = jpg.find(b"\xff\xda")
    with open(p("broken", "header-only.jpg"), "wb") as f:
        f.write(jpg[: sos + 2])
    for d in ("photos", "formats", "broken"):
        for name in sorted(os.listdir(p(d))):
            print(os.path.join(d, name), os.path.getsize(p(d, name)))


if __name__ == "__main__":
    main()
