package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// httpDo sends one request and returns the status and the body.
func httpDo(t *testing.T, method, url string, body any, header ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

func field(t *testing.T, b []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("no %s in %s", name, b)
	}
	return s
}

var accessKeys = map[string]bool{"time": true, "level": true, "msg": true, "request_id": true, "method": true, "route": true,
	"status": true, "duration_ms": true, "client": true}
var accessOptional = map[string]bool{"account": true, "principal": true, "authenticator": true}

// TestLogsScenario runs a scenario through keyward serve at debug level in
// each log format: no secret it created or sent is in the logs; each
// request has one access line with exactly the listed keys and its route
// as the ServeMux pattern; a 501 is not an ERROR line.
func TestLogsScenario(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			p := startServe(t, cleanEnv(), "--data", data, "--listen", "127.0.0.1:0", "--account", "acme",
				"--log-level", "debug", "--log-format", format)
			base := "http://" + p.addr
			kb, err := os.ReadFile(filepath.Join(data, InitialAdminKeyFile))
			if err != nil {
				t.Fatal(err)
			}
			admin := strings.TrimSpace(string(kb))
			const password = "Correct-Horse-42-battery"
			const wrong = "Wrong-Horse-43-battery"
			secrets := []string{admin, password, wrong}
			requests := 0
			do := func(want int, method, path string, body any, header ...string) []byte {
				t.Helper()
				requests++
				st, b := httpDo(t, method, base+path, body, header...)
				if st != want {
					t.Fatalf("%s %s: %d %s, want %d", method, path, st, b, want)
				}
				return b
			}
			tok := field(t, do(200, "POST", "/api/v1/token", map[string]string{"api_key": admin}), "access_token")
			secrets = append(secrets, tok)
			bearer := []string{"Authorization", "Bearer " + tok}
			u := do(201, "POST", "/api/v1/users", map[string]any{"login": "alice", "kind": "user", "password": password}, bearer...)
			aliceID, conjurKey := field(t, u, "id"), field(t, u, "api_key")
			secrets = append(secrets, conjurKey)
			k := do(201, "POST", "/api/v1/users/"+aliceID+"/api-keys", map[string]any{"description": "ci"}, bearer...)
			aliceKey := field(t, k, "key")
			secrets = append(secrets, aliceKey)
			do(200, "GET", "/api/v1/users/"+aliceID, nil, bearer...)
			do(200, "POST", "/api/v1/api-keys/verify", map[string]string{"key": aliceKey})
			pwTok := field(t, do(200, "POST", "/api/v1/token", map[string]string{"login": "alice", "password": password}), "access_token")
			secrets = append(secrets, pwTok)
			do(401, "POST", "/api/v1/token", map[string]string{"login": "alice", "password": wrong})
			do(401, "POST", "/api/v1/token", map[string]string{"api_key": admin + "x"})
			// Conjur: login with Basic, authenticate with the API key.
			basic := "Basic " + b64("alice:"+password)
			secrets = append(secrets, b64("alice:"+password))
			if got := string(do(200, "GET", "/authn/acme/login", nil, "Authorization", basic)); got != conjurKey {
				t.Fatalf("Conjur login answered %q", got)
			}
			ctok := do(200, "POST", "/authn/acme/alice/authenticate", conjurKey)
			secrets = append(secrets, string(ctok), b64(string(ctok)))
			do(200, "GET", "/whoami", nil, "Authorization", `Token token="`+b64(string(ctok))+`"`)
			do(501, "POST", "/authn-k8s/prod/acme/alice/authenticate", "x")
			do(404, "GET", "/api/v1/no/such/route/"+aliceKey, nil)
			// The secret part of each kw_ key, alone.
			for _, s := range []string{admin, conjurKey, aliceKey} {
				secrets = append(secrets, s[strings.LastIndex(s, "_")+1:])
			}

			p.cmd.Process.Signal(syscall.SIGTERM)
			<-p.done
			logs := p.log()
			out, _ := os.ReadFile(p.stdout)
			for _, s := range secrets {
				if strings.Contains(logs, s) || strings.Contains(string(out), s) {
					t.Errorf("a secret (%d bytes, %.6s…) is in the logs", len(s), s)
				}
			}
			var lines []map[string]string
			for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
				kv := parseLogLine(t, format, line)
				if kv["level"] == "ERROR" {
					t.Errorf("an ERROR line: %s", line)
				}
				if kv["msg"] == "request" {
					lines = append(lines, kv)
				}
			}
			if len(lines) != requests {
				t.Errorf("%d access lines for %d requests", len(lines), requests)
			}
			routes := map[string]bool{}
			for _, kv := range lines {
				var keys []string
				for k := range kv {
					if !accessKeys[k] && !accessOptional[k] {
						t.Errorf("access line has key %q: %v", k, kv)
					}
					keys = append(keys, k)
				}
				for k := range accessKeys {
					if _, ok := kv[k]; !ok {
						sort.Strings(keys)
						t.Errorf("access line lacks %q: %v", k, keys)
					}
				}
				if kv["level"] != "INFO" {
					t.Errorf("access line at %s", kv["level"])
				}
				routes[kv["method"]+" "+kv["status"]+" "+kv["route"]+" "+kv["principal"]] = true
			}
			for _, want := range []string{
				"GET 200 GET /api/v1/users/{id} admin",
				"POST 200 POST /authn/{account}/{login}/authenticate alice",
				"GET 200 GET /authn/{account}/login alice",
				"GET 200 GET /whoami alice",
				"POST 201 POST /api/v1/users admin",
				"POST 501 POST /authn-k8s/{service_id}/{account}/{login}/authenticate ",
				"GET 404 /api/v1/ ",
			} {
				if !routes[want] {
					t.Errorf("no access line %q in %v", want, routes)
				}
			}
		})
	}
	// --access-log=false: no access lines.
	data := filepath.Join(t.TempDir(), "data")
	p := startServe(t, cleanEnv(), "--data", data, "--listen", "127.0.0.1:0", "--access-log=false")
	httpDo(t, "GET", "http://"+p.addr+"/healthz", nil)
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.done
	if strings.Contains(p.log(), `"msg":"request"`) {
		t.Errorf("--access-log=false logged requests: %s", p.log())
	}
}

