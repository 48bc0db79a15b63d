package jwks

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Fetches of outside documents (JWKS, OpenID discovery) are counted per
// process: the authenticators that make them are built per service, and
// a process serves one keyward.
var (
	fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyward_outside_fetches_total",
		Help: "Fetches of outside documents by kind (jwks, discovery) and outcome (success, failure).",
	}, []string{"kind", "outcome"})
	fetchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keyward_outside_fetch_seconds",
		Help:    "Time taken by fetches of outside documents, by kind (jwks, discovery).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"kind"})
)

// Collectors are the outside-fetch metrics, for the server's registry:
// the fetch counter and the fetch-time histogram.
func Collectors() (counter, histogram prometheus.Collector) { return fetches, fetchSeconds }

func observeFetch(kind string, err error, d time.Duration) {
	outcome := "success"
	if err != nil {
		outcome = "failure"
	}
	fetches.WithLabelValues(kind, outcome).Inc()
	fetchSeconds.WithLabelValues(kind).Observe(d.Seconds())
}
