package embed

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"slices"
	"sync"
)

// Input is one image to embed: ID is the caller's key (a product id), Path the file.
type Input struct {
	ID, Path string
}

// Result is the outcome for one Input. Exactly one of Vector and Err is set.
type Result struct {
	ID string
	// Vector has Dims() float32 values of unit L2 length.
	Vector []float32
	// ImageSHA256 is the hex sha256 of the file's bytes ("" if unreadable).
	ImageSHA256 string
	// Cached is true when Vector came from the vector cache.
	Cached bool
	// Err says why this image was skipped; errors.Is(Err, ErrImage) for a bad file.
	Err error
}

// Embed processes inputs and returns one Result per input, in input order,
// calling progress (if not nil) with the number done after each one. Bad
// images give a Result with Err and do not stop the run; the returned error
// is for the run as a whole (context cancelled, inference failure), in which
// case the results are complete only up to the point of failure.
func (e *Embedder) Embed(ctx context.Context, inputs []Input, progress func(done int)) ([]Result, error) {
	results := make([]Result, len(inputs))
	err := e.Stream(ctx, inputs, func(i int, r Result) error {
		results[i] = r
		if progress != nil {
			progress(i + 1)
		}
		return nil
	})
	return results, err
}

// Stream is Embed without holding all results: emit is called once per input,
// in input order, from a single goroutine. Reading, decoding and resizing run
// in Options.DecodeWorkers goroutines ahead of batched inference, and up to
// Options.InferStreams batches run through the model at once; at most
// (InferStreams+1)×BatchSize+DecodeWorkers images are in memory at once,
// whatever len(inputs) is (plus at most runMemoMax remembered vectors, so an
// image repeated in the run is embedded once). With FocusSCDACrop each of
// those images also keeps its decoded pixels (DCT-scaled JPEGs: about
// Size..2×Size on the shorter side) until its batch has been re-embedded on
// the crops. An error from emit stops the run and is returned.
func (e *Embedder) Stream(ctx context.Context, inputs []Input, emit func(i int, r Result) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sess == nil {
		return errors.New("embed: Embedder is closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	bs, workers, streams := e.opts.BatchSize, e.opts.DecodeWorkers, max(1, e.opts.InferStreams)
	window := (streams+1)*bs + workers
	first := e.card.locateCard() // what the first pass resizes for
	per := tensorLen(first)
	free := make(chan []float32, window)
	getBuf := func() []float32 {
		select {
		case b := <-free:
			return b
		default:
			e.tensorAllocs.Add(1)
			return make([]float32, per)
		}
	}

	type job struct {
		idx int
		in  Input
	}
	memo := &runMemo{m: make(map[string][]float32)}
	// Both channels hold at most `window` items, the in-flight bound, so
	// neither sender ever blocks.
	jobs := make(chan job, window)
	ready := make(chan streamItem, window)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if err := ctx.Err(); err != nil {
					ready <- streamItem{idx: j.idx, res: Result{ID: j.in.ID, Err: err}}
					continue
				}
				res, tensor, img := e.prepare(j.in, memo, getBuf)
				ready <- streamItem{idx: j.idx, res: res, tensor: tensor, img: img}
			}
		}()
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	// Each running batch owns one input buffer (also refocus's scratch at the
	// card's Size) and reports on done, which never blocks its sender.
	inBufs := make(chan []float32, streams)
	for i := 0; i < streams; i++ {
		inBufs <- make([]float32, bs*tensorLen(e.card))
	}
	done := make(chan batchDone, streams)
	running := 0
	defer func() { // never leave a batch running on the session after returning
		for ; running > 0; running-- {
			<-done
		}
	}()
	var batch []streamItem
	pending := make(map[int]Result, window) // finished, waiting for earlier ones
	next, inflight, outstanding, emitted := 0, 0, 0, 0

	for emitted < len(inputs) {
		for next < len(inputs) && inflight < window {
			jobs <- job{idx: next, in: inputs[next]}
			next++
			inflight++
			outstanding++
		}
		switch {
		case running < streams && (len(batch) == bs || (len(batch) > 0 && outstanding == 0)):
			b, buf := batch, <-inBufs
			batch = make([]streamItem, 0, bs)
			running++
			go func() {
				results, err := e.runBatch(b, buf, free, memo)
				inBufs <- buf
				done <- batchDone{results: results, err: err}
			}()
		default:
			readyOrNil := ready // a full batch waits for a free stream first
			if len(batch) == bs {
				readyOrNil = nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("embed: %w", ctx.Err())
			case d := <-done:
				running--
				if d.err != nil {
					return d.err
				}
				for _, r := range d.results {
					pending[r.idx] = r.res
				}
			case it := <-readyOrNil:
				outstanding--
				if it.tensor == nil {
					pending[it.idx] = it.res
				} else {
					batch = append(batch, it)
				}
			}
		}
		for {
			r, ok := pending[emitted]
			if !ok {
				break
			}
			delete(pending, emitted)
			if err := emit(emitted, r); err != nil {
				return err
			}
			emitted++
			inflight--
		}
	}
	return nil
}

