package embed

import (
	"context"
	"image"
	"image/color"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/essync/essync/internal/cputime"
	"github.com/essync/essync/internal/parallel"
)

// BenchmarkLayoutVsEmbed measures what the offer groups' layout verifier
// costs against embedding, in the same process on the same generated
// 800×800 JPEGs (see benchJPEGs):
//
//   - embed-ms: Embed with the default model, no cache, per image (wall);
//   - keep-ms: what the embedder's hook adds per image it decodes (the
//     Layout of pixels already in memory, layouthook.go), on all cores;
//   - layout-ms: reading, decoding and LayoutOf per image, on all cores:
//     a layout cache miss at grouping time;
//   - match-same-ms: Match of a Layout with one of a shop copy (the JPEG
//     re-encoded at quality 35 and padded), stopping at LayoutCut as the
//     verifier does: a confirmed link;
//   - match-other-ms: Match of two different images, a full search: a
//     turned-down link (the worst case);
//   - copies-missed: shop copies whose Match stays below LayoutCut (of 240:
//     links the verifier would wrongly turn down);
//
// and each one's ratio to embed-ms (…/embed), in wall time and in process
// CPU time. A run's verifier cost is products-on-candidate-links × layout +
// confirmed links × match-same + turned-down links × match-other. Run:
//
//	go test ./embed -run '^$' -bench LayoutVsEmbed -benchtime 1x
func BenchmarkLayoutVsEmbed(b *testing.B) {
	paths := benchJPEGs(b)
	e := newTestEmbedder(b, defaultCard(b), Options{BatchSize: benchBatch})
	inputs := benchInputs(paths)
	datas := make([][]byte, len(paths))
	for i, p := range paths {
		d, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		datas[i] = d
	}
	// The shop copies for the confirmed-link case: padded on white, q35.
	copies := make([]*Layout, len(paths))
	for i := range copies {
		l, err := LayoutOf("copy", shopCopy(b, datas[i]), 0)
		if err != nil {
			b.Fatal(err)
		}
		copies[i] = &l
	}
	decoded := make([]image.Image, len(paths)) // as the embedder decodes them
	for i, d := range datas {
		img, err := decodeImage(paths[i], d, 0, e.card)
		if err != nil {
			b.Fatal(err)
		}
		decoded[i] = img
	}
	var embedWall, keepWall, layoutWall, sameWall, otherWall time.Duration
	var embedCPU, keepCPU, layoutCPU, sameCPU, otherCPU time.Duration
	var sames, others, missed int
	b.ResetTimer()
	for range b.N {
		start, cpu := time.Now(), cputime.Process()
		if _, err := e.Embed(context.Background(), inputs, nil); err != nil {
			b.Fatal(err)
		}
		embedWall, embedCPU = embedWall+time.Since(start), embedCPU+cputime.Process()-cpu

		start, cpu = time.Now(), cputime.Process()
		parallel.For(len(decoded), runtime.GOMAXPROCS(0), func(i int) { layoutOfImage(decoded[i]) })
		keepWall, keepCPU = keepWall+time.Since(start), keepCPU+cputime.Process()-cpu

		layouts := make([]*Layout, len(paths))
		start, cpu = time.Now(), cputime.Process()
		parallel.For(len(paths), runtime.GOMAXPROCS(0), func(i int) {
			data, err := os.ReadFile(paths[i])
			if err != nil {
				b.Error(err)
				return
			}
			l, err := LayoutOf(paths[i], data, 0)
			if err != nil {
				b.Error(err)
			}
			layouts[i] = &l
		})
		layoutWall, layoutCPU = layoutWall+time.Since(start), layoutCPU+cputime.Process()-cpu

		start, cpu = time.Now(), cputime.Process()
		for i, l := range layouts {
			if l.Match(copies[i], LayoutCut) < LayoutCut {
				missed++ // a confirmed link turned down: recall lost
			}
			sames++
		}
		sameWall, sameCPU = sameWall+time.Since(start), sameCPU+cputime.Process()-cpu

		start, cpu = time.Now(), cputime.Process()
		for i := 0; i+1 < len(layouts); i += 2 {
			layouts[i].Match(layouts[i+1], LayoutCut)
			others++
		}
		otherWall, otherCPU = otherWall+time.Since(start), otherCPU+cputime.Process()-cpu
	}
	b.StopTimer()
	images := float64(len(paths) * b.N)
	ms := func(d time.Duration, n float64) float64 { return d.Seconds() * 1000 / n }
	embedMS, embedCPUMS := ms(embedWall, images), ms(embedCPU, images)
	b.ReportMetric(float64(missed)/float64(b.N), "copies-missed")
	b.ReportMetric(embedMS, "embed-ms")
	b.ReportMetric(ms(keepWall, images), "keep-ms")
	b.ReportMetric(ms(layoutWall, images), "layout-ms")
	b.ReportMetric(ms(keepWall, images)/embedMS, "keep/embed")
	b.ReportMetric(ms(keepCPU, images)/embedCPUMS, "cpu-keep/embed")
	b.ReportMetric(ms(sameWall, float64(sames)), "match-same-ms")
	b.ReportMetric(ms(otherWall, float64(others)), "match-other-ms")
	b.ReportMetric(ms(layoutWall, images)/embedMS, "layout/embed")
	b.ReportMetric(ms(sameWall, float64(sames))/embedMS, "match-same/embed")
	b.ReportMetric(ms(otherWall, float64(others))/embedMS, "match-other/embed")
	b.ReportMetric(ms(layoutCPU, images)/embedCPUMS, "cpu-layout/embed")
	b.ReportMetric(ms(sameCPU, float64(sames))/embedCPUMS, "cpu-match-same/embed")
	b.ReportMetric(ms(otherCPU, float64(others))/embedCPUMS, "cpu-match-other/embed")
}

// shopCopy is what a shop makes of a photo: padded on white, JPEG quality 35.
func shopCopy(b *testing.B, data []byte) []byte {
	b.Helper()
	img, err := decodeImage("copy", data, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	return encode(b, onBackground(img, color.White, 0.12), 35)
}

// BenchmarkLayoutOf is LayoutOf on one generated 800×800 JPEG (a profile target).
func BenchmarkLayoutOf(b *testing.B) {
	data, err := os.ReadFile(benchJPEGs(b)[0])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := LayoutOf("bench", data, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatchOther is Match of two different images: the full search.
func BenchmarkMatchOther(b *testing.B) {
	paths := benchJPEGs(b)
	var ls [2]Layout
	for i := range ls {
		data, err := os.ReadFile(paths[i])
		if err != nil {
			b.Fatal(err)
		}
		if ls[i], err = LayoutOf("bench", data, 0); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		ls[0].Match(&ls[1], LayoutCut)
	}
}
