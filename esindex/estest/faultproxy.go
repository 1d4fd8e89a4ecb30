package estest

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

// FaultProxy sits on loopback in front of the real Elasticsearch and breaks
// some _bulk requests in the ways a flaky cluster does. Faults follow a fixed
// schedule over the first bulk requests, so every test loop ends by itself.
// It is a fault injector in front of the real server, never a stand-in for it.
type FaultProxy struct {
	t      testing.TB
	target *url.URL
	proxy  *httputil.ReverseProxy
	srv    *http.Server
	URL    string
	// Paths are the request path suffixes that get faults (default "/_bulk");
	// set before the first request.
	Paths []string

	mu       sync.Mutex
	bulks    int
	schedule []Fault // fault for the n-th bulk request; past the end, rest
	rest     Fault
	counts   map[Fault]int
	stalled  chan struct{} // closed when the first Stall request arrives
	stallOne sync.Once
}

// Fault is what the proxy does to one _bulk request.
type Fault int

// The faults a FaultProxy can inject.
const (
	None              Fault = iota // forward unchanged
	Reject429                      // answer 429 without forwarding
	DropBefore                     // close the connection without forwarding
	DropAfter                      // forward, then close the connection without answering
	ItemRejections                 // forward, then mark every other item as a 429 in the answer
	Stall                          // hold the request until the client goes away or the proxy closes
	Refuse400                      // answer 400 (a malformed request) without forwarding
	Refuse403                      // answer 403 (the user lacks the write privilege) without forwarding
	Refuse413                      // answer 413 (request larger than http.max_content_length) without forwarding
	ItemRejectionsAll              // forward, then mark every item as a 429: the server applied them all
)

// refusals are the whole-request answers Elasticsearch gives for the
// Refuse faults, with the server's own error shapes.
var refusals = map[Fault]struct {
	status int
	body   string
}{
	Refuse400: {400, `{"error":{"type":"illegal_argument_exception","reason":"Malformed action/metadata line [1] (injected by test proxy)"},"status":400}`},
	Refuse403: {403, `{"error":{"type":"security_exception","reason":"action [indices:data/write/bulk] is unauthorized for user [essync] with effective roles [reader] on indices [products-*], this action is granted by the index privileges [create_doc,create,delete,index,write,all]"},"status":403}`},
	Refuse413: {413, ``},
}

// NewFaultProxy starts a proxy to esURL on 127.0.0.1; the n-th _bulk request
// gets schedule[n]. Other requests pass through. It stops with the test.
func NewFaultProxy(t testing.TB, esURL string, schedule []Fault) *FaultProxy {
	t.Helper()
	target, err := url.Parse(esURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{t: t, target: target, schedule: schedule, counts: map[Fault]int{}, stalled: make(chan struct{})}
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

// Count returns how often fault f was injected so far, so a test can prove
// it exercised what it meant to.
func (p *FaultProxy) Count(f Fault) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[f]
}

// Then makes every _bulk request past the schedule get fault f (None by
// default), e.g. NewFaultProxy(t, url, nil).Then(Refuse403) refuses them all.
func (p *FaultProxy) Then(f Fault) *FaultProxy {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rest = f
	return p
}

// Stalled is closed once the first Stall fault holds a request.
func (p *FaultProxy) Stalled() <-chan struct{} { return p.stalled }

func (p *FaultProxy) next() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.rest
	if p.bulks < len(p.schedule) {
		f = p.schedule[p.bulks]
	}
	p.bulks++
	p.counts[f]++
	return f
}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	paths := p.Paths
	if len(paths) == 0 {
		paths = []string{"/_bulk"}
	}
	faulty := false
	for _, suffix := range paths {
		faulty = faulty || strings.HasSuffix(r.URL.Path, suffix)
	}
	if !faulty {
		p.proxy.ServeHTTP(w, r)
		return
	}
	f := p.next()
	if ref, ok := refusals[f]; ok {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		if ref.body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(ref.status)
		io.WriteString(w, ref.body)
		return
	}
	switch f {
	case Stall:
		p.stallOne.Do(func() { close(p.stalled) })
		<-r.Context().Done()
		hangUp(w)
	case Reject429:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"type":"es_rejected_execution_exception","reason":"injected by test proxy"},"status":429}`)
	case DropBefore:
		hangUp(w)
	case DropAfter:
		res := p.forward(r)
		res.Body.Close()
		hangUp(w)
	case ItemRejections:
		res := p.forward(r)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		copyHeader(w, res)
		w.WriteHeader(res.StatusCode)
		w.Write(rejectItems(p.t, body, 2))
	case ItemRejectionsAll:
		res := p.forward(r)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		copyHeader(w, res)
		w.WriteHeader(res.StatusCode)
		w.Write(rejectItems(p.t, body, 1))
	default:
		p.proxy.ServeHTTP(w, r)
	}
}

func (p *FaultProxy) forward(r *http.Request) *http.Response {
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

// rejectItems rewrites a bulk answer so that every every-th item (counting
// from the last of each group) reports a 429, as Elasticsearch does when its
// write queue is full. The operations were in fact applied, so a retry must
// not duplicate or undo them.
func rejectItems(t testing.TB, body []byte, every int) []byte {
	var blk map[string]any
	if err := json.Unmarshal(body, &blk); err != nil {
		t.Errorf("proxy: bulk answer: %v", err)
		return body
	}
	items, _ := blk["items"].([]any)
	for i, it := range items {
		if i%every == every-1 {
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
