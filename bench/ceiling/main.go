// Command ceiling is the benchmark's ceiling: a trivial net/http handler that
// reads the body and answers a small JSON object, measured in the same run
// as keyward so ratios cancel out the machine.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:18099", "listen address")
	flag.Parse()
	body := []byte(`{"valid":true}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*addr, h))
}
