package authn

import "sort"

// UnknownKeys reports every key of values that is not one of allowed.
func UnknownKeys(values map[string]string, allowed ...string) ConfigErrors {
	var errs ConfigErrors
	for k := range values {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			errs = append(errs, ConfigError{Key: k, Msg: "unknown configuration key"})
		}
	}
	return errs
}

// Err sorts es by key, for stable messages, and returns it as an error, or
// nil when there are no problems.
func (es ConfigErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Key < es[j].Key })
	return es
}
