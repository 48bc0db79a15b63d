package privx_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/model"
)

// BenchmarkSearchUsers is POST users/search by keyword over 100,000 users
// (KEYWARD_BENCH_USERS to change), over HTTP against SQLite; it reports
// the median answer time. Each keyword matches 10 users.
func BenchmarkSearchUsers(b *testing.B) {
	n := 100000
	if v, err := strconv.Atoi(os.Getenv("KEYWARD_BENCH_USERS")); err == nil && v > 0 {
		n = v
	}
	e := newBenchEnv(b)
	st := e.s.Store()
	ctx := context.Background()
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("bench%015d", i)
		p := model.Principal{ID: id, Account: account, Login: fmt.Sprintf("user%06d", i), Kind: model.KindUser,
			Email: fmt.Sprintf("user%06d@example.com", i), FullName: fmt.Sprintf("User Number %d", i),
			Attributes: map[string]string{"first_name": "First", "last_name": fmt.Sprintf("Surname%05d", i/10)},
			Source:     "local", Status: model.StatusActive, MFA: model.MFANone, CreatedAt: now, UpdatedAt: now}
		if err := st.CreatePrincipal(ctx, p, nil); err != nil {
			b.Fatal(err)
		}
	}
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body := fmt.Sprintf(`{"keywords":"surname%05d"}`, (i*7919)%(n/10))
		req, _ := http.NewRequest("POST", e.srv.URL+"/role-store/api/v1/users/search", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.admin)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var buf [4096]byte
		for {
			if _, err := res.Body.Read(buf[:]); err != nil {
				break
			}
		}
		res.Body.Close()
		durations = append(durations, time.Since(start))
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "ms-median")
}
