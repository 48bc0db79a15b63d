package psauth

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// forms are the header forms the issue lists; each must parse to want.
var forms = []struct {
	name, in string
	want     Header
}{
	{"spaced", "PS-Auth key=K; runas=U; pwd=[P];", Header{Key: "K", RunAs: "U", Pwd: "P"}},
	{"tight", "PS-Auth key=K;runas=U;pwd=[P];", Header{Key: "K", RunAs: "U", Pwd: "P"}},
	{"no-final-semicolon", "PS-Auth key=K;runas=U;pwd=[P]", Header{Key: "K", RunAs: "U", Pwd: "P"}},
	{"quoted", `PS-Auth key="K"; runas="U"`, Header{Key: "K", RunAs: "U"}},
	{"cased-spaced", "ps-auth KEY = K ;; RunAs=U; PWD=[P] ;", Header{Key: "K", RunAs: "U", Pwd: "P"}},
	{"repeated-same", "PS-Auth key=K;runas=U;pwd=[P];challenge=C;pwd=[P]", Header{Key: "K", RunAs: "U", Pwd: "P", Challenge: "C"}},
	{"challenge-first", "PS-Auth challenge=C;key=K;runas=U", Header{Key: "K", RunAs: "U", Challenge: "C"}},
	{"reversed", "PS-Auth pwd=[P]; runas=U; key=K;", Header{Key: "K", RunAs: "U", Pwd: "P"}},
	{"client-library", "PS-Auth key=" + strings.Repeat("ab", 64) + ";runas=alice;", Header{Key: strings.Repeat("ab", 64), RunAs: "alice"}},
	{"bracket-with-semicolons", "PS-Auth key=K; runas=U; pwd=[a;b]c; d];", Header{Key: "K", RunAs: "U", Pwd: "a;b]c; d"}},
	{"bracket-then-unknown", "PS-Auth key=K; runas=U; pwd=[x]; y=1]; challenge=2", Header{Key: "K", RunAs: "U", Pwd: "x]; y=1", Challenge: "2"}},
	{"empty-pwd", "PS-Auth key=K; runas=U; pwd=[];", Header{Key: "K", RunAs: "U"}},
	{"unknown-ignored", "PS-Auth foo=bar; key=K; runas=U; Version=3", Header{Key: "K", RunAs: "U"}},
	{"domain-runas", `PS-Auth key=K; runas=doe-main\johndoe; pwd=[un1qu3];`, Header{Key: "K", RunAs: `doe-main\johndoe`, Pwd: "un1qu3"}},
	{"bare-with-quote", `PS-Auth key=K; runas=o"brien`, Header{Key: "K", RunAs: `o"brien`}},
	{"psrun", "PS-Auth key=K; runas=U; timestamp=1700000000; signature=ab12", Header{Key: "K", RunAs: "U", Timestamp: "1700000000", Signature: "ab12"}},
}

var bad = []string{
	"", "PS-Auth", "PS-Auth ", "PS-Authkey=K;runas=U", "Bearer x", "PS-Auth key=K", "PS-Auth runas=U",
	"PS-Auth key=K; runas=U; pwd=[P", `PS-Auth key="K; runas=U`, "PS-Auth key=K; runas=U; key=L",
	"PS-Auth key=K; runas=U; pwd=[P] x", "PS-Auth key=K; runas=U; junk", `PS-Auth key="K"x; runas=U`,
	"PS-Auth =K; runas=U", "PS-Auth key=K; runas=U; pwd=[a]; pwd=[b]",
}

func TestParseHeader(t *testing.T) {
	for _, tc := range forms {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHeader(tc.in)
			if err != nil {
				t.Fatalf("%q: %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("%q:\n got  %+v\n want %+v", tc.in, got, tc.want)
			}
			out, ok := Format(got)
			if !ok {
				t.Fatalf("%+v does not format", got)
			}
			if back, err := ParseHeader(out); err != nil || back != got {
				t.Fatalf("round trip %q: %+v, %v", out, back, err)
			}
		})
	}
	for _, in := range bad {
		if h, err := ParseHeader(in); err == nil {
			t.Errorf("%q parsed: %+v", in, h)
		}
	}
}

// TestFuzzSeeds keeps testdata/fuzz/FuzzPSAuthHeader holding every form
// above (go test -run TestFuzzSeeds -update writes them).
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzPSAuthHeader")
	for _, tc := range forms {
		want := "go test fuzz v1\nstring(" + strconv.Quote(tc.in) + ")\n"
		path := filepath.Join(dir, tc.name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("seed %s missing or stale (run with -update): %v", path, err)
		}
	}
}

func FuzzPSAuthHeader(f *testing.F) {
	for _, tc := range forms {
		f.Add(tc.in)
	}
	for _, in := range bad {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h, err := ParseHeader(in)
		if err != nil {
			return
		}
		if h.Key == "" || h.RunAs == "" {
			t.Fatalf("%q parsed without key or runas: %+v", in, h)
		}
		out, ok := Format(h)
		if !ok {
			return // a value no encoding carries (e.g. both `"` and `]; key=`)
		}
		back, err := ParseHeader(out)
		if err != nil || back != h {
			t.Fatalf("%q → %+v → %q → %+v, %v", in, h, out, back, err)
		}
	})
}
