package serve

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the service's Prometheus series, in a registry of its own so
// several servers (tests) can live in one process.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inference prometheus.Histogram
	batch     prometheus.Histogram
	es        *prometheus.HistogramVec
	stages    *prometheus.HistogramVec
	healthy   prometheus.Gauge
}

// latencyBuckets run from 1 ms to about 16 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 15)

func newMetrics(queueDepth func() float64) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "essync_http_requests_total", Help: "HTTP requests answered, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "essync_http_request_duration_seconds", Help: "Time to answer an HTTP request, by endpoint and status code.",
			Buckets: latencyBuckets,
		}, []string{"endpoint", "code"}),
		inference: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "essync_inference_duration_seconds", Help: "Time of one model call (a batch of queued query photos, or of passes with MixPasses).",
			Buckets: latencyBuckets,
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "essync_inference_batch_size", Help: "Query photos per model call (passes with MixPasses).",
			Buckets: []float64{1, 2, 4, 8, 16, 32},
		}),
		es: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "essync_elasticsearch_duration_seconds", Help: "Time of Elasticsearch calls, by operation.",
			Buckets: latencyBuckets,
		}, []string{"op"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "essync_search_stage_duration_seconds",
			Help:    "Where a search by photo spends its time before Elasticsearch: decode (decode and resize the photo), queue (waiting for the model), model (the model call it was part of, focus crops included); per pass, with crop (making a focus pass's tensor), for a query alone in the service and with MixPasses.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"stage"}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "essync_healthy", Help: "1 when Elasticsearch answers and the alias holds vectors of the served model, else 0.",
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inference, m.batch, m.es, m.stages, m.healthy,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "essync_inference_queue_depth", Help: "Query images being decoded, waiting for or in the model.",
		}, queueDepth),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeInference records one model call.
func (m *metrics) observeInference(n int, d time.Duration) {
	m.inference.Observe(d.Seconds())
	m.batch.Observe(float64(n))
}

// observeStage records the time one search spent in one stage.
func (m *metrics) observeStage(stage string, d time.Duration) {
	m.stages.WithLabelValues(stage).Observe(d.Seconds())
}

// observeES records one Elasticsearch call.
func (m *metrics) observeES(op string, start time.Time) {
	m.es.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// instrument counts and times every request of next under endpoint.
func (m *metrics) instrument(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		code := strconv.Itoa(rec.status)
		m.requests.WithLabelValues(endpoint, code).Inc()
		m.latency.WithLabelValues(endpoint, code).Observe(time.Since(start).Seconds())
	})
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
