package server

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the histogram bounds in seconds.
var latencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

type routeStats struct {
	count   atomic.Int64
	sumNano atomic.Int64
	buckets [len(latencyBuckets)]atomic.Int64
}

type routeKey struct {
	route  string
	status int
}

// metrics counts requests and latencies by route and status, in memory,
// and renders them in Prometheus' text format.
type metrics struct {
	mu     sync.RWMutex
	routes map[routeKey]*routeStats
}

func newMetrics() *metrics { return &metrics{routes: map[routeKey]*routeStats{}} }

func (m *metrics) observe(route string, status int, d time.Duration) {
	k := routeKey{route, status}
	m.mu.RLock()
	st, ok := m.routes[k]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if st, ok = m.routes[k]; !ok {
			st = &routeStats{}
			m.routes[k] = st
		}
		m.mu.Unlock()
	}
	st.count.Add(1)
	st.sumNano.Add(int64(d))
	sec := d.Seconds()
	for i, b := range latencyBuckets {
		if sec <= b {
			st.buckets[i].Add(1)
		}
	}
}

func (m *metrics) write(w io.Writer, authn map[[2]string]int64) {
	m.mu.RLock()
	keys := make([]routeKey, 0, len(m.routes))
	for k := range m.routes {
		keys = append(keys, k)
	}
	m.mu.RUnlock()
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route < keys[j].route
		}
		return keys[i].status < keys[j].status
	})
	fmt.Fprintln(w, "# HELP keyward_http_requests_total HTTP requests by route and status.")
	fmt.Fprintln(w, "# TYPE keyward_http_requests_total counter")
	for _, k := range keys {
		m.mu.RLock()
		st := m.routes[k]
		m.mu.RUnlock()
		fmt.Fprintf(w, "keyward_http_requests_total{route=%q,status=\"%d\"} %d\n", k.route, k.status, st.count.Load())
	}
	fmt.Fprintln(w, "# HELP keyward_http_request_duration_seconds HTTP request latency by route.")
	fmt.Fprintln(w, "# TYPE keyward_http_request_duration_seconds histogram")
	for _, k := range keys {
		m.mu.RLock()
		st := m.routes[k]
		m.mu.RUnlock()
		lbl := fmt.Sprintf("route=%q,status=\"%d\"", k.route, k.status)
		for i, b := range latencyBuckets {
			fmt.Fprintf(w, "keyward_http_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", lbl, strconv.FormatFloat(b, 'f', -1, 64), st.buckets[i].Load())
		}
		fmt.Fprintf(w, "keyward_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", lbl, st.count.Load())
		fmt.Fprintf(w, "keyward_http_request_duration_seconds_sum{%s} %g\n", lbl, float64(st.sumNano.Load())/1e9)
		fmt.Fprintf(w, "keyward_http_request_duration_seconds_count{%s} %d\n", lbl, st.count.Load())
	}
	fmt.Fprintln(w, "# HELP keyward_authentications_total Authentication attempts by event and outcome.")
	fmt.Fprintln(w, "# TYPE keyward_authentications_total counter")
	ak := make([][2]string, 0, len(authn))
	for k := range authn {
		ak = append(ak, k)
	}
	sort.Slice(ak, func(i, j int) bool { return ak[i][0]+ak[i][1] < ak[j][0]+ak[j][1] })
	for _, k := range ak {
		fmt.Fprintf(w, "keyward_authentications_total{event=%q,outcome=%q} %d\n", k[0], k[1], authn[k])
	}
}

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
