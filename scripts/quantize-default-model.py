#!/usr/bin/env python3
"""Make the int8 version of essync's default model by static quantisation (ONNX Runtime's
quantize_static), calibrated on photos that ship in the repository.

Weights are quantised per output channel (int8, symmetric), activations per tensor (uint8) with
MinMax ranges measured on the calibration photos, preprocessed exactly as the model card says
(shorter side to 224, centre crop, bicubic, (x/255 - 0.498039) / 0.501961). The output keeps the
float model's input and output names (features, logits, feature_map), so the same card fields
apply; the input's and feature map's height and width are declared dynamic (unless --fixed-size), so
the card's locate_size can run the first focus pass on a smaller input.
Deterministic for a given onnxruntime version (MinMax calibration, fixed photo order).

Usage (the venv of scripts/make-embed-assets):
  python scripts/quantize-default-model.py --float model-fp32.onnx --out model.onnx \
      --calibration testdata/e2e/images --calibration testdata/images/photos [--format qdq|qoperator]
"""

import argparse
import hashlib
import os
import sys

import numpy as np
import onnx
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
export = __import__("export-default-model")


class Photos(CalibrationDataReader):
    def __init__(self, folders):
        self.paths = []
        for folder in folders:
            for name in sorted(os.listdir(folder)):
                if name.lower().endswith((".jpg", ".jpeg", ".png")):
                    self.paths.append(os.path.join(folder, name))
        self.i = 0

    def get_next(self):
        if self.i >= len(self.paths):
            return None
        x = export.preprocess(self.paths[self.i], [127 / 255] * 3, [128 / 255] * 3).astype(np.float32)
        self.i += 1
        return {"input": x}


def make_spatial_dynamic(m):
    """Declares the input's height and width and the feature map's as dynamic ("H", "W", "h", "w")
    and drops the intermediate shapes shape inference recorded for 224x224, so the same graph
    (same weights, same quantisation) also runs on smaller inputs: essync's focus step locates
    the object with a cheaper pass at the card's locate_size (embed/focus.go). TensorFlow 'SAME'
    padding is the same for every side that is a multiple of 32, so at 224 the outputs are
    bit-identical to the fixed-size graph's."""
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    for o in m.graph.output:
        if o.name == "feature_map":
            d = o.type.tensor_type.shape.dim
            d[2].dim_param, d[3].dim_param = "h", "w"
    del m.graph.value_info[:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--float", required=True, help="the float32 model (export-default-model.py --feature-map)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--calibration", action="append", required=True, help="folder of calibration photos")
    ap.add_argument("--format", choices=["qdq", "qoperator"], default="qdq")
    ap.add_argument("--fixed-size", action="store_true",
                    help="keep the 224x224 input and 7x7 feature map fixed (the default makes them dynamic)")
    args = ap.parse_args()
    reader = Photos(args.calibration)
    # ORT's own graph optimisation first: folds BatchNormalization into the convolutions, so
    # the quantised convolutions carry the folded weights (as a TFLite int8 export would).
    prepped = args.out + ".pre.onnx"
    quant_pre_process(args.float, prepped)
    quantize_static(prepped, args.out, reader,
                    quant_format=QuantFormat.QDQ if args.format == "qdq" else QuantFormat.QOperator,
                    per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    os.remove(prepped)
    m = onnx.load(args.out)
    if not args.fixed_size:
        make_spatial_dynamic(m)
    m.producer_name = "essync scripts/quantize-default-model.py"
    m.doc_string = (f"int8 ({args.format}) static quantisation of EfficientNet-Lite0, calibrated on "
                    f"{len(reader.paths)} photos; input and outputs as the float model.")
    onnx.save(m, args.out)
    print(f"wrote {args.out} ({len(reader.paths)} calibration photos, {args.format}) sha256 "
          f"{hashlib.sha256(open(args.out, 'rb').read()).hexdigest()}")


if __name__ == "__main__":
    main()
