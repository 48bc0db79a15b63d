package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The access log's route is the ServeMux pattern for every surface,
// PS-Auth's folded (IIS-style: any case, trailing slash) paths included;
// "unmatched" there also loses the route's metrics label.
func TestReviewAccessLogRouteOfFoldedPath(t *testing.T) {
	var buf bytes.Buffer
	ctx := context.Background()
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Account: "acme", AccessLog: true,
		Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Init(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for _, p := range []string{"/BeyondTrust/api/public/v3/Auth/SignAppin", "/beyondtrust/api/public/v3/auth/signappin/"} {
		buf.Reset()
		res, err := http.Post(ts.URL+p, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var line map[string]any
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
				line = m
			}
		}
		if line["route"] != "POST /BeyondTrust/api/public/v3/Auth/SignAppin" {
			t.Errorf("POST %s: route %v", p, line["route"])
		}
	}
}
