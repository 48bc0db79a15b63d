package oidc

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

var isoDurationRE = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseISODuration reads an ISO 8601 duration such as PT60M or P1DT2H.
// Years and months count as ActiveSupport counts them (365.2425 and
// 30.436875 days).
func parseISODuration(s string) (time.Duration, error) {
	m := isoDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s[len(s)-1] == 'T' {
		return 0, fmt.Errorf("not an ISO 8601 duration: %q", s)
	}
	const day = 24 * float64(time.Hour)
	units := []float64{365.2425 * day, 30.436875 * day, 7 * day, day, float64(time.Hour), float64(time.Minute), float64(time.Second)}
	var total float64
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", s, err)
		}
		total += n * u
	}
	if total > float64(1<<62) {
		return 0, fmt.Errorf("duration %q too long", s)
	}
	return time.Duration(total), nil
}
