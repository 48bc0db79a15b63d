package privx

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
	"github.com/keyward/keyward/internal/model"
)

// sourcesAPI is the authenticator service's sources.
type sourcesAPI interface {
	PutSource(ctx context.Context, a *core.Access, id string, spec core.SourceSpec, create bool) (core.SourceView, error)
	GetSource(ctx context.Context, a *core.Access, id string) (core.SourceView, error)
	ListSources(ctx context.Context, a *core.Access) ([]core.SourceView, error)
	DeleteSource(ctx context.Context, a *core.Access, id string) error
	SourceTypes(ctx context.Context, account string) (map[string]string, error)
	SearchDirectories(ctx context.Context, a *core.Access, keywords, source string) ([]core.DirectoryUser, error)
}

// The secret members of a source's connection, kept sealed by the core and
// answered masked.
var sourceSecrets = map[string]string{"ldap_bind_password": "bind-password", "oidc_client_secret": "client-secret"}

// sourceSpec maps a PrivX source body to the core's source: connection.type
// LDAP → authn-ldap (address, port, ldap_protocol, ldap_base_dn,
// ldap_user_filter, ldap_bind_dn, ldap_bind_password, root_certificates),
// OIDC → authn-oidc (oidc_issuer, oidc_client_id, oidc_client_secret, the
// groups claim oidc_tags_attribute_name). The body itself, secrets masked,
// is kept to be read back as sent.
func sourceSpec(r *http.Request) (core.SourceSpec, error) {
	body, err := api.ReadBody(r)
	if err != nil {
		return core.SourceSpec{}, err
	}
	o, err := parseObject(body, "")
	if err != nil {
		return core.SourceSpec{}, err
	}
	var spec core.SourceSpec
	if spec.Enabled, err = o.boolean("enabled"); err != nil {
		return spec, err
	}
	if _, err := o.str("name"); err != nil {
		return spec, err
	}
	conn, ok, err := o.object("connection")
	if err != nil {
		return spec, err
	}
	if !ok {
		return spec, badRequest("connection", "connection is required")
	}
	typ, err := conn.str("type")
	if err != nil {
		return spec, err
	}
	str := func(name string) string { v, _ := conn.str(name); return v }
	for _, name := range []string{"address", "ldap_protocol", "ldap_base_dn", "ldap_user_filter", "ldap_bind_dn", "ldap_bind_password",
		"root_certificates", "oidc_issuer", "oidc_client_id", "oidc_client_secret", "oidc_tags_attribute_name"} {
		if _, err := conn.str(name); err != nil {
			return spec, err
		}
	}
	port, err := conn.integer("port")
	if err != nil {
		return spec, err
	}
	cfg := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			cfg[k] = v
		}
	}
	switch typ {
	case "LDAP":
		spec.Type = "authn-ldap"
		set("host", str("address"))
		if port != 0 {
			cfg["port"] = strconv.FormatInt(port, 10)
		}
		switch str("ldap_protocol") {
		case "", "LDAP":
		case "LDAPS":
			cfg["connect_type"] = "ssl"
		case "STARTTLS":
			cfg["connect_type"] = "tls"
		default:
			return spec, badRequest("ldap_protocol", "ldap_protocol must be LDAP, LDAPS or STARTTLS")
		}
		set("base_dn", str("ldap_base_dn"))
		set("bind_dn", str("ldap_bind_dn"))
		set("bind-password", str("ldap_bind_password"))
		set("tls-ca-cert", str("root_certificates"))
		if f := str("ldap_user_filter"); f != "" {
			cfg["filter_template"] = "(&" + f + "(uid=%s))"
		}
	case "OIDC":
		spec.Type = "authn-oidc"
		set("provider-uri", str("oidc_issuer"))
		set("client-id", str("oidc_client_id"))
		set("client-secret", str("oidc_client_secret"))
		cfg["id-token-user-property"] = "preferred_username"
		if cfg["client-secret"] != "" {
			cfg["claim-mapping"] = "preferred_username"
		}
		spec.GroupsClaim = str("oidc_tags_attribute_name")
	default:
		return spec, badRequest("type", "connection.type must be LDAP or OIDC")
	}
	spec.Config = cfg
	// The document: the body as sent, secrets masked, server-set members dropped.
	for _, k := range []string{"id", "created", "updated", "author", "updatedby", "updated_by", "status_code", "status_text"} {
		delete(o, k)
	}
	for member := range sourceSecrets {
		if v, ok := conn.raw(member); ok && string(v) != `""` {
			conn[member] = json.RawMessage(`"` + core.Masked + `"`)
		}
	}
	cb, _ := json.Marshal(conn)
	o["connection"] = cb
	doc, _ := json.Marshal(o)
	spec.Document = string(doc)
	return spec, nil
}

