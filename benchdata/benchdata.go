// Package benchdata generates synthetic product catalogs for essync's
// whole-pipeline benchmarks and large integration tests: product photos
// rendered from a few hundred base scenes (a gradient background, a handful of
// shapes, a noise texture), each shown in several variants (shifted, zoomed,
// mirrored, re-lit, noisier), so that groups of near-duplicates exist the way
// they do in real shop catalogs, plus a catalog JSON in essync's default shape.
//
// Everything is deterministic for a seed: product i always gets the same
// scene, variant and bytes, so a catalog can be grown (products N, N+1, …)
// without touching the images already written.
package benchdata

import (
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
)

// Formats the generator writes.
const (
	JPEG = "jpeg"
	PNG  = "png"
)

// Options say what to generate. Zero values pick the defaults in the comments.
type Options struct {
	Size    int    // image width and height in pixels (default 800)
	Format  string // JPEG (default) or PNG
	Quality int    // JPEG quality (default 85)
	Scenes  int    // base scenes the products are drawn from (default 300)
	Seed    uint64 // varies every scene and variant
	Workers int    // images rendered in parallel (default GOMAXPROCS)
}

func (o Options) withDefaults() Options {
	if o.Size <= 0 {
		o.Size = 800
	}
	if o.Format == "" {
		o.Format = JPEG
	}
	if o.Quality <= 0 {
		o.Quality = 85
	}
	if o.Scenes <= 0 {
		o.Scenes = 300
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Product is one catalog row, in essync's default field names.
type Product struct {
	ID        string  `json:"productId"`
	ImageName string  `json:"imageName"`
	Title     string  `json:"title"`
	Price     float64 `json:"price"`
	Shop      string  `json:"shop"`
	Scene     int     `json:"scene"` // the base scene: products of one scene are near-duplicates
}

// ID is the id of product i: "p-000042".
func ID(i int) string { return fmt.Sprintf("p-%06d", i) }

// SceneOf is the base scene of product i. Scenes are spread over the index
// range, so products added later (larger i) are near-duplicates of existing
// ones, as new products in a real shop often are.
func SceneOf(i int, opts Options) int {
	opts = opts.withDefaults()
	return int(mix(uint64(i), opts.Seed^0x5ce9e) % uint64(opts.Scenes))
}

// Generate renders products first … first+n-1 into dir (created if needed)
// and returns their catalog rows, in order. Image files are named after the
// product id.
func Generate(dir string, first, n int, opts Options) ([]Product, error) {
	opts = opts.withDefaults()
	if opts.Format != JPEG && opts.Format != PNG {
		return nil, fmt.Errorf("benchdata: format %q, want %q or %q", opts.Format, JPEG, PNG)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("benchdata: %w", err)
	}
	ext := ".jpg"
	if opts.Format == PNG {
		ext = ".png"
	}
	products := make([]Product, n)
	for k := range products {
		i := first + k
		scene := SceneOf(i, opts)
		products[k] = Product{
			ID: ID(i), ImageName: ID(i) + ext, Scene: scene,
			Title: fmt.Sprintf("Synthetic product %d (scene %d)", i, scene),
			Price: float64(mix(uint64(i), 7)%100000) / 100, Shop: fmt.Sprintf("shop-%d", i%7),
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, opts.Workers)
	next := make(chan int)
	for w := range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			img := image.NewNRGBA(image.Rect(0, 0, opts.Size, opts.Size))
			for k := range next {
				if errs[w] != nil {
					continue
				}
				p := products[k]
				render(img, newScene(p.Scene, opts.Seed), newVariant(first+k, opts.Seed))
				errs[w] = write(filepath.Join(dir, p.ImageName), img, opts)
			}
		}()
	}
	for k := range products {
		next <- k
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return products, nil
}

// WriteCatalog writes products as a JSON array, essync's catalog format.
func WriteCatalog(path string, products []Product) error {
	b, err := json.Marshal(products)
	if err != nil {
		return fmt.Errorf("benchdata: catalog: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("benchdata: catalog: %w", err)
	}
	return nil
}

// pngEncoder reuses its deflate state across images (setting one up per image
// dominates small images, above all under -race) and compresses fast:
// benchmark data is written once and read once.
var pngEncoder = &png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool{}}

// pngPool is a png.EncoderBufferPool over sync.Pool.
type pngPool struct{ p sync.Pool }

func (p *pngPool) Get() *png.EncoderBuffer {
	b, _ := p.p.Get().(*png.EncoderBuffer)
	return b
}

func (p *pngPool) Put(b *png.EncoderBuffer) { p.p.Put(b) }

func write(path string, img image.Image, opts Options) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("benchdata: %w", err)
	}
	if opts.Format == PNG {
		err = pngEncoder.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: opts.Quality})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("benchdata: write %s: %w", path, err)
	}
	return nil
}