var textPair = regexp.MustCompile(`([a-z_]+)=("(?:[^"\\]|\\.)*"|\S*)`)

// parseLogLine reads one log line of either format into its keys and values.
func parseLogLine(t *testing.T, format, line string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if format == "json" {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		for k, v := range m {
			switch v := v.(type) {
			case string:
				out[k] = v
			default:
				b, _ := json.Marshal(v)
				out[k] = string(b)
			}
		}
		return out
	}
	for _, m := range textPair.FindAllStringSubmatch(line, -1) {
		v := m[2]
		if strings.HasPrefix(v, `"`) {
			var s string
			if json.Unmarshal([]byte(v), &s) == nil {
				v = s
			}
		}
		out[m[1]] = v
	}
	if out["time"] == "" || out["msg"] == "" {
		t.Fatalf("log line is not key=value: %q", line)
	}
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestLogFormatDefault: JSON when standard error is not a terminal; the
// flag overrides; unknown formats and levels are refused.
func TestLogFormatDefault(t *testing.T) {
	var b bytes.Buffer
	newLogger("info", "", &b).Info("hello", "k", "v")
	if !strings.HasPrefix(b.String(), `{"time":`) {
		t.Errorf("default format off a terminal: %q", b.String())
	}
	b.Reset()
	newLogger("info", "text", &b).Info("hello", "k", "v")
	if !strings.HasPrefix(b.String(), "time=") {
		t.Errorf("--log-format text: %q", b.String())
	}
	clearSettingsEnv(t)
	for _, bad := range [][]string{{"--log-format", "xml"}, {"--log-level", "verbose"}, {"--access-log=maybe"}} {
		if _, _, err := loadOptions("serve", bad, io.Discard, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	if o, _, err := loadOptions("serve", []string{"--access-log=false", "--log-level", "WARN"}, io.Discard, io.Discard); err != nil || o.AccessLog || o.LogLevel != "warn" {
		t.Errorf("%+v %v", o, err)
	}
	if o, _, _ := loadOptions("serve", nil, io.Discard, io.Discard); !o.AccessLog || o.LogLevel != "info" {
		t.Errorf("defaults %+v", o)
	}
}
