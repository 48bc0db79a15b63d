package main

import (
	"io"
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
	o, _, err := loadOptions("serve", nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config(nil)
	if err != nil || cfg.LoginMaxWait != 2*time.Second || cfg.MetricsListen != "" {
		t.Fatalf("defaults: %v %q %v; want 2s and no metrics listener", cfg.LoginMaxWait, cfg.MetricsListen, err)
	}
	t.Setenv("KEYWARD_LOGIN_MAX_WAIT", "750ms")
	o, _, err = loadOptions("serve", []string{"--metrics-listen", "127.0.0.1:9100"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = o.config(nil); err != nil || cfg.LoginMaxWait != 750*time.Millisecond || cfg.MetricsListen != "127.0.0.1:9100" {
		t.Fatalf("from env and flag: %v %q %v", cfg.LoginMaxWait, cfg.MetricsListen, err)
	}
	for _, bad := range []string{"soon", "0s", "-1s"} {
		o, _, err := loadOptions("serve", []string{"--login-max-wait", bad}, io.Discard)
		if err == nil {
			_, err = o.config(nil)
		}
		if err == nil || !strings.Contains(err.Error(), "login-max-wait") {
			t.Errorf("--login-max-wait %s: %v, want an error naming the flag", bad, err)
		}
	}
}
