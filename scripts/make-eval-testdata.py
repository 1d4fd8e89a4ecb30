#!/usr/bin/env python3
"""Make testdata/eval: the image-retrieval evaluation set of issue 13.

Sixteen "products" (object photos) each become a group of eleven JPEGs, the variants a shop or a
marketplace would produce from one product photo:

  orig    the photo, long side 320 px
  crop    an off-centre crop keeping 70 % of each side
  half    downscaled to a long side of 160 px
  q10     JPEG quality 10
  mirror  flipped left-right
  recolor hue +40 degrees, saturation x1.3 (sepia for a grey photo)
  rot     rotated 7 degrees, corners filled white
  white   shrunk to 60 % and centred on a white square
  paste1  shrunk to 55 % of a background photo's long side and pasted onto it at a random place
  paste2  the same onto another background, at 45 %

plus 24 distractors (other photos and wallpapers, never queried; they only compete). The paste
backgrounds are held out: they are not in the set themselves. Every source image comes from a
Debian package or from the scikit-image wheel; NOTICE.md says which, with its licence.

Setup and run, from the repository root (nothing is downloaded at run time; the .deb files are
fetched once with apt-get download):

    mkdir -p .cache/debs-eval && cd .cache/debs-eval && apt-get download mate-backgrounds \
        gnome-backgrounds ukui-wallpapers lomiri-wallpapers lomiri-wallpapers-16.04 \
        lomiri-wallpapers-20.04 && for f in *.deb; do dpkg-deb -x $f x; done && cd -
    .cache/venv-embed/bin/python scripts/make-eval-testdata.py --debs .cache/debs-eval/x

(.cache/venv-embed is made by scripts/make-embed-assets: Pillow 13.0.0, scikit-image 0.26.0.)
Output is deterministic for a given Pillow version; images/ and set.tsv are committed.
"""

import argparse
import colorsys
import pathlib
import random
import shutil

import numpy as np
import skimage
from PIL import Image, ImageOps

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "testdata" / "eval"
SK = pathlib.Path(skimage.__file__).parent / "data"
LONG = 320
QUALITY = 85

MATE = "usr/share/backgrounds/mate"
LOM16 = "usr/share/backgrounds"
UKUI = "usr/share/backgrounds"
GNOME = "usr/share/backgrounds/gnome"

# group -> source (("sk", file) for scikit-image data, else a path under --debs)
PRODUCTS = {
    "astronaut": ("sk", "astronaut.png"),
    "cat": ("sk", "chelsea.png"),
    "coffee": ("sk", "coffee.png"),
    "rocket": ("sk", "rocket.jpg"),
    "logo": ("sk", "logo.png"),
    "camera": ("sk", "camera.png"),
    "brushes": ("deb", f"{LOM16}/Picture_1A_by_freespace.jpg"),
    "drum": ("deb", f"{LOM16}/Wine_by_Jakkub_Mede.jpg"),
    "clock": ("deb", f"{LOM16}/greentock_by_Peter_Nerlich.jpg"),
    "bird": ("deb", f"{LOM16}/free_by_Peter_Nerlich.jpg"),
    "fig": ("deb", f"{LOM16}/Picture_0B_by_freespace.jpg"),
    "dogs": ("deb", f"{LOM16}/friends_by_Aitzol_Berasategi.jpg"),
    "flower": ("deb", f"{MATE}/nature/FreshFlower.jpg"),
    "ladybird": ("deb", f"{MATE}/nature/LadyBird.jpg"),
    "goldfish": ("deb", f"{UKUI}/goldfish.png"),
    "mouse": ("deb", f"{UKUI}/the-mouse.jpg"),
}

BACKGROUNDS = [f"{LOM16}/{n}" for n in (
    "seeding_by_Clements_Engelhardt.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg", "sunset_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg", "Dragonfly_by_Bolly.jpg",
    "Bridge_by_Sander_Klootwijk.jpg", "Kleiber_by_Lukas_Baubkus.jpg")] + [f"{MATE}/nature/{n}" for n in (
    "GreenMeadow.jpg", "Dune.jpg", "Aqua.jpg", "Storm.jpg", "Wood.jpg")]

DISTRACTORS = [
    ("deb", f"{GNOME}/adwaita-l.webp"), ("deb", f"{GNOME}/grid-d.webp"), ("deb", f"{GNOME}/truchet-l.webp"),
    ("deb", f"{GNOME}/pixels-l.webp"), ("deb", f"{GNOME}/wood-d.webp"), ("deb", f"{GNOME}/licorice-l.webp"),
    ("deb", "usr/share/backgrounds/warty-final-ubuntu.png"),
    ("deb", f"{MATE}/abstract/Elephants.jpg"), ("deb", f"{LOM16}/analogpattern_by_Peter_Nerlich.jpg"),
    ("deb", f"{MATE}/desktop/Stripes.png"), ("deb", f"{MATE}/desktop/Ubuntu-Mate-Warm-no-logo.png"),
    ("deb", f"{MATE}/desktop/Ubuntu-Mate-Radioactive-no-logo.png"), ("deb", f"{MATE}/nature/YellowFlower.jpg"),
    ("deb", f"{MATE}/nature/RainDrops.jpg"), ("deb", f"{MATE}/nature/Blinds.jpg"),
    ("deb", f"{MATE}/desktop/GreenTraditional.jpg"),
    ("deb", f"{UKUI}/calla.png"), ("deb", f"{UKUI}/city.png"), ("deb", f"{UKUI}/firstgeneration.jpg"),
    ("deb", f"{LOM16}/umang_by_Abhishek_Mudgal.jpg"), ("deb", "usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg"),
    ("deb", "usr/share/backgrounds/Painting-Colors_by__herobrine7gamer.jpg"), ("sk", "clock_motion.png"), ("sk", "horse.png"),
]