// shape is one filled figure of a scene, in scene coordinates (0..1).
type shape struct {
	kind        int // 0 disc, 1 rectangle, 2 ring, 3 stripes
	cx, cy      float64
	rx, ry      float64
	col         [3]float64
	ca, sa, per float64 // stripe direction (cosine, sine) and period
}

// scene is what the variants of one product group share.
type scene struct {
	bg0, bg1 [3]float64
	dx, dy   float64 // gradient direction
	shapes   []shape
	noise    float64
}

func newScene(id int, seed uint64) scene {
	r := rand.New(rand.NewPCG(uint64(id), seed^0xba5e))
	col := func() [3]float64 { return [3]float64{r.Float64(), r.Float64(), r.Float64()} }
	a := r.Float64() * 2 * math.Pi
	s := scene{bg0: col(), bg1: col(), dx: math.Cos(a), dy: math.Sin(a), noise: 0.02 + 0.08*r.Float64()}
	for range 2 + r.IntN(4) {
		sh := shape{kind: r.IntN(4), cx: 0.15 + 0.7*r.Float64(), cy: 0.15 + 0.7*r.Float64(),
			rx: 0.08 + 0.25*r.Float64(), ry: 0.08 + 0.25*r.Float64(), col: col()}
		a := r.Float64() * math.Pi
		sh.ca, sh.sa, sh.per = math.Cos(a), math.Sin(a), 0.03+0.1*r.Float64()
		s.shapes = append(s.shapes, sh)
	}
	return s
}

// variant is how one product's photo differs from its scene.
type variant struct {
	zoom, ox, oy float64 // view window: scene point = o + pixel/size × zoom
	mirror       bool
	light        [3]float64 // per-channel gain
	noise        float64
	seed         uint64
}

func newVariant(i int, seed uint64) variant {
	r := rand.New(rand.NewPCG(uint64(i), seed^0x7a41a))
	zoom := 0.8 + 0.25*r.Float64()
	v := variant{zoom: zoom, ox: (1 - zoom) / 2 * (0.5 + r.Float64()), oy: (1 - zoom) / 2 * (0.5 + r.Float64()),
		mirror: r.IntN(4) == 0, noise: 0.03 * r.Float64(), seed: uint64(i)}
	base := 0.85 + 0.3*r.Float64()
	for c := range v.light {
		v.light[c] = base * (0.95 + 0.1*r.Float64())
	}
	return v
}

// render draws scene s as seen by variant v into img.
func render(img *image.NRGBA, s scene, v variant) {
	size := img.Rect.Dx()
	inv := 1 / float64(size)
	for py := range size {
		row := img.Pix[py*img.Stride:]
		y := v.oy + (float64(py)+0.5)*inv*v.zoom
		for px := range size {
			qx := px
			if v.mirror {
				qx = size - 1 - px
			}
			x := v.ox + (float64(qx)+0.5)*inv*v.zoom
			t := 0.5 + 0.7*((x-0.5)*s.dx+(y-0.5)*s.dy)
			var c [3]float64
			for k := range c {
				c[k] = s.bg0[k] + (s.bg1[k]-s.bg0[k])*t
			}
			for _, sh := range s.shapes {
				if sh.inside(x, y) {
					c = sh.col
				}
			}
			// Texture: scene noise on a coarse grid (part of the scene), plus
			// per-pixel sensor noise (part of the variant).
			gx, gy := uint64(x*64), uint64(y*64)
			tex := (float64(mix(gx*131+gy, 0x7e7)&1023)/1023 - 0.5) * s.noise * 2
			sensor := (float64(mix(uint64(py*size+px), v.seed)&1023)/1023 - 0.5) * v.noise * 2
			for k := range c {
				row[px*4+k] = clamp8((c[k] + tex + sensor) * v.light[k])
			}
			row[px*4+3] = 255
		}
	}
}

func (sh shape) inside(x, y float64) bool {
	dx, dy := (x-sh.cx)/sh.rx, (y-sh.cy)/sh.ry
	switch sh.kind {
	case 0:
		return dx*dx+dy*dy <= 1
	case 1:
		return math.Abs(dx) <= 1 && math.Abs(dy) <= 0.6
	case 2:
		d := dx*dx + dy*dy
		return d <= 1 && d >= 0.45
	default:
		if math.Abs(dx) > 1 || math.Abs(dy) > 1 {
			return false
		}
		u := math.Abs(x*sh.ca+y*sh.sa) / sh.per
		return u-math.Floor(u) < 0.5
	}
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v*255 + 0.5)
}

// mix is a 64-bit hash of (a, b): splitmix64's finaliser over a combination.
func mix(a, b uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ (b + 0x632be59bd9b4e019)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
