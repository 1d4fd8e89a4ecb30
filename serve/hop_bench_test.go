package serve

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// hopAnswer is the size of a real 10-hit answer of the benchmark's index
// (≈ 2 KiB of JSON): what the hop micro-benchmark's handler sends back.
var hopAnswer = append(bytes.Repeat([]byte(`{"product_id":"p-00001","score":0.98,"source":{"title":"Synthetic product p-00001","price":2,"shop":"shop-1","image_name":"astronaut-orig.jpg"}},`), 14), '\n')

// BenchmarkHTTPHop times the HTTP hop a search adds to its raw parts, with
// no model and no Elasticsearch: a loopback round trip that uploads an e2e
// photo (15 KiB on average, as image/jpeg) and reads a 2 KiB answer, in
// steps from a raw TCP exchange of the same bytes (the floor) through
// net/http with an empty handler, the service's body read, its answer write
// and its metrics wrapper, and with a client whose write buffer holds the
// whole photo. Sequential requests, one client, like the 1-client target:
//
//	go test -run '^$' -bench HTTPHop -benchtime 2000x -count 5 ./serve/
func BenchmarkHTTPHop(b *testing.B) {
	names, _ := filepath.Glob(filepath.Join(e2eDir, "images", "*.jpg"))
	if len(names) == 0 {
		b.Fatalf("no photos in %s/images", e2eDir)
	}
	var photos [][]byte
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			b.Fatal(err)
		}
		photos = append(photos, data)
	}
	gaps := []hopGap{{}, {5 * time.Millisecond, false}, {5 * time.Millisecond, true}}
	for _, gap := range gaps {
		b.Run("tcp-floor/"+gap.String(), func(b *testing.B) { benchTCPFloor(b, photos, gap) })
	}

	readAndAnswer := func(w http.ResponseWriter, r *http.Request) {
		if _, err := readAll(r.Body, r.ContentLength, 16<<20); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(hopAnswer)))
		w.Write(hopAnswer)
	}
	m := newMetrics(func() float64 { return 0 })
	mux := http.NewServeMux()
	mux.Handle("POST /v1/search", m.instrument("search", http.HandlerFunc(readAndAnswer)))
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"discard-body", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Write(hopAnswer)
		})},
		{"read-body+answer", http.HandlerFunc(readAndAnswer)},
		{"mux+metrics", mux},
	}
	clients := []struct {
		name string
		tr   func() *http.Transport
	}{
		{"client-default", func() *http.Transport { return &http.Transport{MaxIdleConnsPerHost: 4} }},
		{"client-64KiB-buffers", func() *http.Transport {
			return &http.Transport{MaxIdleConnsPerHost: 4, WriteBufferSize: 64 << 10, ReadBufferSize: 64 << 10}
		}},
	}
	// A hand-written HTTP/1.1 client on one kept-alive connection against the
	// service's routes: what net/http's server costs without its client.
	for _, gap := range gaps {
		b.Run("mux+metrics/raw-client/"+gap.String(), func(b *testing.B) { benchRawHTTPClient(b, mux, photos, gap) })
	}
	for _, h := range handlers {
		for _, c := range clients {
			for _, gap := range gaps {
				b.Run(fmt.Sprintf("%s/%s/%s", h.name, c.name, gap), func(b *testing.B) {
					hs := httptest.NewServer(h.h)
					defer hs.Close()
					client := &http.Client{Transport: c.tr()}
					defer client.CloseIdleConnections()
					url := hs.URL + "/v1/search?k=10"
					for i := range 20 {
						if err := postDrained(client, url, "image/jpeg", photos[i%len(photos)]); err != nil {
							b.Fatal(err)
						}
					}
					lat := make(latencies, 0, b.N)
					b.ResetTimer()
					for i := range b.N {
						gap.wait()
						t0 := time.Now()
						if err := postDrained(client, url, "image/jpeg", photos[i%len(photos)]); err != nil {
							b.Fatal(err)
						}
						lat = append(lat, time.Since(t0))
					}
					b.ReportMetric(float64(lat.pct(0.5).Nanoseconds())/1000, "p50-µs")
				})
			}
		}
	}
}

// hopGap is what the client does between two requests: nothing, sleep (the
// process's threads park, as between searches that take milliseconds) or
// spin (the thread keeps its core).
type hopGap struct {
	d    time.Duration
	spin bool
}

func (g hopGap) String() string {
	switch {
	case g.d == 0:
		return "back-to-back"
	case g.spin:
		return "spin-" + g.d.String()
	}
	return "sleep-" + g.d.String()
}

func (g hopGap) wait() {
	if g.d == 0 {
		return
	}
	if !g.spin {
		time.Sleep(g.d)
		return
	}
	for t0 := time.Now(); time.Since(t0) < g.d; {
	}
}

// benchTCPFloor exchanges the same bytes as an HTTP search over one raw
// loopback TCP connection: the client writes a length-prefixed photo in one
// write, the server reads it and answers hopAnswer in one write.
func benchTCPFloor(b *testing.B, photos [][]byte, gap hopGap) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		for {
			var n int
			if _, err := fmt.Fscanf(br, "%d\n", &n); err != nil {
				return
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(br, buf); err != nil {
				return
			}
			if _, err := conn.Write(hopAnswer); err != nil {
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	answer := make([]byte, len(hopAnswer))
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		gap.wait()
		t0 := time.Now()
		p := photos[i%len(photos)]
		msg := append([]byte(strconv.Itoa(len(p))+"\n"), p...)
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, answer); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(lat.pct(0.5).Nanoseconds())/1000, "p50-µs")
}

// benchRawHTTPClient sends searches to h over one loopback connection with a
// hand-written HTTP/1.1 request (headers and photo in one write) and reads
// the answer by its Content-Length.
func benchRawHTTPClient(b *testing.B, h http.Handler, photos [][]byte, gap hopGap) {
	hs := httptest.NewServer(h)
	defer hs.Close()
	conn, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	var msg []byte
	send := func(p []byte) {
		msg = fmt.Appendf(msg[:0], "POST /v1/search?k=10 HTTP/1.1\r\nHost: %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", hs.Listener.Addr(), len(p))
		msg = append(msg, p...)
		if _, err := conn.Write(msg); err != nil {
			b.Fatal(err)
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, res.Body); err != nil || res.StatusCode != http.StatusOK {
			b.Fatalf("answer %s: %v", res.Status, err)
		}
		res.Body.Close()
	}
	for i := range 20 {
		send(photos[i%len(photos)])
	}
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		gap.wait()
		t0 := time.Now()
		send(photos[i%len(photos)])
		lat = append(lat, time.Since(t0))
	}
	b.ReportMetric(float64(lat.pct(0.5).Nanoseconds())/1000, "p50-µs")
}
