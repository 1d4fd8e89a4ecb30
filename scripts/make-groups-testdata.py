#!/usr/bin/env python3
"""Remake testdata/groups: a labelled set for calibrating offer groups.

Each *item* is one product photo that several shops sell; every shop applies
its own variation of the photo: resize, recompress, pad on white, put it on
another background, crop a little. Those offers must end up in one group.
Look-alike *different* items must not: the same product in other colours
(hue turned by 120 and 240 degrees, each colour its own item sold by three
shops), and similar products (two regions of one deep-field photo, two sets of
coins, three ground textures).

The sources are the public-domain / CC0 sample photos in the scikit-image
wheel (see testdata/groups/NOTICE.md). Setup and run, from the repository
root (nothing is downloaded at run time):

    python3 -m venv .cache/venv-groups
    .cache/venv-groups/bin/pip install scikit-image pillow matplotlib
    .cache/venv-groups/bin/python scripts/make-groups-testdata.py

Writes testdata/groups/{images/, catalog.json, labels.json}. catalog.json
is an essync catalog (productId, imageName, title, price, shop, brand,
colour, group, variant, photo: the source file); labels.json maps product id -> true group. The
output is deterministic for a given Pillow version; commit what changed.
"""

import json
import pathlib
import shutil

import numpy as np
import skimage
from PIL import Image, ImageOps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "testdata" / "groups"
IMAGES = OUT / "images"
DATA = pathlib.Path(skimage.__file__).parent / "data"

LONG_SIDE = 256
QUALITY = 85

# item -> (source file, crop box as fractions (l, t, r, b) or None, title,
# base price, brand, recolour variants?). Items sharing a brand look alike.
ITEMS = {
    "astronaut": ("astronaut.png", None, "Astronaut portrait poster", 24.90, "nasa-art", True),
    "cat": ("chelsea.png", None, "Tabby cat photo print", 12.50, "pet-prints", True),
    "coffee": ("coffee.png", None, "Espresso cup, porcelain", 8.00, "cafe-supply", True),
    "rocket": ("rocket.jpg", None, "Rocket launch canvas", 39.00, "nasa-art", True),
    "ihc": ("ihc.png", None, "Microscopy art print", 15.00, "lab-art", True),
    "retina": ("retina.jpg", None, "Retina macro print", 17.25, "lab-art", True),
    "horse": ("horse.png", None, "Horse wall decal", 9.90, "decal-co", True),
    "camera": ("camera.png", None, "Photographer in the park, b/w", 11.00, "bw-prints", False),
    "clock": ("clock_motion.png", None, "Wall clock, motion photo", 14.00, "bw-prints", False),
    "text": ("text.png", None, "Corner typography print", 7.50, "bw-prints", False),
    "deepfield-a": ("hubble_deep_field.jpg", (0.0, 0.0, 0.5, 0.5), "Deep field poster, north", 29.99, "nasa-art", False),
    "deepfield-b": ("hubble_deep_field.jpg", (0.5, 0.5, 1.0, 1.0), "Deep field poster, south", 29.99, "nasa-art", False),
    "coins-a": ("coins.png", (0.0, 0.0, 0.5, 1.0), "Pompeii coins print, left", 19.00, "museum", False),
    "coins-b": ("coins.png", (0.5, 0.0, 1.0, 1.0), "Pompeii coins print, right", 19.00, "museum", False),
    "brick": ("brick.png", None, "Brick wallpaper", 22.00, "textures", False),
    "grass": ("grass.png", None, "Grass wallpaper", 22.00, "textures", False),
    "gravel": ("gravel.png", None, "Gravel wallpaper", 22.00, "textures", False),
}

# Offers of an item, one per shop: (variant, shop).
OFFERS = [("orig", "maker"), ("half", "shop-a"), ("q35", "shop-b"), ("pad", "shop-c"), ("bg", "shop-d"), ("crop", "shop-e")]
# Colour variants and the offers each gets.
COLOURS = [("hue120", 120), ("hue240", 240)]
COLOUR_OFFERS = [("orig", "maker"), ("q35", "shop-b"), ("pad", "shop-c")]


