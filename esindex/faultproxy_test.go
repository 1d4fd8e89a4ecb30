package esindex_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// faultProxy sits on loopback in front of the real Elasticsearch and breaks
// some _bulk requests in the ways a flaky cluster does. Faults follow a fixed
// schedule over the first bulk requests, so every test loop ends by itself.
type faultProxy struct {
	t      *testing.T
	target *url.URL
	proxy  *httputil.ReverseProxy
	srv    *http.Server
	URL    string

	mu       sync.Mutex
	bulks    int
	schedule []fault // fault for the n-th bulk request; past the end, none
	counts   map[fault]int
}

type fault int

const (
	none           fault = iota
	reject429            // answer 429 without forwarding
	dropBefore           // close the connection without forwarding
	dropAfter            // forward, then close the connection without answering
	itemRejections       // forward, then mark every other item as a 429 in the answer
)

func newFaultProxy(t *testing.T, esURL string, schedule []fault) *faultProxy {
	t.Helper()
	target, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, target: target, schedule: schedule, counts: map[fault]int{}}
	p.proxy = httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.srv = &http.Server{Handler: p}
	go p.srv.Serve(ln)
	p.URL = "http://" + ln.Addr().String()
	t.Cleanup(func() { p.srv.Close() })
	return p
}

func (p *faultProxy) next() fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := none
	if p.bulks < len(p.schedule) {
		f = p.schedule[p.bulks]
	}
	p.bulks++
	p.counts[f]++
	return f
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/_bulk") {
		p.proxy.ServeHTTP(w, r)
		return
	}
	switch p.next() {
	case reject429:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"type":"es_rejected_execution_exception","reason":"injected by test proxy"},"status":429}`)
	case dropBefore:
		hangUp(w)
	case dropAfter:
		res := p.forward(r)
		res.Body.Close()
		hangUp(w)
	case itemRejections:
		res := p.forward(r)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		copyHeader(w, res)
		w.WriteHeader(res.StatusCode)
		w.Write(rejectEveryOtherItem(p.t, body))
	default:
		p.proxy.ServeHTTP(w, r)
	}
}

func (p *faultProxy) forward(r *http.Request) *http.Response {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.RequestURI = p.target.Scheme, p.target.Host, ""
	out.Header.Del("Accept-Encoding") // the answer is rewritten as plain JSON
	res, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		p.t.Errorf("proxy forward: %v", err)
		return &http.Response{StatusCode: 502, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}
	}
	return res
}

func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func copyHeader(w http.ResponseWriter, res *http.Response) {
	for k, vs := range res.Header {
		if k == "Content-Length" {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
}

// rejectEveryOtherItem rewrites a bulk answer so that every other item
// reports a 429, as Elasticsearch does when its write queue is full. The
// documents were in fact written, so a retry must not duplicate them.
func rejectEveryOtherItem(t *testing.T, body []byte) []byte {
	var blk map[string]any
	if err := json.Unmarshal(body, &blk); err != nil {
		t.Errorf("proxy: bulk answer: %v", err)
		return body
	}
	items, _ := blk["items"].([]any)
	for i, it := range items {
		if i%2 == 1 {
			for op := range it.(map[string]any) {
				it.(map[string]any)[op] = map[string]any{
					"status": 429,
					"error":  map[string]any{"type": "es_rejected_execution_exception", "reason": "injected by test proxy"},
				}
			}
		}
	}
	blk["errors"] = true
	var buf bytes.Buffer
	json.NewEncoder(&buf).Encode(blk)
	return buf.Bytes()
}
