package argus

import (
	"github.com/keyward/keyward/internal/api"
	"github.com/keyward/keyward/internal/core"
)

// What the OpenAPI document says of each route beyond its table entry:
// the envelope every answer is wrapped in, with what its data holds.

// envelopeOf documents an answer whose data is a T (the handlers write the
// untyped envelope).
type envelopeOf[T any] struct {
	ResponseCode int       `json:"responseCode"`
	Limit        int       `json:"limit"`
	Offset       int       `json:"offset"`
	Count        int       `json:"count"`
	Size         int       `json:"size"`
	Messages     []message `json:"messages"`
	Data         T         `json:"data"`
}

// anyObject is a JSON object body read field by field (body.go).
var anyObject = api.Media{"application/json": map[string]any{}}

var sessionErrors = []core.Error{{Kind: core.Unauthenticated}, {Kind: core.Forbidden}, {Kind: core.RateLimited}}

// docs are the Request, Response and Errors of each route, by method and pattern.
var docs = map[string]api.Route{
	"POST /authentication/v1/password/authentication":               {Request: anyObject, Response: envelopeOf[sessionView]{}, Errors: sessionErrors},
	"POST /authentication/v1/totp/authentication":                   {Request: anyObject, Response: envelopeOf[sessionView]{}, Errors: sessionErrors},
	"GET /authentication/v1/user/{user}/apikey":                     {Response: envelopeOf[[]keyView]{}},
	"POST /authentication/v1/user/{user}/apikey":                    {Request: anyObject, Response: envelopeOf[keyView]{}},
	"DELETE /authentication/v1/user/{user}/apikey/{userID}/{keyID}": {Response: envelopeOf[any]{}},
	"GET /authentication/v1/user/{user}/signature":                  {Response: envelopeOf[[]signatureView]{}},
	"POST /authentication/v1/user/{user}/signature":                 {Request: anyObject, Response: envelopeOf[signatureView]{}},
	"DELETE /authentication/v1/user/{user}/signature/{id}":          {Response: envelopeOf[any]{}},
	"DELETE /authentication/v1/user/signature/session":              {Response: envelopeOf[any]{}},
}

// document fills rt's documentation fields from docs.
func document(rt *api.Route) {
	if d, ok := docs[rt.Method+" "+rt.Pattern]; ok {
		rt.Request, rt.Response, rt.Errors = d.Request, d.Response, append(rt.Errors, d.Errors...)
	}
}
