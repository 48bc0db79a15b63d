// Command probe presents one credential to several keyward instances in a
// paced loop until it is stopped (SIGTERM or SIGINT), for bench/scaleout.sh's
// revocation check. It prints one line per answer: start time (unix ns),
// port, served (1 when 200 and not "valid":false, else 0), status (0 when
// the request failed). One process on kept-alive connections, paced, so
// the probe takes little of the CPU the instances are measured on (a shell
// loop of curl processes took a visible share of it).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	path := flag.String("path", "", "request path, e.g. /api/v1/api-keys/verify")
	body := flag.String("body", "", "JSON body")
	ports := flag.String("ports", "", "comma-separated loopback ports")
	every := flag.Duration("every", 10*time.Millisecond, "pause between rounds")
	flag.Parse()
	if *path == "" || *ports == "" {
		log.Fatal("probe: -path and -ports are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	client := &http.Client{Timeout: 5 * time.Second}
	list := strings.Split(*ports, ",")
	for ctx.Err() == nil {
		for _, port := range list {
			start := time.Now()
			status, served := 0, 0
			resp, err := client.Post("http://127.0.0.1:"+port+*path, "application/json", strings.NewReader(*body))
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				status = resp.StatusCode
				if status == http.StatusOK && !bytes.Contains(b, []byte(`"valid":false`)) {
					served = 1
				}
			}
			fmt.Fprintf(out, "%d %s %d %d\n", start.UnixNano(), port, served, status)
		}
		select {
		case <-ctx.Done():
		case <-time.After(*every):
		}
	}
}
