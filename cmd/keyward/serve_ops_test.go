package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeLoginMaxWaitAndMetricsListen: --login-max-wait defaults to 2s,
// is taken from the environment and flags, refuses a non-duration; and
// --metrics-listen reaches the server's config.
func TestServeLoginMaxWaitAndMetricsListen(t *testing.T) {
	for _, k := range []string{"KEYWARD_CONFIG", "KEYWARD_LOGIN_MAX_WAIT", "KEYWARD_METRICS_LISTEN"} {
		t.Setenv(k, "")
	}
	o, _, err := loadOptions("serve", nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(nil)
	if err != nil || cfg.LoginMaxWait != 2*time.Second || cfg.MetricsListen != "" {
		t.Fatalf("defaults: %v %q %v; want 2s and no metrics listener", cfg.LoginMaxWait, cfg.MetricsListen, err)
	}
	t.Setenv("KEYWARD_LOGIN_MAX_WAIT", "750ms")
	o, _, err = loadOptions("serve", []string{"--metrics-listen", "127.0.0.1:9100"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = o.config(nil); err != nil || cfg.LoginMaxWait != 750*time.Millisecond || cfg.MetricsListen != "127.0.0.1:9100" {
		t.Fatalf("from env and flag: %v %q %v", cfg.LoginMaxWait, cfg.MetricsListen, err)
	}
	for _, bad := range []string{"soon", "0s", "-1s"} {
		o, _, err := loadOptions("serve", []string{"--login-max-wait", bad}, io.Discard, io.Discard)
		if err == nil {
			_, err = o.config(nil)
		}
		if err == nil || !strings.Contains(err.Error(), "login-max-wait") {
			t.Errorf("--login-max-wait %s: %v, want an error naming the flag", bad, err)
		}
	}
}

// TestServeMetricsListen: with --metrics-listen, the built binary serves
// /metrics on that address and not on the main one; a metrics port in use
// fails serve before anything is created.
func TestServeMetricsListen(t *testing.T) {
	clearSettingsEnv(t)
	parent := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code, _, errs := cli(t, "serve", "--data", filepath.Join(parent, "data"), "--listen", "127.0.0.1:0", "--metrics-listen", busy.Addr().String())
	if code != 1 || !strings.Contains(errs, busy.Addr().String()) {
		t.Errorf("metrics port in use: exit %d, %q", code, errs)
	}
	if names := entries(t, parent); len(names) != 0 {
		t.Fatalf("a metrics port in use left %v behind", names)
	}
	p := startServe(t, cleanEnv(), "--data", filepath.Join(parent, "data"), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
	line := p.waitLog(t, "keyward metrics listening")
	m := regexp.MustCompile(`addr[=":]+([0-9.:]+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("metrics log line %q", line)
	}
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + m[1] + "/metrics"); code != 200 || !strings.Contains(body, "keyward_bcrypt_queue_length") {
		t.Errorf("metrics listener: %d %.200s", code, body)
	}
	if code, _ := get("http://" + p.addr + "/metrics"); code != 404 {
		t.Errorf("/metrics on the main listener with --metrics-listen: %d, want 404", code)
	}
}
