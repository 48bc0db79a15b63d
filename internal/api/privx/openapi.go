package privx

import (
	"encoding/json"
	"strings"

	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// What the OpenAPI document says of each route beyond its table entry.
// Bodies are read leniently, member by member (decode.go), so a request
// body is documented as a free-form object (or array) and the answers by
// the view types the handlers write.

// anyObject is a JSON object body read member by member.
var anyObject = api.Media{"application/json": map[string]any{}}

// pagingQuery is the query of a paged list (list.go).
type pagingQuery struct {
	Offset     int    `query:"offset" doc:"items to skip (default 0)"`
	Limit      int    `query:"limit" doc:"items per page: absent or 0 means 50, above 100 means 100"`
	SortKey    string `query:"sortkey" doc:"created, or the list's default (roles and keys name, users principal)"`
	SortDir    string `query:"sortdir" doc:"ASC or DESC, any case (default ASC)"`
	Filter     string `query:"filter" doc:"accepted and ignored"`
	FuzzyCount string `query:"fuzzycount" doc:"accepted and ignored"`
}

// oauthForm is the OAuth password grant's form.
type oauthForm struct {
	GrantType string `json:"grant_type"`
	Username  string `json:"username"`
	Password  string `json:"password"`
}

// searchBody is users/search's body; its criteria AND together.
type searchBody struct {
	Keywords string   `json:"keywords,omitempty"`
	UserID   []string `json:"user_id,omitempty"`
	Source   string   `json:"source,omitempty"`
}

// created is the answer of a POST that creates an object.
type created struct {
	ID string `json:"id"`
}

// settings is a user's settings: any JSON object, stored verbatim.
type settings = map[string]any

// source is a source object: every member as sent (secrets masked), with
// id, enabled, updated, status_code and status_text.
type source = map[string]any

var (
	notFound    = []core.Error{{Kind: core.NotFound}}
	oauthErrors = []core.Error{{Kind: core.RateLimited}}
)

// docs are the Request, Response, Query and Errors of each route, by
// method and pattern (without the prefix).
var docs = map[string]api.Route{
	"POST " + oauthPath: {Request: api.Media{"application/x-www-form-urlencoded": oauthForm{}}, Response: OAuthToken{}, Errors: oauthErrors},

	"GET users/current":                            {Response: User{}},
	"GET users/current/settings":                   {Response: settings{}},
	"PUT users/current/settings":                   {Request: anyObject, Response: User{}},
	"GET users/current/awsroles":                   {Response: List[AWSRole]{}},
	"GET users/current/authorizedkeys":             {Query: pagingQuery{}, Response: List[AuthorizedKey]{}},
	"POST users/current/authorizedkeys":            {Request: anyObject, Response: created{}},
	"GET users/current/authorizedkeys/{key_id}":    {Response: AuthorizedKey{}},
	"PUT users/current/authorizedkeys/{key_id}":    {Request: anyObject, Response: AuthorizedKey{}},
	"DELETE users/current/authorizedkeys/{key_id}": {Response: api.NoBody},

	"POST users/search":          {Query: pagingQuery{}, Request: searchBody{}, Response: List[User]{}},
	"POST users/search/external": {Request: searchBody{}, Response: List[User]{}},
	"POST users/mfa/enable":      {Request: []string{}, Response: api.NoBody, Errors: notFound},
	"POST users/mfa/disable":     {Request: []string{}, Response: api.NoBody, Errors: notFound},
	"POST users/mfa/reset":       {Request: []string{}, Response: api.NoBody, Errors: notFound},

	"GET users/{id}":                            {Response: User{}},
	"GET users/{id}/settings":                   {Response: settings{}},
	"PUT users/{id}/settings":                   {Request: anyObject, Response: User{}},
	"GET users/{id}/roles":                      {Response: List[GrantItem]{}},
	"PUT users/{id}/roles":                      {Request: []GrantItem{}, Response: api.NoBody},
	"GET users/{id}/resolve":                    {Response: User{}},
	"GET users/{id}/authorizedkeys":             {Query: pagingQuery{}, Response: List[AuthorizedKey]{}},
	"POST users/{id}/authorizedkeys":            {Request: anyObject, Response: created{}},
	"GET users/{id}/authorizedkeys/{key_id}":    {Response: AuthorizedKey{}},
	"PUT users/{id}/authorizedkeys/{key_id}":    {Request: anyObject, Response: AuthorizedKey{}},
	"DELETE users/{id}/authorizedkeys/{key_id}": {Response: api.NoBody},

	"GET sources":         {Response: List[json.RawMessage]{}},
	"POST sources":        {Request: anyObject, Response: created{}},
	"GET sources/{id}":    {Response: source{}},
	"PUT sources/{id}":    {Request: anyObject, Response: source{}},
	"DELETE sources/{id}": {Response: api.NoBody},

	"GET roles":              {Query: pagingQuery{}, Response: List[Role]{}},
	"POST roles":             {Request: anyObject, Response: created{}},
	"GET roles/{id}":         {Response: Role{}},
	"PUT roles/{id}":         {Request: anyObject, Response: Role{}},
	"DELETE roles/{id}":      {Response: api.NoBody},
	"GET roles/{id}/members": {Query: pagingQuery{}, Response: List[User]{}},
}

// document fills rt's documentation fields from docs.
func document(rt *api.Route) {
	if d, ok := docs[rt.Method+" "+strings.TrimPrefix(rt.Pattern, prefix)]; ok {
		rt.Request, rt.Response, rt.Query, rt.Errors = d.Request, d.Response, d.Query, append(rt.Errors, d.Errors...)
	}
}

// Describe says what the surface is, for the OpenAPI document's tag.
func (s *Surface) Describe() string {
	return "PrivX's role-store (users, roles, grants, role mappings, MFA, authorized keys, sources) and its OAuth password grant, as github.com/SSHcom/privx-sdk-go/v2 calls them."
}
