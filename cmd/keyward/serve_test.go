package main

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestServeOptions: defaults, then config file < environment < flags.
func TestServeOptions(t *testing.T) {
	for _, k := range []string{"KEYWARD_DATA", "KEYWARD_LISTEN", "KEYWARD_CONFIG", "KEYWARD_BCRYPT_WORKERS", "KEYWARD_ACCOUNT", "KEYWARD_STORE", "KEYWARD_TRUSTED_PROXIES", "KEYWARD_TOKEN_TTL"} {
		t.Setenv(k, "")
	}
	o, _, err := loadOptions("serve", nil, io.Discard, io.Discard)
	if err != nil || o.Data != "./keyward-data" || o.Listen != "127.0.0.1:8080" || o.TokenTTL != "8m" || o.BcryptWorkers != 0 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	cfg := filepath.Join(t.TempDir(), "keyward.json")
	os.WriteFile(cfg, []byte(`{"data":"/from/file","listen":"127.0.0.1:1","account":"filed","trusted_proxies":"10.0.0.0/8","bcrypt_workers":1}`), 0o600)
	t.Setenv("KEYWARD_CONFIG", cfg)
	t.Setenv("KEYWARD_LISTEN", "127.0.0.1:2")
	t.Setenv("KEYWARD_STORE", "postgres://env")
	o, _, err = loadOptions("serve", []string{"--data", "/from/flag"}, io.Discard, io.Discard)
	if err != nil || o.Data != "/from/flag" || o.Listen != "127.0.0.1:2" || o.Account != "filed" ||
		o.Store != "postgres://env" || o.TrustedProxies != "10.0.0.0/8" || o.BcryptWorkers != 1 {
		t.Fatalf("file < env < flag: %+v %v", o, err)
	}
	c, err := o.config(nil)
	if err != nil || len(c.TrustedProxies) != 1 || c.TrustedProxies[0].String() != "10.0.0.0/8" || c.StoreURL != "postgres://env" {
		t.Fatalf("config: %+v %v", c, err)
	}
	// Bad values are refused with the setting's name.
	max := 4 * runtime.NumCPU()
	for _, bad := range [][]string{{"--bcrypt-workers", strconv.Itoa(max + 1)}, {"--bcrypt-workers", "-1"}} {
		if _, _, err := loadOptions("serve", bad, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "bcrypt-workers") {
			t.Errorf("%v: %v", bad, err)
		}
	}
	os.WriteFile(cfg, []byte(`{"listen":"x"} {"listen":"y"}`), 0o600)
	if _, _, err := loadOptions("serve", nil, io.Discard, io.Discard); err == nil {
		t.Error("a config file with two objects was accepted")
	}
	os.WriteFile(cfg, []byte(`{"lissten":"x"}`), 0o600)
	if _, _, err := loadOptions("serve", nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "lissten") {
		t.Errorf("unknown config key: %v", err)
	}
}
