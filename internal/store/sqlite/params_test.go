package sqlite

import "testing"

func TestNumberedParams(t *testing.T) {
	cases := map[string]string{
		"SELECT a FROM t WHERE a = $1 AND b = $2":    "SELECT a FROM t WHERE a = ? AND b = ?",
		"UPDATE t SET a = $2 WHERE id = $1":          "UPDATE t SET a = ?2 WHERE id = ?1",
		"SELECT $1, $1":                              "SELECT ?1, ?1",
		"INSERT INTO t VALUES ($1,$2,$3),($4,$5,$6)": "INSERT INTO t VALUES (?,?,?),(?,?,?)",
		"SELECT '$' || name FROM t WHERE id = $1":    "SELECT '$' || name FROM t WHERE id = ?",
		"SELECT a FROM t WHERE a = $10 AND b = $9":   "SELECT a FROM t WHERE a = ?10 AND b = ?9",
	}
	for in, want := range cases {
		if got := numberedParams(in); got != want {
			t.Errorf("numberedParams(%q) = %q, want %q", in, got, want)
		}
	}
}
