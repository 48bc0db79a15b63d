package conjur

import (
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// roleBody is Conjur's GET /roles/{account}/{kind}/{id} answer.
type roleBody struct {
	CreatedAt string       `json:"created_at"`
	ID        string       `json:"id"`
	Policy    string       `json:"policy"`
	Members   []membership `json:"members"`
}

// membership is one member of a Conjur role: for a group, a principal
// holding the keyward role by a grant.
type membership struct {
	AdminOption bool   `json:"admin_option"`
	Ownership   bool   `json:"ownership"`
	Role        string `json:"role"`
	Member      string `json:"member"`
	Policy      string `json:"policy"`
}

// resourceBody is Conjur's GET /resources/{account}/{kind}/{id} answer for
// a user or host.
type resourceBody struct {
	CreatedAt    string       `json:"created_at"`
	ID           string       `json:"id"`
	Owner        string       `json:"owner"`
	Policy       string       `json:"policy"`
	Permissions  []struct{}   `json:"permissions"`
	Annotations  []annotation `json:"annotations"`
	RestrictedTo []string     `json:"restricted_to"`
}

type annotation struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Policy string `json:"policy"`
}

// rootPolicy stands for the policy every identity belongs to: keyward has
// no policies, so everything is in Conjur's root policy, which owns it.
func rootPolicy(account string) string { return account + ":policy:root" }

// Conjur's role and resource kinds, as its routes constrain them; those
// keyward does not hold answer 501.
var (
	conjurRoleKinds     = []string{"user", "host", "layer", "group", "policy", "host_factory"}
	conjurResourceKinds = []string{"variable", "public_key", "user", "host", "layer", "group", "policy", "webservice", "host_factory", "configuration"}
)

// identityKind maps a Conjur kind to the core's: group is a keyward role.
func identityKind(kind string) string {
	if kind == "group" {
		return core.KindRole
	}
	return kind
}

// readIdentity reads {account}/{kind}/{id} for the caller. A query asking
// for one of Conjur's other role or resource actions, or a kind keyward
// does not hold, is 501; a kind Conjur does not know is 404.
func (s *Surface) readIdentity(r *http.Request, rc *api.Ctx, kinds []string, served []string, actions ...string) (core.Identity, error) {
	q := r.URL.Query()
	for _, a := range actions {
		if q.Has(a) {
			return core.Identity{}, notServed(r)
		}
	}
	kind := r.PathValue("kind")
	switch {
	case !slices.Contains(kinds, kind):
		return core.Identity{}, &core.Error{Kind: core.NotFound, Reason: core.ReasonNotVisible, Msg: "no route " + r.Method + " " + r.URL.Path}
	case !slices.Contains(served, kind):
		return core.Identity{}, notServed(r)
	}
	return s.core.ReadIdentity(r.Context(), rc.Access, r.PathValue("account"), identityKind(kind), r.PathValue("id"))
}

// role is GET /roles/{account}/{kind}/{id}: a user, host or group (keyward
// role) the caller may see, 404 otherwise (also for one it may not see:
// conjur-api-go reads 403 as "exists").
func (s *Surface) role(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	id, err := s.readIdentity(r, rc, conjurRoleKinds, []string{"user", "host", "group"}, "graph", "all", "memberships", "members")
	if err != nil {
		return err
	}
	account := r.PathValue("account")
	out := roleBody{Policy: rootPolicy(account), Members: []membership{}}
	if id.Role != nil {
		out.ID, out.CreatedAt = account+":group:"+id.Role.Name, id.Role.CreatedAt.UTC().Format(railsTime)
		for _, p := range id.Holders {
			out.Members = append(out.Members, membership{Role: out.ID, Member: p.RoleID(), Policy: rootPolicy(account)})
		}
	} else {
		out.ID, out.CreatedAt = id.Principal.RoleID(), id.Principal.CreatedAt.UTC().Format(railsTime)
	}
	send(w, reply{http.StatusOK, out})
	return nil
}

// resource is GET /resources/{account}/{kind}/{id} for a user or host.
func (s *Surface) resource(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	id, err := s.readIdentity(r, rc, conjurResourceKinds, []string{"user", "host"}, "check", "permitted_roles")
	if err != nil {
		return err
	}
	account := r.PathValue("account")
	p := id.Principal
	out := resourceBody{CreatedAt: p.CreatedAt.UTC().Format(railsTime), ID: p.RoleID(), Owner: rootPolicy(account),
		Policy: rootPolicy(account), Permissions: []struct{}{}, Annotations: []annotation{}, RestrictedTo: []string{}}
	out.RestrictedTo = append(out.RestrictedTo, p.RestrictedTo...)
	names := make([]string, 0, len(p.Annotations))
	for n := range p.Annotations {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out.Annotations = append(out.Annotations, annotation{Name: n, Value: p.Annotations[n], Policy: rootPolicy(account)})
	}
	send(w, reply{http.StatusOK, out})
	return nil
}

// noRoleID is GET /roles/{account}/{kind}: Conjur has no such route.
func (s *Surface) noRoleID(_ http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
	return &core.Error{Kind: core.NotFound, Reason: core.ReasonNotVisible, Msg: "no route " + r.Method + " " + r.URL.Path + ": a role needs an id"}
}

// unserved answers a Conjur route keyward does not serve.
func (s *Surface) unserved(_ http.ResponseWriter, r *http.Request, _ *api.Ctx) error {
	return notServed(r)
}

// unservedPrefixes are the first path segments of Conjur API routes that
// keyward does not serve (secrets, policies, host factories, public keys,
// issuers, certificates, branches, groups, the authenticators API v2); with
// the roles and resources routes it does not serve, they answer 501.
var unservedPrefixes = []string{"policies", "secrets", "resources", "roles", "host_factories", "host_factory_tokens",
	"public_keys", "issuers", "ca", "branches", "groups", "authenticators"}

// notServed is the 501 of a Conjur route keyward does not serve.
func notServed(r *http.Request) error {
	return &core.Error{Kind: core.NotImplemented, Reason: core.ReasonNotImplemented,
		Msg: "keyward serves Conjur's authentication API (authn and its authenticators, whoami, and reading users, hosts and groups), not " +
			r.Method + " " + r.URL.Path}
}

// Unknown words the unknown routes under the Conjur surface's prefixes
// (which include the root, so every path no surface claims): the status of
// an authenticator type keyward does not know is Conjur's 404 CONJ00001E;
// any other route of such a type, and Conjur's routes keyward does not
// serve, are 501 with a JSON body, never a plain-text 404 (conjur-api-go
// reads a 404 on an existence check as "does not exist"). Anything else
// gets the usual 404 or 405.
func (s *Surface) Unknown(r *http.Request) error {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	first := segs[0]
	switch {
	case strings.HasPrefix(first, "authn") && !slices.Contains(authenticators(), first):
		if r.Method == http.MethodGet && (len(segs) == 3 || len(segs) == 4) && segs[len(segs)-1] == "status" {
			return &core.Error{Kind: core.NotFound, Reason: core.ReasonUnsupportedType, Msg: "authenticator " + first + " is not supported"}
		}
		return notServed(r)
	case slices.Contains(unservedPrefixes, first):
		return notServed(r)
	}
	return nil
}

var _ api.Fallback = (*Surface)(nil)
