package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Server is the HTTP face of a Searcher: the JSON API, /healthz, /metrics,
// the page at / and the catalog's images.
type Server struct {
	*Searcher
	mux *http.ServeMux
}

// New starts a Searcher for cfg and builds the routes. Close stops it.
func New(cfg Config) (*Server, error) {
	s, err := NewSearcher(cfg)
	if err != nil {
		return nil, err
	}
	srv := &Server{Searcher: s, mux: http.NewServeMux()}
	m := s.metrics
	srv.mux.Handle("POST /v1/search", m.instrument("search", http.HandlerFunc(srv.handleSearch)))
	srv.mux.Handle("GET /v1/products/{id}/similar", m.instrument("similar", http.HandlerFunc(srv.handleSimilar)))
	srv.mux.Handle("GET /healthz", m.instrument("healthz", http.HandlerFunc(srv.handleHealth)))
	srv.mux.Handle("GET /metrics", m.instrument("metrics", m.handler()))
	images, err := imagesHandler(s.cfg.ImagesDir)
	if err != nil {
		s.Close()
		return nil, err
	}
	srv.mux.Handle("GET /images/", m.instrument("images", http.StripPrefix("/images/", images)))
	srv.mux.Handle("GET /", m.instrument("page", pageHandler()))
	srv.mux.Handle("GET /v1/", m.instrument("unknown", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, refuse(http.StatusNotFound, "no endpoint %s %s: use POST /v1/search or GET /v1/products/{id}/similar", r.Method, r.URL.Path))
	})))
	return srv, nil
}

// ServeHTTP routes a request.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { srv.mux.ServeHTTP(w, r) }

// writeJSON answers v as JSON with status: encoded first, then sent with its
// Content-Length in one write (not chunked in 4 KiB pieces as it is encoded).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		slog.Error("encoding a response failed", "err", err)
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error: the answer could not be encoded"}`)
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := w.Write(body); err != nil {
		slog.Debug("writing a response failed", "err", err)
	}
}

// writeError answers err as {"error": reason} with its status (500 for an
// unexpected error, whose details go to the log, not to the caller).
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if r.Context().Err() != nil {
			e = refuse(499, "client closed the request") // nobody reads it; it keeps the metrics honest
		} else {
			slog.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			e = refuse(http.StatusInternalServerError, "internal error: %v", err)
		}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, map[string]string{"error": e.Reason})
}

// handleSearch answers POST /v1/search: the photo as the raw body (image/*)
// or as the multipart field "image".
func (srv *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		writeError(w, r, err)
		return
	}
	// Refuse before reading the body: an unhealthy service or a full queue
	// costs the caller one round trip and the server nothing.
	if st := srv.health.current(); !st.OK {
		writeError(w, r, refuse(http.StatusServiceUnavailable, "%s", st.Reason))
		return
	}
	if !srv.queue.tryAcquire() {
		writeError(w, r, srv.busy())
		return
	}
	name, data, err := readUpload(w, r, srv.cfg.MaxBodyBytes)
	if err != nil {
		srv.queue.release()
		writeError(w, r, err)
		return
	}
	res, err := srv.searchHolding(r.Context(), name, data, q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// readUpload returns the uploaded photo, at most limit bytes.
func readUpload(w http.ResponseWriter, r *http.Request, limit int64) (name string, data []byte, err error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	ctype, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var body io.Reader
	name = "upload"
	declared := int64(-1) // the photo's length when the body is the photo
	switch {
	case strings.HasPrefix(ctype, "image/"):
		body, declared = r.Body, r.ContentLength
	case ctype == "multipart/form-data":
		if params["boundary"] == "" {
			return "", nil, refuse(http.StatusBadRequest, "multipart body without a boundary")
		}
		mr, err := r.MultipartReader()
		if err != nil {
			return "", nil, refuse(http.StatusBadRequest, "multipart body: %v", err)
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				return "", nil, refuse(http.StatusBadRequest, `multipart body has no field "image"`)
			}
			if err != nil {
				return "", nil, uploadError(err, limit)
			}
			if part.FormName() == "image" {
				if part.FileName() != "" {
					name = part.FileName()
				}
				body = part
				break
			}
		}
	default:
		return "", nil, refuse(http.StatusUnsupportedMediaType,
			"Content-Type %q: send the photo as the body with an image/* type, or as the multipart/form-data field \"image\"", ctype)
	}
	data, err = readAll(body, declared, limit)
	if err != nil {
		return "", nil, uploadError(err, limit)
	}
	if len(data) == 0 {
		return "", nil, refuse(http.StatusBadRequest, "the photo is empty")
	}
	return name, data, nil
}

// readAll is io.ReadAll, or for a raw body of declared length (at most
// limit) one read into a buffer of that size instead of a doubling series of
// copies. net/http ends the body at its Content-Length.
func readAll(body io.Reader, declared, limit int64) ([]byte, error) {
	if declared <= 0 || declared > limit {
		return io.ReadAll(body)
	}
	buf := make([]byte, declared)
	if _, err := io.ReadFull(body, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func uploadError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return refuse(http.StatusRequestEntityTooLarge, "the upload is larger than %d bytes", limit)
	}
	return refuse(http.StatusBadRequest, "reading the upload: %v", err)
}

// handleSimilar answers GET /v1/products/{id}/similar?k=.
func (srv *Server) handleSimilar(w http.ResponseWriter, r *http.Request) {
	k := 0
	if v := r.URL.Query().Get("k"); v != "" {
		var err error
		if k, err = strconv.Atoi(v); err != nil || k < 1 {
			writeError(w, r, refuse(http.StatusBadRequest, "k=%q: want a whole number of at least 1", v))
			return
		}
	}
	res, err := srv.Similar(r.Context(), r.PathValue("id"), k)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// handleHealth answers 200 when searches are answered, else 503 with the reason.
func (srv *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	st := srv.health.current()
	body := map[string]any{"ok": st.OK, "alias": srv.cfg.Alias, "index": st.Index, "index_model": st.Model,
		"model": srv.model, "checked_at": st.Checked.UTC().Format(time.RFC3339Nano)}
	if !st.OK {
		body["reason"] = st.Reason
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// Run serves h on ln until ctx is cancelled, then stops accepting
// connections and waits up to drain for in-flight requests to finish
// (http.Server.Shutdown), so a SIGTERM never cuts an answer in half.
func Run(ctx context.Context, ln net.Listener, h http.Handler, drain time.Duration) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("drain in-flight requests: %w", err)
	}
	<-errc // http.ErrServerClosed
	return nil
}
