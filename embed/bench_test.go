package embed

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// Benchmarks run the shipped default model on generated 800×800 JPEGs (kept
// out of git, written to a temp folder once per process). Run them with:
//
//	go test ./embed -run '^$' -bench . -benchtime 1x
//
// Every throughput benchmark reports images/s and its ratio to a baseline
// measured in the same run. ESSYNC_BENCH_THREADS sets ORT's thread count,
// ESSYNC_BENCH_ORT_SPIN=1 lets ORT threads spin, ESSYNC_TURBOJPEG_LIB=off
// forces Go's JPEG decoder.

const (
	benchImages = 240
	benchSide   = 800
	benchBatch  = 16
)

var (
	benchOnce  sync.Once
	benchDir   string
	benchPaths []string
	benchErr   error
)

func TestMain(m *testing.M) {
	ortSpin = os.Getenv("ESSYNC_BENCH_ORT_SPIN") == "1"
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

// benchJPEGs writes benchImages photo-like JPEGs (gradients, shapes, noise;
// quality 85, about 100 KB each) and returns their paths.
func benchJPEGs(b *testing.B) []string {
	benchOnce.Do(func() {
		benchDir, benchErr = os.MkdirTemp("", "essync-embed-bench-")
		if benchErr != nil {
			return
		}
		benchPaths = make([]string, benchImages)
		var wg sync.WaitGroup
		errs := make(chan error, benchImages)
		sem := make(chan struct{}, runtime.NumCPU())
		for i := range benchPaths {
			benchPaths[i] = filepath.Join(benchDir, fmt.Sprintf("img-%04d.jpg", i))
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				errs <- writeBenchJPEG(benchPaths[i], uint64(i))
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				benchErr = err
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchPaths
}

func writeBenchJPEG(path string, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, 7))
	m := image.NewRGBA(image.Rect(0, 0, benchSide, benchSide))
	c0 := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	c1 := [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255}
	type disc struct {
		x, y, rad float64
		c         color.RGBA
	}
	discs := make([]disc, 12)
	for i := range discs {
		discs[i] = disc{r.Float64() * benchSide, r.Float64() * benchSide, 20 + r.Float64()*150,
			color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}}
	}
	for y := 0; y < benchSide; y++ {
		for x := 0; x < benchSide; x++ {
			t := float64(x+y) / (2 * benchSide)
			var px [3]float64
			for ch := range px {
				px[ch] = c0[ch]*(1-t) + c1[ch]*t
			}
			for _, d := range discs {
				if dx, dy := float64(x)-d.x, float64(y)-d.y; dx*dx+dy*dy < d.rad*d.rad {
					px = [3]float64{float64(d.c.R), float64(d.c.G), float64(d.c.B)}
				}
			}
			n := r.NormFloat64() * 12
			o := m.PixOffset(x, y)
			for ch := range px {
				m.Pix[o+ch] = uint8(max(0, min(255, px[ch]+n)))
			}
			m.Pix[o+3] = 255
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := jpeg.Encode(f, m, &jpeg.Options{Quality: 85}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func benchInputs(paths []string) []Input {
	in := make([]Input, len(paths))
	for i, p := range paths {
		in[i] = Input{ID: filepath.Base(p), Path: p}
	}
	return in
}

// BenchmarkEmbedThroughput compares, on the same model, batch and threads,
// within each iteration (so a noisy neighbour hits all three alike):
// raw ORT inference on tensors prepared beforehand, the whole pipeline (read,
// decode, resize, inference; no cache), and the same run again with a warm
// vector cache. Metrics are totals over all iterations.
func BenchmarkEmbedThroughput(b *testing.B) {
	paths := benchJPEGs(b)
	card := defaultCard(b)
	opts := Options{BatchSize: benchBatch, IntraOpThreads: runtime.NumCPU(), DecodeWorkers: runtime.NumCPU()}
	if v := os.Getenv("ESSYNC_BENCH_THREADS"); v != "" {
		fmt.Sscan(v, &opts.IntraOpThreads)
	}
	raw := newTestEmbedder(b, card, opts)
	cold := newTestEmbedder(b, card, opts)
	cachedOpts := opts
	cachedOpts.CachePath = filepath.Join(b.TempDir(), "vectors.bolt")
	cached := newTestEmbedder(b, card, cachedOpts)
	inputs := benchInputs(paths)
	if _, err := cached.Embed(context.Background(), inputs, nil); err != nil { // fill the cache
		b.Fatal(err)
	}
	per := tensorLen(card)
	batch := make([]float32, benchBatch*per)
	for i := 0; i < benchBatch; i++ {
		res, t, _ := raw.prepare(Input{Path: paths[i]}, nil, func() []float32 { return make([]float32, per) })
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		copy(batch[i*per:], t)
	}
	var tRaw, tPipe, tCache time.Duration
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		start := time.Now()
		for done := 0; done < len(paths); done += benchBatch {
			n := min(benchBatch, len(paths)-done)
			if _, _, _, err := raw.infer(batch[:n*per], n); err != nil {
				b.Fatal(err)
			}
		}
		tRaw += time.Since(start)

		start = time.Now()
		if _, err := cold.Embed(context.Background(), inputs, nil); err != nil {
			b.Fatal(err)
		}
		tPipe += time.Since(start)

		start = time.Now()
		res, err := cached.Embed(context.Background(), inputs, nil)
		if err != nil || !res[0].Cached {
			b.Fatal(err, "not served from cache")
		}
		tCache += time.Since(start)
	}
	n := float64(b.N * len(paths))
	b.ReportMetric(n/tRaw.Seconds(), "raw_ort_img/s")
	b.ReportMetric(n/tPipe.Seconds(), "pipeline_img/s")
	b.ReportMetric(n/tCache.Seconds(), "cache_hit_img/s")
	b.ReportMetric(tRaw.Seconds()/tPipe.Seconds(), "pipeline/raw")
	b.ReportMetric(tPipe.Seconds()/tCache.Seconds(), "cache_speedup")
}

// BenchmarkStages costs each step for one 800×800 JPEG, single-threaded
// except inference (which uses every core, like the pipeline); inference is
// per image within a batch of 16.
func BenchmarkStages(b *testing.B) {
	paths := benchJPEGs(b)[:32]
	card := defaultCard(b)
	datas := make([][]byte, len(paths))
	imgs := make([]image.Image, len(paths))
	for i, p := range paths {
		d, _, err := readImageFile(p)
		if err != nil {
			b.Fatal(err)
		}
		datas[i] = d
		if imgs[i], err = decodeImage(p, d, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("read+sha256", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := readImageFile(paths[i%len(paths)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-jpeg-go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := decodeGo(datas[i%len(datas)], "jpeg"); err != nil {
				b.Fatal(err)
			}
		}
	})
	if turboJPEG() != "" {
		b.Run("decode-jpeg-turbo-full", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := decodeJPEGTurbo(datas[i%len(datas)], 0, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("decode-jpeg-turbo-scaled", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := decodeJPEGTurbo(datas[i%len(datas)], card.Size, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		small, err := decodeJPEGTurbo(datas[0], card.Size, false)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("resize+tensor-imaging-from-%dpx", small.Bounds().Dx()), func(b *testing.B) {
			buf := make([]float32, tensorLen(card))
			for i := 0; i < b.N; i++ {
				p, at := resizeImage(card, small)
				fillTensor(card, p, at, buf)
			}
		})
		b.Run(fmt.Sprintf("resize+tensor-fast-from-%dpx", small.Bounds().Dx()), func(b *testing.B) {
			buf := make([]float32, tensorLen(card))
			for i := 0; i < b.N; i++ {
				fastResizeToTensor(card, small, buf)
			}
		})
	}
	for _, filter := range []string{FilterBicubic, FilterBilinear} {
		b.Run("resize-"+filter+"-from-800px", func(b *testing.B) {
			c := *card
			c.Filter = filter
			for i := 0; i < b.N; i++ {
				resizeImage(&c, imgs[i%len(imgs)])
			}
		})
	}
	pic, at := resizeImage(card, imgs[0])
	buf := make([]float32, tensorLen(card))
	b.Run("tensor", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fillTensor(card, pic, at, buf)
		}
	})
	// ORT's own time per image: the default (int8) and the previous default
	// (float32, models/efficientnet-lite0-v1), each with 1 and with all threads.
	v1, err := LoadCard(filepath.Join(filepath.Dir(filepath.Dir(card.Path())), "efficientnet-lite0-v1", "card.json"))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []*Card{card, v1} {
		for _, threads := range []int{1, runtime.NumCPU()} {
			b.Run(fmt.Sprintf("inference-batch16-%s-threads%d", c.Name, threads), func(b *testing.B) {
				e := newTestEmbedder(b, c, Options{BatchSize: benchBatch, IntraOpThreads: threads})
				batch := make([]float32, benchBatch*tensorLen(c))
				for i := 0; i < benchBatch; i++ {
					copy(batch[i*len(buf):], buf)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i += benchBatch {
					if _, _, _, err := e.infer(batch, benchBatch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
