#!/usr/bin/env python3
"""Remake testdata/e2e: the end-to-end catalog of near-duplicate photo groups,
and testdata/e2e/bad: a catalog that holds every kind of bad row and image.

Eight public-domain / CC0 photos from scikit-image's sample data each become a
group of six products: the original and five near-duplicates (crop, half size,
JPEG quality 30, mirror, re-coloured). A real image model should put every
product's five group mates first among its neighbours; the end-to-end tests
check exactly that, using the `group` field of catalog.json.

Setup and run, from the repository root (nothing is downloaded at run time):

    python3 -m venv .cache/venv-testdata
    .cache/venv-testdata/bin/pip install scikit-image pillow
    .cache/venv-testdata/bin/python scripts/make-e2e-testdata.py

The output is deterministic for a given Pillow version; commit what changed.
"""

import colorsys
import json
import os
import pathlib
import shutil

import numpy as np
import skimage
from PIL import Image, ImageOps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "testdata" / "e2e"
IMAGES = OUT / "images"
BAD = OUT / "bad"
SKIMAGE_DATA = pathlib.Path(skimage.__file__).parent / "data"

LONG_SIDE = 320
QUALITY = 85

# group -> (source file in skimage/data, title, price, shop, file name stem).
# The coffee group's files have a space and a non-ASCII letter in their names
# on purpose: the happy path must handle them too.
GROUPS = {
    "astronaut": ("astronaut.png", "Astronaut portrait poster", 24.90, "space-shop", "astronaut"),
    "cat": ("chelsea.png", "Tabby cat photo print", 12.50, "pet-prints", "cat"),
    "coffee": ("coffee.png", "Espresso cup, white porcelain", 8.00, "café-supply", "café crème"),
    "rocket": ("rocket.jpg", "Rocket launch canvas", 39.00, "space-shop", "rocket"),
    "hubble": ("hubble_deep_field.jpg", "Deep field galaxy poster", 29.99, "space-shop", "hubble"),
    "ihc": ("ihc.png", "Microscopy art print", 15.00, "lab-art", "ihc"),
    "retina": ("retina.jpg", "Retina macro print", 17.25, "lab-art", "retina"),
    "camera": ("camera.png", "Photographer in the park, b/w", 11.00, "pet-prints", "camera"),
}

VARIANTS = ["orig", "crop", "half", "q30", "mirror", "recolor"]


def fit(im, long_side):
    """Resize so the long side is long_side (never enlarges)."""
    w, h = im.size
    scale = min(1.0, long_side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.LANCZOS) if size != im.size else im.copy()


def recolor(im):
    """Shift hue by 40 degrees and raise saturation; tint grey images sepia."""
    if im.mode == "L":
        return ImageOps.colorize(im, black="#2b1a0e", white="#f5e6c8")
    hsv = np.asarray(im.convert("HSV")).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + round(40 / 360 * 256)) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.35, 0, 255)
    return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")