// streamItem is one prepared input on its way through Stream.
type streamItem struct {
	idx    int
	res    Result
	tensor []float32   // nil when res is final (cache hit or error)
	img    image.Image // the decoded image, kept for FocusSCDACrop's second pass
}

// batchDone is what one batch's inference gives back to Stream.
type batchDone struct {
	results []streamItem // idx and res only
	err     error
}

// runBatch runs one batch through the model (and the focus passes) using
// batchIn as input and scratch, hands the image tensors back to free, writes
// the vectors to the run memo and the cache, and returns every item's result.
// Several batches may run at once: the ORT session, the memo and the cache
// are safe for concurrent use.
func (e *Embedder) runBatch(batch []streamItem, batchIn []float32, free chan<- []float32, memo *runMemo) ([]streamItem, error) {
	n := len(batch)
	first := e.card.locateCard()
	per := tensorLen(first)
	for i, it := range batch {
		copy(batchIn[i*per:(i+1)*per], it.tensor)
		select {
		case free <- it.tensor:
		default:
		}
	}
	vecs, _, regions, errs, err := e.inferRegions(first.Size, batchIn[:n*per], n)
	if err != nil {
		return nil, err
	}
	if e.card.Focus == FocusSCDACrop {
		imgs := make([]image.Image, n)
		for i, it := range batch {
			imgs[i] = it.img
		}
		if err := e.refocus(imgs, regions, errs, vecs, batchIn); err != nil {
			return nil, err
		}
	}
	var put []Entry
	out := make([]streamItem, n)
	for i, it := range batch {
		r := it.res
		if errs[i] != nil {
			r.Err = fmt.Errorf("embed %s: %w", it.res.ID, errs[i])
		} else {
			r.Vector = vecs[i]
			put = append(put, Entry{ImageSHA256: r.ImageSHA256, Vector: r.Vector})
			memo.put(r.ImageSHA256, r.Vector)
		}
		out[i] = streamItem{idx: it.idx, res: r}
	}
	if e.cache != nil && len(put) > 0 {
		if err := e.cache.PutBatch(e.card.vectorKey(), put); err != nil {
			slog.Warn("vector cache write failed; vectors are still returned", "err", err)
		}
	}
	return out, nil
}

// prepare reads one file, answers from the cache when it can, and otherwise
// decodes and resizes it into a tensor buffer from getBuf (at the first
// pass's size: Card.LocateSize when set). img is the decoded
// image when the card's focus needs it again after the first pass.
func (e *Embedder) prepare(in Input, memo *runMemo, getBuf func() []float32) (res Result, tensor []float32, img image.Image) {
	res = Result{ID: in.ID}
	defer func() {
		// A decoder bug on a crafted file must cost one product, not the run.
		if r := recover(); r != nil {
			res, tensor, img = Result{ID: in.ID, ImageSHA256: res.ImageSHA256, Err: imageError(in.Path, "decoder crashed: %v", r)}, nil, nil
		}
	}()
	data, sum, err := readImageFile(in.Path)
	if err != nil {
		res.Err = err
		return res, nil, nil
	}
	res.ImageSHA256 = sum
	if v := memo.get(sum); v != nil {
		res.Vector = v
		return res, nil, nil
	}
	if e.cache != nil {
		v, err := e.cache.Get(e.card.vectorKey(), sum, e.card.Dims)
		if err != nil {
			slog.Warn("vector cache read failed; re-embedding", "image", in.Path, "err", err)
		}
		if v != nil {
			res.Vector, res.Cached = v, true
			return res, nil, nil
		}
	}
	img, err = decodeImage(in.Path, data, e.opts.MaxPixels, e.card)
	if err != nil {
		res.Err = err
		return res, nil, nil
	}
	e.keepLayout(sum, img)
	buf := getBuf()
	toTensor(e.card.locateCard(), img, buf)
	if e.card.Focus != FocusSCDACrop {
		img = nil
	}
	return res, buf, img
}

// toTensor resizes img into one input tensor as the card says.
func toTensor(c *Card, img image.Image, dst []float32) {
	if !fastResizeToTensor(c, img, dst) {
		pic, at := resizeImage(c, img)
		fillTensor(c, pic, at, dst)
	}
}

// runMemoMax bounds the vectors one run remembers (4096 × 1280-d ≈ 20 MB).
const runMemoMax = 4096

// runMemo remembers the vectors computed earlier in one run by image content,
// so a catalog that repeats an image (placeholders, variants sharing a photo)
// decodes and infers it once, with or without the persistent cache.
type runMemo struct {
	mu sync.Mutex
	m  map[string][]float32
}

// get returns a copy of the remembered vector, or nil.
func (r *runMemo) get(sha string) []float32 {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	v := r.m[sha]
	r.mu.Unlock()
	return slices.Clone(v)
}

func (r *runMemo) put(sha string, v []float32) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if len(r.m) < runMemoMax {
		r.m[sha] = slices.Clone(v) // the caller may change the vector it was given
	}
	r.mu.Unlock()
}
