#!/usr/bin/env python3
"""Sweep essync groups' link threshold over the labelled set and plot pairwise
precision and recall. Run through scripts/calibrate-groups (which builds
essync and embeds testdata/groups with the default model).

A pair of products counts as predicted when both land in one group, as true
when testdata/groups/labels.json gives them the same group. Three setups:
"image" (vectors and the layout verifier, no catalog field), "image + apart
colour" (--group-apart colour, the catalog's colour field keeping colour
variants apart: the setup the default is for) and "image + apart colour, no
verifier" (--group-verify=false: the vectors alone). False pairs are split by
kind: colour variants of one item, other regions of the same source photo
(deep field north/south, coins left/right), and any other look-alike.

Rule for the default: a link needs two signals that are each strong enough
for what they can see, so the threshold must keep the vectors alone (the "no
verifier" setup) free of other look-alikes at that threshold and 0.05 below
it; the same-photo regions, which the vectors cannot see, are the verifier's
job. Among those thresholds, the highest recall under "image + apart colour"
with precision >= 0.99 and recall >= 0.90, ties to the lowest threshold; when
none reaches both, the threshold with the best F0.5 (precision weighted twice
recall) there.
"""

import argparse
import collections
import csv
import io
import itertools
import json
import pathlib
import re
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "testdata" / "groups"
MAIN = "image + apart colour"
VECTORS_ONLY = "image + apart colour, no verifier"
SETUPS = {"image": [], MAIN: ["--group-apart", "colour"], VECTORS_ONLY: ["--group-apart", "colour", "--group-verify=false"]}
MARGIN = 0.05  # how far below the default the vectors alone must still group no other look-alike


def pairs(members):
    return {tuple(p) for m in members for p in itertools.combinations(sorted(m), 2)}


def base(group):
    return re.sub(r"-hue\d+$", "", group)


