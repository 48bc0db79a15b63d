package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"
)

// TimeLayout is how text timestamp columns keep a time: UTC, fixed width,
// microseconds, so that text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Micro normalizes t to what every backend keeps: UTC, microseconds.
func Micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// microPtr normalizes an optional time.
func microPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := Micro(*t)
	return &u
}

// optTime returns the argument for an optional timestamp column.
func (s *Store) optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return s.db.Time(*t)
}

// timeCol scans a timestamp column kept as text or as a native timestamp.
type timeCol struct{ p *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	t, ok, err := parseTime(src)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("scan time: unexpected NULL")
	}
	*c.p = t
	return nil
}

// nullTimeCol scans an optional timestamp column.
type nullTimeCol struct{ p **time.Time }

// Scan implements sql.Scanner.
func (c nullTimeCol) Scan(src any) error {
	t, ok, err := parseTime(src)
	if err != nil {
		return err
	}
	if !ok {
		*c.p = nil
		return nil
	}
	*c.p = &t
	return nil
}

func parseTime(src any) (time.Time, bool, error) {
	switch v := src.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return Micro(v), true, nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return time.Time{}, false, fmt.Errorf("scan time %q: %w", v, err)
		}
		return Micro(t), true, nil
	case []byte:
		return parseTime(string(v))
	}
	return time.Time{}, false, fmt.Errorf("scan time: unsupported type %T", src)
}

// jsonText encodes v for a JSON text column.
func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode json: %w", err)
	}
	return string(b), nil
}

// jsonCol scans a JSON text column into p.
type jsonCol struct{ p any }

// Scan implements sql.Scanner.
func (c jsonCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("scan json: unsupported type %T", src)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, c.p); err != nil {
		return fmt.Errorf("scan json: %w", err)
	}
	return nil
}

// jsonArgs encodes several values; the first error wins.
func jsonArgs(vs ...any) ([]string, error) {
	out := make([]string, len(vs))
	for i, v := range vs {
		s, err := jsonText(v)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}
