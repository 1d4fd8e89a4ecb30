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

// Query is one photo held in memory (a search query, not a catalog file),
// prepared by Prepare for InferQueries: its first-pass input tensor and, when
// the card focuses on the object, the decoded image the focus pass crops from.
// It exists so a server can decode many queries in parallel while one
// goroutine batches inference, and still get the vector the index holds.
type Query struct {
	Tensor []float32 // the first pass's input (at Card.LocateSize when the card sets one)
	img    image.Image
}

// Prepare decodes one image held in memory into a Query. It reads the header
// first and refuses unknown formats (ErrNotImage) and images above
// Options.MaxPixels (ErrTooManyPixels) without decoding them; other bad data
// gives an ErrImage error. name only labels errors. Safe for concurrent use.
func (e *Embedder) Prepare(name string, data []byte) (Query, error) {
	img, err := e.decodeQuery(name, data)
	if err != nil {
		return Query{}, err
	}
	first := e.card.locateCard()
	q := Query{Tensor: newQueryTensor(tensorLen(first))}
	toTensor(first, img, q.Tensor)
	if e.card.Focus == FocusSCDACrop {
		q.img = img
	}
	return q, nil
}

// Tensor is the whole image's input tensor at the card's Size, without any
// focus step: for classification checks and raw-inference baselines.
// Searches use Prepare, whose vectors match the index's.
func (e *Embedder) Tensor(name string, data []byte) ([]float32, error) {
	img, err := e.decodeQuery(name, data)
	if err != nil {
		return nil, err
	}
	tensor := make([]float32, tensorLen(e.card))
	toTensor(e.card, img, tensor)
	return tensor, nil
}

// decodeQuery checks an in-memory image's header against the pixel limit and
// decodes it; a decoder crash on a crafted upload costs one request.
func (e *Embedder) decodeQuery(name string, data []byte) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, imageError(name, "decoder crashed: %v", r)
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
	return decodeChecked(name, data, cfg, format, e.card)
}

// InferQueries runs queries made by Prepare through the model as one batch,
// with the card's focus passes, and returns one unit-length vector per query
// (the same vector Embed gives for the same image), or a per-query error.
// The returned error is for the batch as a whole. Calls are serialised with
// Embed/Stream.
func (e *Embedder) InferQueries(qs []Query) ([][]float32, []error, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return nil, nil, errors.New("embed: Embedder is closed")
	}
	first := e.card.locateCard()
	per := tensorLen(first)
	// The input doubles as refocus's scratch, which holds len(qs) tensors at Size.
	input := make([]float32, len(qs)*max(per, tensorLen(e.card)))
	for i, q := range qs {
		if len(q.Tensor) != per {
			return nil, nil, fmt.Errorf("embed: query %d has %d values, the model wants %d", i, len(q.Tensor), per)
		}
		copy(input[i*per:], q.Tensor)
	}
	vecs, _, regions, errs, err := e.inferRegions(first.Size, input[:len(qs)*per], len(qs))
	if err != nil {
		return nil, nil, err
	}
	if e.card.Focus == FocusSCDACrop {
		imgs := make([]image.Image, len(qs))
		for i, q := range qs {
			imgs[i] = q.img
		}
		if err := e.refocus(imgs, regions, errs, vecs, input); err != nil {
			return nil, nil, err
		}
	}
	return vecs, errs, nil
}

// InferTensors runs whole-image tensors made by Tensor through the model as
// one batch, with no focus pass, and returns one unit-length vector per
// tensor, or a per-tensor error (a zero, NaN or Inf feature vector). The returned error is for the batch as a whole.
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

// EmbedBytes is Prepare followed by a one-image InferQueries: the vector of
// one image held in memory, made as Embed makes a catalog image's.
func (e *Embedder) EmbedBytes(name string, data []byte) ([]float32, error) {
	q, err := e.Prepare(name, data)
	if err != nil {
		return nil, err
	}
	vecs, errs, err := e.InferQueries([]Query{q})
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		return nil, fmt.Errorf("embed %s: %w", name, errs[0])
	}
	return vecs[0], nil
}
