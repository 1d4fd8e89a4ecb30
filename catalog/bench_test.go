package catalog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
