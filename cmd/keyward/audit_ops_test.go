package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAuditRetentionOption: --audit-retention (flag, KEYWARD_AUDIT_RETENTION,
// config audit_retention) is off by default, at least an hour when on.
func TestAuditRetentionOption(t *testing.T) {
	t.Setenv("KEYWARD_CONFIG", "")
	t.Setenv("KEYWARD_AUDIT_RETENTION", "")
	o, _, err := loadOptions("serve", nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := o.config(nil); err != nil || c.AuditRetention != 0 {
		t.Fatalf("default retention: %v %v", c.AuditRetention, err)
	}
	for in, want := range map[string]time.Duration{"2160h": 2160 * time.Hour, "0": 0} {
		o, _, _ := loadOptions("serve", []string{"--audit-retention", in}, io.Discard, io.Discard)
		if c, err := o.config(nil); err != nil || c.AuditRetention != want {
			t.Errorf("--audit-retention %s: %v %v", in, c.AuditRetention, err)
		}
	}
	t.Setenv("KEYWARD_AUDIT_RETENTION", "720h")
	o, _, _ = loadOptions("serve", nil, io.Discard, io.Discard)
	if c, err := o.config(nil); err != nil || c.AuditRetention != 720*time.Hour {
		t.Errorf("KEYWARD_AUDIT_RETENTION=720h: %v %v", c.AuditRetention, err)
	}
	cfg := filepath.Join(t.TempDir(), "keyward.json")
	os.WriteFile(cfg, []byte(`{"audit_retention":"48h"}`), 0o600)
	t.Setenv("KEYWARD_AUDIT_RETENTION", "")
	t.Setenv("KEYWARD_CONFIG", cfg)
	o, _, _ = loadOptions("serve", nil, io.Discard, io.Discard)
	if c, err := o.config(nil); err != nil || c.AuditRetention != 48*time.Hour {
		t.Errorf("config audit_retention 48h: %v %v", c.AuditRetention, err)
	}
	t.Setenv("KEYWARD_CONFIG", "")
	for _, bad := range []string{"10m", "-1h", "forever"} {
		o, _, _ := loadOptions("serve", []string{"--audit-retention", bad}, io.Discard, io.Discard)
		if _, err := o.config(nil); err == nil || !strings.Contains(err.Error(), "audit-retention") {
			t.Errorf("--audit-retention %s: %v", bad, err)
		}
	}
}

func TestParseBefore(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"720h":                 now.Add(-720 * time.Hour),
		"2026-01-31T00:00:00Z": time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
		"0s":                   now,
	} {
		if got, err := parseBefore(in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseBefore(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-5h", "yesterday", "2026-01-31", "2999-01-01T00:00:00Z"} {
		if _, err := parseBefore(bad, now); err == nil {
			t.Errorf("parseBefore(%q) accepted", bad)
		}
	}
}

func TestOwnFlags(t *testing.T) {
	got, rest, err := ownFlags([]string{"--data", "d", "--since=5", "--follow", "--format", "jsonl", "-store", "x"},
		map[string]bool{"since": true, "format": true, "follow": false})
	if err != nil || got["since"] != "5" || got["format"] != "jsonl" || got["follow"] != "true" || strings.Join(rest, " ") != "--data d -store x" {
		t.Fatalf("ownFlags = %v %v %v", got, rest, err)
	}
	if _, _, err := ownFlags([]string{"--since"}, map[string]bool{"since": true}); err == nil {
		t.Fatal("--since without a value was accepted")
	}
}