def fit(im, long_side):
    """Resize so the long side is long_side (never enlarges)."""
    w, h = im.size
    scale = min(1.0, long_side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.LANCZOS) if size != im.size else im.copy()


def load(source, box):
    src = Image.open(DATA / source)
    src.load()
    if source == "horse.png":
        # A black silhouette on transparent: make it a brown decal on white.
        mask = np.asarray(src.convert("L")) < 128
        rgb = np.full(mask.shape + (3,), 255, np.uint8)
        rgb[mask] = (120, 72, 30)
        src = Image.fromarray(rgb, "RGB")
    elif src.mode not in ("RGB", "L"):
        src = src.convert("RGB")
    if box:
        w, h = src.size
        src = src.crop((round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)))
    return src


def turn_hue(im, degrees):
    """Another colour of the same product: hue turned, saturation kept."""
    hsv = np.asarray(im.convert("RGB").convert("HSV")).astype(np.int32)
    hsv[..., 0] = (hsv[..., 0] + round(degrees / 360 * 256)) % 256
    return Image.fromarray(hsv.astype(np.uint8), "HSV").convert("RGB")


def pad(im, colour, margin):
    """Centre im on a square canvas of colour, margin (fraction) around it."""
    side = round(max(im.size) * (1 + 2 * margin))
    canvas = Image.new(im.mode, (side, side), colour if im.mode == "RGB" else colour[0])
    canvas.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return fit(canvas, LONG_SIDE)


def offer(src, variant):
    """(image, JPEG quality) of one shop's version of the photo src."""
    base = fit(src, LONG_SIDE)
    if variant == "orig":
        return base, QUALITY
    if variant == "half":
        return base.resize((base.width // 2, base.height // 2), Image.LANCZOS), QUALITY
    if variant == "q35":
        return base, 35
    if variant == "pad":
        return pad(base, (255, 255, 255), 0.12), QUALITY
    if variant == "bg":
        return pad(base, (208, 200, 186), 0.06), QUALITY
    if variant == "crop":
        w, h = src.size
        cw, ch = round(w * 0.9), round(h * 0.9)
        left, top = (w - cw) // 2 + w // 50, (h - ch) // 2
        return fit(src.crop((left, top, left + cw, top + ch)), LONG_SIDE), QUALITY
    raise ValueError(variant)


def main():
    if IMAGES.exists():
        shutil.rmtree(IMAGES)
    IMAGES.mkdir(parents=True)
    catalog, labels = [], {}

    def add(group, src, variant, shop, title, price, brand, colour, photo):
        pid = f"{group}-{variant}"
        im, quality = offer(src, variant)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        name = f"{pid}.jpg"
        im.save(IMAGES / name, "JPEG", quality=quality, optimize=True)
        catalog.append({
            "productId": pid, "imageName": name, "title": title,
            "price": round(price + 0.35 * len(catalog) % 3, 2), "shop": shop,
            "brand": brand, "colour": colour, "group": group, "variant": variant, "photo": photo,
        })
        labels[pid] = group

    for item, (source, box, title, price, brand, colours) in ITEMS.items():
        src = load(source, box)
        colour = "natural" if colours else ""
        for variant, shop in OFFERS:
            add(item, src, variant, shop, title, price, brand, colour, source)
        if not colours:
            continue
        for name, degrees in COLOURS:
            coloured = turn_hue(src, degrees)
            for variant, shop in COLOUR_OFFERS:
                add(f"{item}-{name}", coloured, variant, shop, f"{title} ({name})", price, brand, name, source)

    with open(OUT / "catalog.json", "w", encoding="utf-8") as f:
        json.dump(catalog, f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(OUT / "labels.json", "w", encoding="utf-8") as f:
        json.dump(labels, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(catalog)} products in {len(set(labels.values()))} true groups, "
          f"{total / 1e6:.2f} MB under {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