def variants(src):
    """Yield (variant, image, jpeg quality) for one source photo."""
    base = fit(src, LONG_SIDE)
    w, h = src.size
    cw, ch = round(w * 0.8), round(h * 0.8)
    left, top = (w - cw) // 2 + w // 40, (h - ch) // 2  # a little off-centre
    yield "orig", base, QUALITY
    yield "crop", fit(src.crop((left, top, left + cw, top + ch)), LONG_SIDE), QUALITY
    yield "half", base.resize((base.width // 2, base.height // 2), Image.LANCZOS), QUALITY
    yield "q30", base, 30
    yield "mirror", ImageOps.mirror(base), QUALITY
    yield "recolor", recolor(base), QUALITY


def save_jpeg(im, path, quality):
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    im.save(path, "JPEG", quality=quality, optimize=True)


def make_good():
    if IMAGES.exists():
        shutil.rmtree(IMAGES)
    IMAGES.mkdir(parents=True)
    catalog = []
    n = 0
    for group, (source, title, price, shop, stem) in GROUPS.items():
        src = Image.open(SKIMAGE_DATA / source)
        src.load()
        if src.mode not in ("RGB", "L"):
            src = src.convert("RGB")
        for variant, im, quality in variants(src):
            n += 1
            name = f"{stem}-{variant}.jpg"
            save_jpeg(im, IMAGES / name, quality)
            pid = f"{group}-{variant}"
            catalog.append({
                "productId": pid,
                "imageName": name,
                "title": f"{title} ({variant})",
                "price": round(price + VARIANTS.index(variant) * 0.5, 2),
                "shop": shop,
                "url": f"https://{shop}.example/p/{pid}",
                "group": group,
                "variant": variant,
                "sku": 1000 + n,
            })
    with open(OUT / "catalog.json", "w", encoding="utf-8") as f:
        json.dump(catalog, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return catalog


def make_bad(good):
    """A Scrapy-shaped catalog (NDJSON of arrays) with every bad case.

    expected.json lists what a full run must do with each row: keep it, or
    skip it at the catalog stage (catalog.SkipKind) or at the image stage.
    """
    images = BAD / "images"
    if BAD.exists():
        shutil.rmtree(BAD)
    (images / "folder.jpg").mkdir(parents=True)
    (images / "folder.jpg" / "README").write_text("a folder named like an image; the catalog must refuse it\n")
    name = {r["productId"]: r["imageName"] for r in good}
    for pid in ("cat-orig", "rocket-half", "coffee-q30", "hubble-mirror"):
        shutil.copy(IMAGES / name[pid], images / name[pid])
    shutil.copy(IMAGES / "cat-orig.jpg", images / "ünïcödé näme.jpg")
    os.symlink("cat-orig.jpg", images / "link-inside.jpg")
    os.symlink("../../catalog.json", images / "link-outside.jpg")
    (images / "empty.jpg").write_bytes(b"")
    whole = (IMAGES / "rocket-orig.jpg").read_bytes()
    (images / "truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (images / "text.jpg").write_text("this is not an image, only a text file named .jpg\n")

    def p(pid, image, **extra):
        r = {"title": f"bad-case product {pid if pid is not None else '(no id)'}", "price": 1.0, "shop": "bad-shop"}
        if pid is not None:
            r["productId"] = pid
        if image is not None:
            r["imageName"] = image
        r.update(extra)
        return r

    lines = [
        [p("good-1", "cat-orig.jpg"), p("good-2", "rocket-half.jpg")],
        [p(None, name["coffee-q30"])],                                   # missing id
        [p("", name["coffee-q30"]), p("good-1", "hubble-mirror.jpg")],   # empty id, duplicate id
        [p("no-image-field", None), p("empty-image-field", "")],        # missing / empty image field
        [p("missing-file", "does-not-exist.jpg")],
        [p("dotdot", "../../images/cat-orig.jpg")],                    # ../ escape to a real file
        [p("absolute", "/etc/passwd")],                                # absolute path to a real file
        [p("symlink-out", "link-outside.jpg")],                         # symlink leading out
        [p("folder", "folder.jpg")],
        None,                                                           # a line that is not JSON
        [p("empty-file", "empty.jpg"), p("truncated-file", "truncated.jpg"), p("text-file", "text.jpg")],
        [p(4711, "hubble-mirror.jpg"), p("unicode", "ünïcödé näme.jpg"), p("symlink-in", "link-inside.jpg")],
        [p("good-3", name["coffee-q30"], url="https://bad-shop.example/p/good-3")],
    ]
    with open(BAD / "catalog.jl", "w", encoding="utf-8") as f:
        for line in lines:
            if line is None:
                f.write('[{"productId": "broken-line", "imageName": "cat-orig.jpg"\n')
            else:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")

    expected = {
        "about": "What essync full must do with bad/catalog.jl and bad/images: rows are 1-based records, "
                 "lines 1-based; catalog skips use catalog.SkipKind, image skips happen when decoding.",
        "kept": ["good-1", "good-2", "4711", "unicode", "symlink-in", "good-3"],
        "catalog_skips": [
            {"row": 3, "line": 2, "id": "", "kind": "missing-id"},
            {"row": 4, "line": 3, "id": "", "kind": "missing-id"},
            {"row": 5, "line": 3, "id": "good-1", "kind": "duplicate-id"},
            {"row": 6, "line": 4, "id": "no-image-field", "kind": "missing-image-field"},
            {"row": 7, "line": 4, "id": "empty-image-field", "kind": "missing-image-field"},
            {"row": 8, "line": 5, "id": "missing-file", "kind": "image-not-found"},
            {"row": 9, "line": 6, "id": "dotdot", "kind": "image-outside-folder"},
            {"row": 10, "line": 7, "id": "absolute", "kind": "image-outside-folder"},
            {"row": 11, "line": 8, "id": "symlink-out", "kind": "image-outside-folder"},
            {"row": 12, "line": 9, "id": "folder", "kind": "image-not-a-file"},
            {"row": 13, "line": 10, "id": "", "kind": "invalid-json"},
        ],
        "image_skips": [
            {"row": 14, "line": 11, "id": "empty-file", "why": "zero-byte file"},
            {"row": 15, "line": 11, "id": "truncated-file", "why": "JPEG cut to a third of its length"},
            {"row": 16, "line": 11, "id": "text-file", "why": "text file named .jpg"},
        ],
    }
    with open(BAD / "expected.json", "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=2)
        f.write("\n")


def main():
    good = make_good()
    make_bad(good)
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file() and not f.is_symlink())
    print(f"wrote {len(good)} products in {len(GROUPS)} groups, {total / 1e6:.2f} MB under {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
