// Package embed turns product images into L2-normalised feature vectors with
// an ONNX model described by a model card, and caches them by image content.
package embed