def sweep_point(essync, vectors, threshold, extra, labels, photo, true):
    out = subprocess.run(
        [essync, "--log-level", "warn", "groups", "--vectors", vectors, "--catalog", str(DATA / "catalog.json"),
         "--images", str(DATA / "images"), "--group-threshold", f"{threshold:.2f}", "--format", "csv", *extra],
        check=True, capture_output=True, text=True).stdout
    groups = collections.defaultdict(list)
    for row in csv.DictReader(io.StringIO(out)):
        groups[row["group_id"]].append(row["product_id"])
    pred = pairs(groups.values())
    tp = len(pred & true)
    fp = pred - true
    fp_colour = sum(1 for a, b in fp if base(labels[a]) == base(labels[b]))
    fp_region = sum(1 for a, b in fp if base(labels[a]) != base(labels[b]) and photo[a] == photo[b])
    return {
        "precision": tp / len(pred) if pred else 1.0, "recall": tp / len(true),
        "predicted_pairs": len(pred), "true_pairs": len(true), "fp_colour_variant": fp_colour,
        "fp_same_photo_region": fp_region, "fp_other_lookalike": len(fp) - fp_colour - fp_region,
        "groups": len(groups),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--essync", required=True)
    ap.add_argument("--vectors", required=True)
    ap.add_argument("--out", default=str(ROOT / "docs" / "groups-threshold"))
    args = ap.parse_args()
    labels = json.loads((DATA / "labels.json").read_text())
    by_group = collections.defaultdict(list)
    for pid, g in labels.items():
        by_group[g].append(pid)
    true = pairs(by_group.values())
    photo = {r["productId"]: r["photo"] for r in json.loads((DATA / "catalog.json").read_text())}
    model = json.loads((pathlib.Path(args.vectors) / "report.json").read_text())["model"]
    thresholds = [round(0.40 + 0.01 * i, 2) for i in range(59)]
    rows = []
    for setup, extra in SETUPS.items():
        for t in thresholds:
            r = sweep_point(args.essync, args.vectors, t, extra, labels, photo, true)
            rows.append({"model": model, "setup": setup, "threshold": t, **r})
    with open(args.out + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) and k != "threshold" else v) for k, v in r.items()})

    main_setup = [r for r in rows if r["setup"] == MAIN]
    lookalike_at = [r["threshold"] for r in rows if r["setup"] == VECTORS_ONLY and r["fp_other_lookalike"] > 0]
    floor = round(max(lookalike_at, default=min(thresholds) - 1) + MARGIN, 2)
    guarded = [r for r in main_setup if r["threshold"] > floor]
    ok = [r for r in guarded if r["precision"] >= 0.99 and r["recall"] >= 0.90]
    if ok:
        pick = max(ok, key=lambda r: (r["recall"], -r["threshold"]))
        why = (f"highest recall with precision >= 0.99 and recall >= 0.90 above {floor:.2f}, "
               f"where the vectors alone group no other look-alike with a {MARGIN} margin")
    else:
        def f05(r):
            return 1.25 * r["precision"] * r["recall"] / (0.25 * r["precision"] + r["recall"] or 1)
        pick = max(guarded or main_setup, key=lambda r: (f05(r), -r["threshold"]))
        why = "no threshold reaches precision 0.99 with recall 0.90; best F0.5"

    fig, axes = plt.subplots(1, len(SETUPS), figsize=(15, 4.4), sharey=True)
    for ax, setup in zip(axes, SETUPS):
        pts = [r for r in rows if r["setup"] == setup]
        xs = [r["threshold"] for r in pts]
        ax.plot(xs, [r["precision"] for r in pts], label="pairwise precision")
        ax.plot(xs, [r["recall"] for r in pts], label="pairwise recall")
        # What precision would be if the look-alikes that are other regions of
        # the same photo (which this model cannot tell apart) were left out.
        # No pair predicted counts as precision 1, as in sweep_point.
        ax.plot(xs, [(r["predicted_pairs"] - r["fp_colour_variant"] - r["fp_same_photo_region"] - r["fp_other_lookalike"])
                     / (r["predicted_pairs"] - r["fp_same_photo_region"])
                     if r["predicted_pairs"] > r["fp_same_photo_region"] else 1.0 for r in pts],
                ls=":", color="C0", label="precision without same-photo regions")
        ax.axhline(0.99, color="grey", lw=0.6, ls=":")
        ax.axhline(0.90, color="grey", lw=0.6, ls=":")
        ax.axvline(pick["threshold"], color="black", lw=0.8, ls="--", label=f"default {pick['threshold']:.2f}")
        if setup == VECTORS_ONLY and lookalike_at:
            ax.axvspan(min(thresholds), max(lookalike_at), color="C3", alpha=0.08, label="other look-alikes grouped")
        ax.set_title(setup)
        ax.set_xlabel("link threshold (cosine)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("pairwise score")
    for ax in axes:
        ax.legend(loc="lower left", fontsize=7)
    fig.suptitle(f"Offer groups on testdata/groups ({len(labels)} products, {len(by_group)} true groups), model {model}", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out + ".png", dpi=90)
    print(f"model {model}: default threshold {pick['threshold']:.2f} ({why}): "
          f"precision {pick['precision']:.4f}, recall {pick['recall']:.4f} with --group-apart colour and the layout verifier")
    for r in rows:
        if r["threshold"] == pick["threshold"]:
            print(f"  {r['setup']:<22} precision {r['precision']:.4f} recall {r['recall']:.4f} "
                  f"false pairs: {r['fp_colour_variant']} colour variants, {r['fp_same_photo_region']} same-photo regions, "
                  f"{r['fp_other_lookalike']} other look-alikes")
    for r in rows:
        if r["threshold"] == floor and r["setup"] == VECTORS_ONLY:
            print(f"  vectors alone at the look-alike floor {floor:.2f}: {r['fp_other_lookalike']} other look-alikes")


if __name__ == "__main__":
    main()
