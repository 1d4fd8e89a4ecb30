#!/usr/bin/env python3
"""Make the tiny deterministic ONNX models that essync's embed unit tests run (needs only `onnx` + numpy).

A 2-layer conv net over a 32x32 RGB image: conv3x3/2 (3->8) + ReLU, conv3x3/2 (8->16) + ReLU,
global average pool -> 16-d "features"; a linear layer -> 4 "logits". Weights come from a fixed seed,
so re-running this script reproduces the same bytes.

  tiny_nchw.onnx  input "pixels" [N,3,32,32]
  tiny_nhwc.onnx  input "pixels" [N,32,32,3], transposed to NCHW inside: same weights, so for the
                  same preprocessed image it must give exactly the vector tiny_nchw gives
  tiny_zero.onnx  like tiny_nchw but multiplies the features by 0: a model whose vector is all zeros,
                  to test that embed refuses zero vectors

Usage: python scripts/make-tiny-model.py testdata/models
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 32


def build(layout, zero=False):
    rng = np.random.default_rng(20261128)
    w1 = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0.1, 0.05, (8,)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (16, 8, 3, 3)).astype(np.float32)
    b2 = rng.normal(0.1, 0.05, (16,)).astype(np.float32)
    wf = rng.normal(0, 0.5, (4, 16)).astype(np.float32)
    bf = np.zeros((4,), np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             [(w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"), (wf, "wf"), (bf, "bf")]]
    nodes = []
    x = "pixels"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [x], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
        shape = ["N", SIZE, SIZE, 3]
    else:
        shape = ["N", 3, SIZE, SIZE]
    nodes += [
        helper.make_node("Conv", [x, "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["gap"]),
    ]
    if zero:
        inits.append(numpy_helper.from_array(np.array(0, np.float32), "zero"))
        nodes += [helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
                  helper.make_node("Mul", ["flat", "zero"], ["features"])]
    else:
        nodes.append(helper.make_node("Flatten", ["gap"], ["features"], axis=1))
    nodes.append(helper.make_node("Gemm", ["features", "wf", "bf"], ["logits"], transB=1))
    graph = helper.make_graph(
        nodes, "tiny_" + layout.lower(),
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 16]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="essync scripts/make-tiny-model.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "testdata/models"
    os.makedirs(out, exist_ok=True)
    for name, model in [("tiny_nchw.onnx", build("NCHW")), ("tiny_nhwc.onnx", build("NHWC")),
                        ("tiny_zero.onnx", build("NCHW", zero=True))]:
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
