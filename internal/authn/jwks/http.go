package jwks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/authn"
)

// MaxBody bounds what is read of a JWKS, discovery or token response: they
// are small.
const MaxBody = 1 << 20

// HTTPClient returns the client for outbound calls: one trusting only caPEM
// when it is set, else base, else a default client with a timeout.
func HTTPClient(base *http.Client, caPEM string) (*http.Client, error) {
	if caPEM == "" {
		if base != nil {
			return base, nil
		}
		return &http.Client{Timeout: 10 * time.Second}, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, errors.New("no PEM certificate found")
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}, nil
}

// CheckURL reports whether s is an absolute http or https URL.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("malformed URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("not an absolute http(s) URL: %q", s)
	}
	return nil
}

// getJSON fetches url and decodes its JSON body into v, counting the
// fetch as kind (jwks or discovery) in the outside-fetch metrics.
func getJSON(ctx context.Context, c *http.Client, kind, u string, v any) (err error) {
	start := time.Now()
	defer func() { observeFetch(kind, err, time.Since(start)) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("build request for %s: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	if err != nil {
		return fmt.Errorf("read %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: status %d", u, resp.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", u, err)
	}
	return nil
}

// Discovery is the part of an OpenID provider's metadata keyward reads.
type Discovery struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// Discover reads providerURI's /.well-known/openid-configuration, which
// must name a jwks_uri; its errors are *authn.FetchError.
func Discover(ctx context.Context, c *http.Client, providerURI string) (Discovery, error) {
	var d Discovery
	u := strings.TrimRight(providerURI, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, c, "discovery", u, &d); err != nil {
		return d, &authn.FetchError{Discovery: true, URI: providerURI, Err: err}
	}
	if d.JWKSURI == "" {
		return d, &authn.FetchError{Discovery: true, URI: providerURI, Err: fmt.Errorf("%s names no jwks_uri", u)}
	}
	return d, nil
}