VARIANTS = ["orig", "crop", "half", "q10", "mirror", "recolor", "rot", "white", "paste1", "paste2"]


def load(debs, src):
    kind, path = src
    p = SK / path if kind == "sk" else next(debs.glob(f"*/{path}"), None) or debs / path
    im = Image.open(p)
    im.draft("RGB", (LONG * 4, LONG * 4))
    im = im.convert("RGBA")
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    im = Image.alpha_composite(bg, im).convert("RGB")
    return im, p


def fit(im, long_side):
    w, h = im.size
    s = long_side / max(w, h)
    return im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)


def recolor(im):
    a = np.asarray(im, np.float32) / 255
    if np.allclose(a[..., 0], a[..., 1], atol=0.02) and np.allclose(a[..., 1], a[..., 2], atol=0.02):
        g = a.mean(axis=2)
        out = np.stack([g * 1.07, g * 0.87, g * 0.6], axis=2)
        return Image.fromarray((np.clip(out, 0, 1) * 255).round().astype(np.uint8))
    hsv = np.vectorize(colorsys.rgb_to_hsv, otypes=[np.float32] * 3)(a[..., 0], a[..., 1], a[..., 2])
    h = (hsv[0] + 40 / 360) % 1
    s = np.clip(hsv[1] * 1.3, 0, 1)
    rgb = np.vectorize(colorsys.hsv_to_rgb, otypes=[np.float32] * 3)(h, s, hsv[2])
    return Image.fromarray((np.clip(np.stack(rgb, axis=2), 0, 1) * 255).round().astype(np.uint8))


def variants(im, rnd, backgrounds):
    base = fit(im, LONG)
    w, h = base.size
    out = {"orig": (base, QUALITY)}
    cw, ch = round(w * 0.7), round(h * 0.7)
    x0, y0 = rnd.randint(0, w - cw), rnd.randint(0, h - ch)
    out["crop"] = (fit(base.crop((x0, y0, x0 + cw, y0 + ch)), LONG), QUALITY)
    out["half"] = (fit(im, LONG // 2), QUALITY)
    out["q10"] = (base, 10)
    out["mirror"] = (ImageOps.mirror(base), QUALITY)
    out["recolor"] = (recolor(base), QUALITY)
    out["rot"] = (fit(base.rotate(7, Image.BICUBIC, expand=True, fillcolor=(255, 255, 255)), LONG), QUALITY)
    canvas = Image.new("RGB", (LONG, LONG), (255, 255, 255))
    small = fit(base, round(LONG * 0.6))
    canvas.paste(small, ((LONG - small.size[0]) // 2, (LONG - small.size[1]) // 2))
    out["white"] = (canvas, QUALITY)
    for name, frac, bg in (("paste1", 0.55, backgrounds[0]), ("paste2", 0.45, backgrounds[1])):
        b = fit(bg, LONG).copy()
        small = fit(base, round(LONG * frac))
        bw, bh = b.size
        sw, sh = small.size
        if sw > bw or sh > bh:  # a tall product on a wide background
            small = fit(small, round(max(sw, sh) * min(bw / sw, bh / sh)))
            sw, sh = small.size
        b.paste(small, (rnd.randint(0, bw - sw), rnd.randint(0, bh - sh)))
        out[name] = (b, QUALITY)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--debs", required=True, help="folder holding each .deb unpacked (dpkg-deb -x) in a subfolder")
    args = ap.parse_args()
    debs = pathlib.Path(args.debs)
    images = OUT / "images"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    rnd = random.Random(13)
    bgs = [load(debs, ("deb", b))[0] for b in BACKGROUNDS]
    rows = ["file\tgroup\tvariant\tsource"]
    for i, (group, src) in enumerate(PRODUCTS.items()):
        im, path = load(debs, src)
        pair = [bgs[(2 * i) % len(bgs)], bgs[(2 * i + 1) % len(bgs)]]
        for variant, (v, q) in variants(im, rnd, pair).items():
            name = f"{group}--{variant}.jpg"
            v.save(images / name, quality=q, optimize=True)
            rows.append(f"{name}\t{group}\t{variant}\t{path.name}")
    for i, src in enumerate(DISTRACTORS):
        im, path = load(debs, src)
        name = f"distractor-{i:02d}.jpg"
        fit(im, LONG).save(images / name, quality=QUALITY, optimize=True)
        rows.append(f"{name}\t\tdistractor\t{path.name}")
    (OUT / "set.tsv").write_text("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} images to {images}")


if __name__ == "__main__":
    main()