// sourceView renders a stored source: its document with id and status.
func sourceView(v core.SourceView) json.RawMessage {
	o := object{}
	if v.Document != "" {
		_ = json.Unmarshal([]byte(v.Document), &o)
	}
	if o == nil {
		o = object{}
	}
	put := func(k string, val any) {
		b, _ := json.Marshal(val)
		o[k] = b
	}
	put("id", v.ID)
	put("enabled", v.Enabled)
	put("updated", stamp(v.UpdatedAt))
	if v.Problem == "" {
		put("status_code", "OK")
		put("status_text", "")
	} else {
		put("status_code", "ERROR")
		put("status_text", v.Problem)
	}
	b, _ := json.Marshal(o)
	var out bytes.Buffer
	_ = json.Compact(&out, b)
	return out.Bytes()
}

var localSource = json.RawMessage(`{"id":"local","name":"local","enabled":true,"status_code":"OK","status_text":"","connection":{"type":"LOCAL"}}`)

func (s *Surface) listSources(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	vs, err := s.core.ListSources(r.Context(), rc.Access)
	if err != nil {
		return err
	}
	out := List[json.RawMessage]{Count: len(vs) + 1, Items: []json.RawMessage{localSource}}
	for _, v := range vs {
		out.Items = append(out.Items, sourceView(v))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Surface) getSource(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if r.PathValue("id") == "local" {
		api.WriteJSON(w, http.StatusOK, localSource)
		return nil
	}
	v, err := s.core.GetSource(r.Context(), rc.Access, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, sourceView(v))
	return nil
}

func (s *Surface) createSource(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	spec, err := sourceSpec(r)
	if err != nil {
		return err
	}
	v, err := s.core.PutSource(r.Context(), rc.Access, "", spec, true)
	if err != nil {
		return renamed(err, sourceFields)
	}
	api.WriteJSON(w, http.StatusCreated, map[string]string{"id": v.ID})
	return nil
}

func (s *Surface) putSource(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if r.PathValue("id") == "local" {
		return badRequest("id", "the local source cannot be changed")
	}
	spec, err := sourceSpec(r)
	if err != nil {
		return err
	}
	v, err := s.core.PutSource(r.Context(), rc.Access, r.PathValue("id"), spec, false)
	if err != nil {
		return renamed(err, sourceFields)
	}
	api.WriteJSON(w, http.StatusOK, sourceView(v))
	return nil
}

func (s *Surface) deleteSource(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	if err := s.core.DeleteSource(r.Context(), rc.Access, r.PathValue("id")); err != nil {
		return err
	}
	empty(w)
	return nil
}

// sourceFields maps the authenticators' configuration keys to PrivX members.
var sourceFields = map[string]string{"config.bind-password": "ldap_bind_password", "config.client-secret": "oidc_client_secret",
	"config.host": "address", "config.port": "port", "config.base_dn": "ldap_base_dn", "config.provider-uri": "oidc_issuer"}

// sourceTypeOf is the type of a user's outside source (LDAP, OIDC), LOCAL
// when it names no source.
func (s *Surface) sourceTypeOf(ctx context.Context, account string, p model.Principal) string {
	types, err := s.core.SourceTypes(ctx, account)
	if err != nil {
		return "LOCAL"
	}
	switch types[p.Source] {
	case "authn-ldap":
		return "LDAP"
	case "authn-oidc":
		return "OIDC"
	}
	return "LOCAL"
}

// searchExternal searches enabled LDAP sources live; the entries answer as
// user objects of their source.
func (s *Surface) searchExternal(w http.ResponseWriter, r *http.Request, rc *api.Ctx) error {
	q, err := readSearch(r)
	if err != nil {
		return err
	}
	found, err := s.core.SearchDirectories(r.Context(), rc.Access, q.Keywords, q.Source)
	if err != nil {
		return err
	}
	out := List[User]{Count: len(found), Items: make([]User, 0, len(found))}
	for _, f := range found {
		login := f.Login
		p := model.Principal{Login: f.Login, Source: f.Source, Email: f.Email, FullName: f.FullName,
			Attributes: map[string]string{"first_name": f.FirstName, "last_name": f.LastName, "distinguished_name": f.DN}}
		for k, v := range p.Attributes {
			if v == "" {
				delete(p.Attributes, k)
			}
		}
		u := userView(core.UserDetail{Principal: p}, nil, nil, nil, "LDAP")
		u.SourceUserID = &login
		out.Items = append(out.Items, u)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
