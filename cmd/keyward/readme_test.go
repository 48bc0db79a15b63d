package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeTour is the shell block of README.md's "Five-minute tour".
func readmeTour(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "## Five-minute tour")
	if i < 0 {
		t.Fatal("README.md has no Five-minute tour")
	}
	s = s[i:]
	start := strings.Index(s, "```sh\n")
	if start < 0 {
		t.Fatal("the tour has no sh block")
	}
	s = s[start+len("```sh\n"):]
	end := strings.Index(s, "\n```")
	if end < 0 {
		t.Fatal("the tour's sh block does not end")
	}
	return s[:end+1]
}

// TestReadmeTour runs the README's tour, as the README has it, against a
// freshly built binary: its one build line is swapped for a copy of the
// test's binary and its port for a free one; nothing else changes. It must
// exit 0 (it stops at its first failure), show what each step promises,
// and leave no server running.
func TestReadmeTour(t *testing.T) {
	tour := readmeTour(t)
	for _, must := range []string{"set -euo pipefail", "curl -fsS", "export KEYWARD_ADDR=http://127.0.0.1:8090 KEYWARD_TOKEN=$ADMIN_KEY",
		"./tour-data", "kill $SERVER"} {
		if !strings.Contains(tour, must) {
			t.Errorf("the tour lacks %q", must)
		}
	}
	if strings.Contains(tour, "curl -s ") || strings.Contains(tour, "KEYWARD_TOKEN=$ADMIN_KEY ./keyward") {
		t.Error("the tour has a curl that does not fail, or sets KEYWARD_TOKEN per command")
	}
	const build = "go build -o keyward ./cmd/keyward\n"
	if strings.Count(tour, build) != 1 {
		t.Fatalf("the tour does not build the binary once with %q", build)
	}
	bin := keywardBinary(t)
	tour = strings.Replace(tour, build, "cp \"$KEYWARD_TEST_BIN\" ./keyward\n", 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().String()
	ln.Close()
	tour = strings.ReplaceAll(tour, "127.0.0.1:8090", port)

	dir := t.TempDir()
	script := filepath.Join(dir, "tour.sh")
	os.WriteFile(script, []byte(tour), 0o700)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Dir = dir
	cmd.Env = cleanEnv("KEYWARD_TEST_BIN=" + bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "tour-data.log"))
		t.Fatalf("the tour failed: %v\n%s\nserver log:\n%s", err, out, log)
	}
	for _, want := range []string{`"status":"ready"`, `"valid": true`, `"principal": "alice"`, `"audit-view"`, `"payload"`,
		"bob", "audit chain intact"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the tour's output lacks %q:\n%s", want, out)
		}
	}
	// Its server is stopped: the port is free again.
	if l, err := net.Listen("tcp", port); err != nil {
		t.Errorf("the tour left its server running on %s: %v", port, err)
	} else {
		l.Close()
	}
}
