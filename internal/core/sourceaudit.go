package core

import (
	"fmt"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/model"
)

// sourceDetail is a source.put's audit detail (review r21 F10): its type,
// whether it is enabled, and the settings that changed, by name, with the
// new value of those that say where it points (host, port, uri,
// provider-uri, connect_type); never a secret's value. config is the put's
// configuration as sent (reserved keys dropped, secrets possibly Masked),
// old the stored service when existed.
func sourceDetail(spec SourceSpec, config map[string]string, old model.AuthenticatorService, existed bool) string {
	shown := map[string]bool{"host": true, "port": true, "uri": true, "provider-uri": true, "connect_type": true}
	var changed []string
	note := func(k, v string) {
		if shown[k] {
			changed = append(changed, fmt.Sprintf("%s=%q", k, v))
			return
		}
		changed = append(changed, k)
	}
	for k, v := range config {
		_, wasSecret := old.Secrets[k]
		switch {
		case !existed, secretConfigKey(k) && (v != Masked || !wasSecret), !secretConfigKey(k) && old.Config[k] != v:
			note(k, v)
		}
	}
	if existed {
		for k := range old.Config {
			if _, ok := config[k]; !ok && !strings.HasPrefix(k, sourceKeyPrefix) {
				note(k, "")
			}
		}
		for k := range old.Secrets {
			if _, ok := config[k]; !ok && !strings.HasPrefix(k, sourceKeyPrefix) {
				changed = append(changed, k)
			}
		}
	}
	if !existed || old.Config[sourceGroupsClaim] != spec.GroupsClaim {
		changed = append(changed, fmt.Sprintf("groups-claim=%q", spec.GroupsClaim))
	}
	if !existed || old.Config[sourceDocKey] != spec.Document {
		changed = append(changed, "document")
	}
	sort.Strings(changed)
	return joinDetail("type "+spec.Type, fmt.Sprintf("enabled %t", spec.Enabled), "changed settings ["+strings.Join(changed, ",")+"]")
}

// asciiEqualFold compares group names case-insensitively in ASCII only:
// strings.EqualFold's Unicode folding would take a look-alike group name
// (U+017F ſ for s, U+212A K for K) for the one a role's rule names
// (review r21 F11). Other characters must be equal byte for byte.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
