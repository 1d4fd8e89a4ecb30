package embed

import (
	"bytes"
	"errors"
	"fmt"
	"image"
)

// ErrNotImage marks data that is none of the formats essync reads (JPEG, PNG,
// GIF, WebP). It wraps ErrImage, so errors.Is(err, ErrImage) holds too.
var ErrNotImage = fmt.Errorf("%w: not a JPEG, PNG, GIF or WebP image", ErrImage)

// ErrTooManyPixels marks an image whose header claims more pixels than
// Options.MaxPixels: refused before anything is decoded (a pixel bomb costs
// nothing). It wraps ErrImage.
var ErrTooManyPixels = fmt.Errorf("%w: too many pixels", ErrImage)

// Tensor turns one image held in memory (a search query, not a catalog file)
// into the model's preprocessed input, ready for InferTensors. It reads the
// header first and refuses unknown formats (ErrNotImage) and images above
// Options.MaxPixels (ErrTooManyPixels) without decoding them; other bad data
// gives an ErrImage error. name only labels errors. Safe for concurrent use,
// and independent of Embed/Stream, so a server can decode many queries in
// parallel while one goroutine runs inference.
func (e *Embedder) Tensor(name string, data []byte) (tensor []float32, err error) {
	defer func() {
		// A decoder bug on a crafted upload must cost one request, not the process.
		if r := recover(); r != nil {
			tensor, err = nil, imageError(name, "decoder crashed: %v", r)
		}
	}()
	if len(data) == 0 {
		return nil, imageError(name, "empty image")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case errors.Is(err, image.ErrFormat):
		return nil, fmt.Errorf("%w: %s (%d bytes, starts %q)", ErrNotImage, name, len(data), prefix(data))
	case err != nil:
		return nil, imageError(name, "unreadable header: %v", err)
	case int64(cfg.Width)*int64(cfg.Height) > int64(e.opts.MaxPixels):
		return nil, fmt.Errorf("%w: %s: %s is %d×%d, above the limit of %d pixels (refused without decoding)",
			ErrTooManyPixels, name, format, cfg.Width, cfg.Height, e.opts.MaxPixels)
	}
	img, err := decodeImage(name, data, e.opts.MaxPixels, e.card)
	if err != nil {
		return nil, err
	}
	tensor = make([]float32, tensorLen(e.card))
	if !fastResizeToTensor(e.card, img, tensor) {
		pic, at := resizeImage(e.card, img)
		fillTensor(e.card, pic, at, tensor)
	}
	return tensor, nil
}

// InferTensors runs tensors made by Tensor through the model as one batch and
// returns one unit-length vector per tensor, or a per-tensor error (a zero,
// NaN or Inf feature vector). The returned error is for the batch as a whole.
// Calls are serialised with Embed/Stream; any batch size works (it is not
// bound to Options.BatchSize).
func (e *Embedder) InferTensors(tensors [][]float32) ([][]float32, []error, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil, nil, errors.New("embed: Embedder is closed")
	}
	per := tensorLen(e.card)
	input := make([]float32, len(tensors)*per)
	for i, t := range tensors {
		if len(t) != per {
			return nil, nil, fmt.Errorf("embed: tensor %d has %d values, the model wants %d", i, len(t), per)
		}
		copy(input[i*per:], t)
	}
	vecs, _, errs, err := e.infer(input, len(tensors))
	return vecs, errs, err
}

// EmbedBytes is Tensor followed by a one-image InferTensors: the vector of
// one image held in memory.
func (e *Embedder) EmbedBytes(name string, data []byte) ([]float32, error) {
	t, err := e.Tensor(name, data)
	if err != nil {
		return nil, err
	}
	vecs, errs, err := e.InferTensors([][]float32{t})
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, fmt.Errorf("embed %s: %w", name, errs[0])
	}
	return vecs[0], nil
}
