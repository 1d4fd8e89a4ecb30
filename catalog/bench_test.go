package catalog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// benchCatalog writes n products spread over 500 image files, as a JSON
// array (pretty) or NDJSON, and returns the catalog bytes and images folder.
func benchCatalog(b *testing.B, n int, array bool) ([]byte, string) {
	b.Helper()
	dir := b.TempDir()
	const images = 500
	for i := range images {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("img-%03d.jpg", i)), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if array {
		buf.WriteString("[\n")
	}
	for i := range n {
		if array && i > 0 {
			buf.WriteString(",\n")
		}
		fmt.Fprintf(&buf, `{"productId":"p-%07d","imageName":"img-%03d.jpg","title":"Product number %d, a fine thing","price":%d.99,"shop":"shop-%d","url":"https://shop.example/p/%d","tags":["a","b","c"]}`,
			i, i%images, i, i%100, i%7, i)
		if !array {
			buf.WriteByte('\n')
		}
	}
	if array {
		buf.WriteString("\n]\n")
	}
	return buf.Bytes(), dir
}

// BenchmarkRead measures reading and validating a 20 000-product catalog,
// including one symlink-resolving path check per product.
func BenchmarkRead(b *testing.B) {
	for _, tc := range []struct {
		name  string
		array bool
	}{{"ndjson", false}, {"array", true}} {
		b.Run(tc.name, func(b *testing.B) {
			data, dir := benchCatalog(b, 20000, tc.array)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				products, skipped, err := ReadReader(bytes.NewReader(data), "bench", Options{ImagesDir: dir})
				if err != nil || len(products) != 20000 || len(skipped) != 0 {
					b.Fatalf("%d products, %d skips, %v", len(products), len(skipped), err)
				}
			}
		})
	}
}

// BenchmarkReadHeap reports the heap a read catalog keeps per product (the
// products alive, after a GC) with the parsed field map and with
// RecordsOnly, on the 7-field records of BenchmarkRead:
//
//	go test -run '^$' -bench ReadHeap -benchtime 3x ./catalog/
func BenchmarkReadHeap(b *testing.B) {
	const n = 20000
	data, dir := benchCatalog(b, n, false)
	for _, tc := range []struct {
		name string
		only bool
	}{{"fields", false}, {"records-only", true}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				products, _, err := ReadReader(bytes.NewReader(data), "bench", Options{ImagesDir: dir, RecordsOnly: tc.only})
				if err != nil || len(products) != n {
					b.Fatalf("%d products, %v", len(products), err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/product")
				runtime.KeepAlive(products)
			}
		})
	}
	b.ReportMetric(float64(len(data))/n, "record-B")
}
