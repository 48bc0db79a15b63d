package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keyward/keyward/internal/authn/jwks"
	"github.com/keyward/keyward/internal/core"
)

// metrics are a server's Prometheus collectors, in a registry of its own
// (several servers share a test process), with the Go runtime and process
// collectors. It is the core's Meter; gauges read the core and the store
// when scraped. docs/operations.md lists every metric.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	authns        *prometheus.CounterVec
	bcryptWait    prometheus.Histogram
	bcryptRefused prometheus.Counter
	auditAppended prometheus.Counter
	auditBatch    prometheus.Histogram
	// kinds are keyward's collectors with their metric type, for MetricDocs.
	kinds []typedCollector
}

type typedCollector struct {
	typ string // counter, gauge or histogram
	c   prometheus.Collector
}

// register adds keyward collectors of one metric type to the registry.
func (m *metrics) register(typ string, cs ...prometheus.Collector) {
	for _, c := range cs {
		m.reg.MustRegister(c)
		m.kinds = append(m.kinds, typedCollector{typ, c})
	}
}

// auditStats is what a store with an audit journal (SQLite) tells of it.
type auditStats interface {
	AuditBacklog() int
	AuditIngestFailures() int64
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keyward_http_requests_total",
			Help: "HTTP requests by route (the ServeMux pattern) and status."}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "keyward_http_request_duration_seconds",
			Help:    "HTTP request latency by route and status.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}}, []string{"route", "status"}),
		authns: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keyward_authentications_total",
			Help: "Authentication attempts by surface, method (token, api_key, password, api_key_verify, authn-jwt…) and outcome (success, failure, throttled, error)."},
			[]string{"surface", "method", "outcome"}),
		bcryptWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "keyward_bcrypt_wait_seconds",
			Help:    "Time password checks waited for a bcrypt worker.",
			Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10}}),
		bcryptRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "keyward_bcrypt_refusals_total",
			Help: "Password checks refused with 429 because the bcrypt queue's expected wait exceeded --login-max-wait (or the queue was full)."}),
		auditAppended: prometheus.NewCounter(prometheus.CounterOpts{Name: "keyward_audit_appended_total",
			Help: "Audit records committed by the group commit (authentications, verifications, reads, denials)."}),
		auditBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "keyward_audit_batch_size",
			Help:    "Records per group-commit append.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.register("counter", m.requests, m.authns, m.bcryptRefused, m.auditAppended)
	m.register("histogram", m.duration, m.bcryptWait, m.auditBatch)
	fetches, fetchSeconds := jwks.Collectors()
	m.register("counter", fetches)
	m.register("histogram", fetchSeconds)
	return m
}

// watch registers the gauges read from the core and the store at scrape.
func (m *metrics) watch(c *core.Core, st any) {
	gauge := func(name, help string, f func() float64) {
		m.register("gauge", prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("keyward_bcrypt_queue_length", "Password checks admitted and waiting for a bcrypt worker.",
		func() float64 { return float64(c.Stats().BcryptQueue) })
	gauge("keyward_bcrypt_workers_busy", "bcrypt workers at work.",
		func() float64 { return float64(c.Stats().BcryptBusy) })
	m.register("gauge", cacheEntries{c: c, desc: prometheus.NewDesc("keyward_cache_entries",
		"Entries of the in-memory caches by kind (keys: API keys; principals; tokens: verified tokens).", []string{"kind"}, nil)})
	backlog, failures := func() float64 { return 0 }, func() float64 { return 0 }
	if as, ok := st.(auditStats); ok {
		backlog = func() float64 { return float64(as.AuditBacklog()) }
		failures = func() float64 { return float64(as.AuditIngestFailures()) }
	}
	gauge("keyward_audit_journal_backlog", "Audit records in the journal waiting for the table (SQLite; 0 on PostgreSQL, which has no journal).", backlog)
	m.register("counter", prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "keyward_audit_ingest_failures_total",
		Help: "Failed moves of the audit journal into the table (each is retried; SQLite only)."}, failures))
}

// cacheEntries collects keyward_cache_entries{kind} from one Stats call.
type cacheEntries struct {
	c    *core.Core
	desc *prometheus.Desc
}

func (ce cacheEntries) Describe(ch chan<- *prometheus.Desc) { ch <- ce.desc }
func (ce cacheEntries) Collect(ch chan<- prometheus.Metric) {
	st := ce.c.Stats()
	for kind, n := range map[string]int{"keys": st.CachedKeys, "principals": st.CachedPrincipals, "tokens": st.CachedTokens} {
		ch <- prometheus.MustNewConstMetric(ce.desc, prometheus.GaugeValue, float64(n), kind)
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	s := strconv.Itoa(status)
	m.requests.WithLabelValues(route, s).Inc()
	m.duration.WithLabelValues(route, s).Observe(d.Seconds())
}

// The core.Meter methods.

func (m *metrics) Authentication(surface, method, outcome string) {
	m.authns.WithLabelValues(surface, method, outcome).Inc()
}
func (m *metrics) BcryptWait(d time.Duration) { m.bcryptWait.Observe(d.Seconds()) }
func (m *metrics) BcryptRefused()             { m.bcryptRefused.Inc() }
func (m *metrics) AuditAppended(n int)        { m.auditAppended.Add(float64(n)) }
func (m *metrics) AuditBatch(n int)           { m.auditBatch.Observe(float64(n)) }

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// ServeMetrics answers /metrics alone on ln (--metrics-listen) until ctx
// ends; the main listener then has no /metrics.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// MetricsHandler serves /metrics alone, for the --metrics-listen listener.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	return mux
}

// MetricDoc is one keyward metric as docs/operations.md lists it.
type MetricDoc struct {
	Name, Type, Labels, Help string
}

// descRE reads what prometheus.Desc.String says of a metric (Desc has no
// accessors).
var descRE = regexp.MustCompile(`fqName: "([^"]+)", help: "((?:[^"\\]|\\.)*)", .*variableLabels: \{([^}]*)\}`)

// MetricDocs lists keyward's own metrics (not the Go runtime's and the
// process's), sorted by name: the source of the metrics table of
// docs/operations.md.
func (s *Server) MetricDocs() []MetricDoc {
	var out []MetricDoc
	for _, tc := range s.metrics.kinds {
		ch := make(chan *prometheus.Desc, 8)
		tc.c.Describe(ch)
		close(ch)
		for d := range ch {
			m := descRE.FindStringSubmatch(d.String())
			if m == nil {
				continue
			}
			help, err := strconv.Unquote(`"` + m[2] + `"`)
			if err != nil {
				help = m[2]
			}
			out = append(out, MetricDoc{Name: m[1], Type: tc.typ, Labels: m[3], Help: help})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
