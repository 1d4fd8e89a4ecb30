package embed

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
)

// Options tune an Embedder. Zero values pick sensible defaults.
type Options struct {
	// ORTLib is the ONNX Runtime shared library; "" = FindORTLibrary("").
	ORTLib string
	// BatchSize is how many images go through the model at once (default 16).
	BatchSize int
	// IntraOpThreads is ONNX Runtime's thread count (default: all CPUs).
	IntraOpThreads int
	// DecodeWorkers is how many images are read, decoded and resized in
	// parallel (default: all CPUs).
	DecodeWorkers int
	// InferStreams is how many batches run through the model at once, each
	// with IntraOpThreads threads (default 1). Several single-threaded
	// streams keep every core busy without the per-layer hand-offs between
	// threads that cost a small int8 model much of its speed.
	InferStreams int
	// MaxPixels refuses images whose header says more pixels (default DefaultMaxPixels).
	MaxPixels int
	// CachePath is the bbolt vector cache file; "" = no cache.
	CachePath string
}

// Embedder turns image files into L2-normalised feature vectors with one
// model. Embed may be called repeatedly, but not concurrently.
type Embedder struct {
	card  *Card
	opts  Options
	sess  *session
	cache *Cache
	mu    sync.Mutex // serialises Embed: one session, one batch at a time

	layouts layoutKeeper // the offer groups' layout signatures (layouthook.go)

	tensorAllocs atomic.Int64 // image tensors ever allocated: tests check the in-flight bound
	inferred     atomic.Int64 // images run through the model: tests check duplicates are not
	inferredPix  atomic.Int64 // input pixels (side²) run through the model: benchmarks weigh smaller passes
}

// New loads the ONNX Runtime library (once per process), verifies the model
// file against the card's sha256 and shapes, opens a session, and opens the
// cache if asked.
func New(card *Card, opts Options) (*Embedder, error) {
	if card == nil {
		return nil, errors.New("embed: nil model card")
	}
	if err := card.Validate(); err != nil {
		return nil, fmt.Errorf("embed: model card %s: %w", card.Path(), err)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 16
	}
	if opts.IntraOpThreads <= 0 {
		opts.IntraOpThreads = runtime.NumCPU()
	}
	if opts.DecodeWorkers <= 0 {
		opts.DecodeWorkers = runtime.NumCPU()
	}
	if opts.InferStreams <= 0 {
		opts.InferStreams = 1
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = DefaultMaxPixels
	}
	lib, err := FindORTLibrary(opts.ORTLib)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	opts.ORTLib = lib
	if err := initORT(lib); err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	model, err := os.ReadFile(card.ModelPath())
	if err != nil {
		return nil, fmt.Errorf("embed: model file: %w", err)
	}
	sum := sha256.Sum256(model)
	if got := hex.EncodeToString(sum[:]); got != card.SHA256 {
		return nil, fmt.Errorf("embed: model file %s has sha256 %s but its card %s says %s: the file was changed or the card is stale",
			card.ModelPath(), got, card.Path(), card.SHA256)
	}
	sess, err := newSession(card, model, opts.IntraOpThreads)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	e := &Embedder{card: card, opts: opts, sess: sess}
	if opts.CachePath != "" {
		if e.cache, err = OpenCache(opts.CachePath); err != nil {
			sess.close()
			return nil, fmt.Errorf("embed: %w", err)
		}
	}
	return e, nil
}

// Close releases the ONNX Runtime session and closes the cache. Calling it
// again does nothing.
func (e *Embedder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	err := errors.Join(e.sess.close(), e.cache.Close(), e.layouts.close())
	e.sess, e.cache = nil, nil
	return err
}

// Dims is the length of every vector this Embedder returns.
func (e *Embedder) Dims() int { return e.card.Dims }

// Fingerprint identifies the model by name and the first 12 hex digits of
// its sha256 (plus the card's focus, if any), e.g.
// "efficientnet-lite0-int8@d9a09b087d2b+scda-crop-c192-k70-s1" (card.go's focusTag).
func (e *Embedder) Fingerprint() string { return e.card.Fingerprint() }

// Card is the model card this Embedder was built from.
func (e *Embedder) Card() *Card { return e.card }

// Options returns the effective options (defaults filled in, library resolved).
func (e *Embedder) Options() Options { return e.opts }

// infer runs one batch of preprocessed images (n of them, packed in input)
// and returns n normalised feature vectors, or a per-image error for a
// zero/NaN/Inf vector. logits (if the card names them) are returned raw.
func (e *Embedder) infer(input []float32, n int) (vecs [][]float32, logits [][]float32, errs []error, err error) {
	vecs, logits, _, errs, err = e.inferRegions(e.card.Size, input, n)
	return vecs, logits, errs, err
}

// region is where SCDA found the object in one image: a box in cells of the
// feature map (h×w), ok false when no cell stood out.
type region struct {
	box  image.Rectangle
	h, w int
	ok   bool
}

// inferRegions is infer on inputs of side size (the card's Size, or its
// LocateSize for the first pass) plus, when the card names a feature map,
// the SCDA region of every image; with FocusSCDAPool the vector is the
// feature map pooled over that region instead of the model's own pooled
// features.
func (e *Embedder) inferRegions(size int, input []float32, n int) (vecs, logits [][]float32, regions []region, errs []error, err error) {
	e.inferred.Add(int64(n))
	e.inferredPix.Add(int64(n * size * size))
	outs, err := e.sess.run(e.card, size, input, n)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("embed %s: %w", e.card.Name, err)
	}
	d := e.card.Dims
	var maps []float32
	mh, mw := e.sess.mapSize(size)
	cells := mh * mw
	if e.card.FeatureMapName != "" {
		maps = outs[len(outs)-1]
		regions = make([]region, n)
	}
	vecs = make([][]float32, n)
	errs = make([]error, n)
	for i := 0; i < n; i++ {
		v := make([]float32, d)
		copy(v, outs[0][i*d:(i+1)*d])
		if maps != nil {
			fm := maps[i*d*cells : (i+1)*d*cells]
			mask, box, ok := scdaRegion(fm, d, mh, mw)
			regions[i] = region{box: box, h: mh, w: mw, ok: ok}
			if ok && e.card.Focus == FocusSCDAPool {
				v = maskedPool(fm, d, cells, mask)
			}
		}
		if !normalize(v) {
			errs[i] = fmt.Errorf("model %s gave a zero, NaN or Inf feature vector", e.card.Fingerprint())
			continue
		}
		vecs[i] = v
	}
	if e.card.LogitsName != "" {
		k := e.card.Classes
		logits = make([][]float32, n)
		for i := range logits {
			logits[i] = outs[1][i*k : (i+1)*k]
		}
	}
	return vecs, logits, regions, errs, nil
}
