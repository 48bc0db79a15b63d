package jwks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyward/keyward/internal/authn/jwks"
	"github.com/keyward/keyward/internal/authn/jwt/jwttest"
)

// fetchCounts gathers the outside-fetch metrics: fetches by kind/outcome,
// and the observations of the duration histogram by kind.
func fetchCounts(t *testing.T) (fetches map[string]float64, timed map[string]uint64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, h := jwks.Collectors()
	reg.MustRegister(c, h)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fetches, timed = map[string]float64{}, map[string]uint64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			lbl := ""
			for _, l := range m.GetLabel() {
				lbl += l.GetName() + "=" + l.GetValue() + ","
			}
			switch f.GetName() {
			case "keyward_outside_fetches_total":
				fetches[lbl] = m.GetCounter().GetValue()
			case "keyward_outside_fetch_seconds":
				timed[lbl] = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return fetches, timed
}

// TestOutsideFetchMetrics: a discovery and a JWKS fetch count as successes
// of their kind and are timed; a JWKS that cannot be fetched counts as a
// failure.
func TestOutsideFetchMetrics(t *testing.T) {
	iss := jwttest.NewIssuer(t)
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"` + srv.URL + `","jwks_uri":"` + srv.URL + `/jwks"}`))
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(iss.JWKS())) })
	srv = httptest.NewServer(mux)
	defer srv.Close()

	f0, t0 := fetchCounts(t)
	if _, err := jwks.FromProvider(srv.Client(), srv.URL).Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := jwks.FromURI(srv.Client(), srv.URL+"/missing").Fetch(context.Background()); err == nil {
		t.Fatal("a JWKS answering 404 was fetched")
	}
	f1, t1 := fetchCounts(t)
	for series, want := range map[string]float64{"kind=discovery,outcome=success,": 1, "kind=jwks,outcome=success,": 1,
		"kind=jwks,outcome=failure,": 1} {
		if d := f1[series] - f0[series]; d != want {
			t.Errorf("keyward_outside_fetches_total{%s} moved by %g, want %g", series, d, want)
		}
	}
	if t1["kind=jwks,"]-t0["kind=jwks,"] != 2 || t1["kind=discovery,"]-t0["kind=discovery,"] != 1 {
		t.Errorf("keyward_outside_fetch_seconds observations: jwks %d→%d, discovery %d→%d; want +2, +1",
			t0["kind=jwks,"], t1["kind=jwks,"], t0["kind=discovery,"], t1["kind=discovery,"])
	}
}
