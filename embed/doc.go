// Package embed turns product images into L2-normalised feature vectors with
// an ONNX model described by a model card, and caches them by image content.
//
// A Card (JSON next to the model, see models/README.md) says how to feed the
// model: input name, NCHW/NHWC layout, size, resize mode (crop or TensorFlow-
// style pad), 0..1 or mean/std scaling, and which output is the vector. The
// shipped default is ImageNet-pretrained EfficientNet-Lite0 (1280-d),
// found by DefaultCardPath.
//
// ONNX Runtime is loaded at run time from the library FindORTLibrary finds
// (flag, $ESSYNC_ORT_LIB, lib/ beside the executable of a release archive, or
// .cache/ort from scripts/install-ort), once per process; locate.go states
// the lookup order for the model card and both libraries. JPEGs are decoded by libjpeg-turbo when scripts/install-turbojpeg
// has installed it (shrunk in the DCT domain towards the model input), by
// Go's decoder otherwise; PNG (8/16-bit, palette, alpha on white), GIF (first
// frame) and WebP by Go's decoders. Image headers are checked against a pixel
// limit before anything is allocated.
//
// An Embedder runs a bounded pipeline: DecodeWorkers goroutines read, hash,
// decode and resize ahead of batched inference (InferStreams batches at a
// time); results come back in input order; at most
// (InferStreams+1)×BatchSize+DecodeWorkers images are in memory at once. A
// bad image gives a Result with Err (errors.Is(err, ErrImage)) and the run
// goes on. With Options.CachePath, vectors are kept in a bbolt file keyed by
// (model sha256, image sha256), so re-runs embed only new or changed images.
package embed
