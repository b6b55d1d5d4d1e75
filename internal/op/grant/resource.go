package grant

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
)

// Resources finds the API application that registered a resource URI
// (client.Clients.Resource): failure.NotFound for none.
type Resources interface {
	Resource(ctx context.Context, instanceID, uri string) (client.Application, error)
}

// audienceOf returns the audience of a token a request asks for with the
// resource parameters (RFC 8707 section 2) — and the parameters named by
// also (token exchange's audience, RFC 8693 section 2.1) — the resource
// URIs, each registered by an active API application of the instance, or
// def when the request names none. An unknown resource is invalid_target.
func audienceOf(ctx context.Context, res Resources, r Request, def []string, also ...string) ([]string, error) {
	uris := r.Form["resource"]
	for _, name := range also {
		uris = append(uris, r.Form[name]...)
	}
	if len(uris) == 0 {
		return def, nil
	}
	if res == nil {
		return nil, oauth.Errorf(oauth.InvalidTarget, "resource indicators are not served")
	}
	var aud []string
	for _, uri := range uris {
		if slices.Contains(aud, uri) {
			continue
		}
		_, err := res.Resource(ctx, r.InstanceID, uri)
		if failure.Is(err, failure.KindNotFound) {
			return nil, oauth.Errorf(oauth.InvalidTarget, "resource %.200q is not a resource server of this issuer", uri)
		}
		if err != nil {
			return nil, err
		}
		aud = append(aud, uri)
	}
	return aud, nil
}

// checkNarrowing checks the resource parameters of a token request for a
// user's grant (RFC 8707 section 2.2): each must be one the grant was
// authorized for, else invalid_target.
func checkNarrowing(r Request, authorized []string) error {
	for _, uri := range r.Form["resource"] {
		if !slices.Contains(authorized, uri) {
			return oauth.Errorf(oauth.InvalidTarget, "resource %.200q was not authorized for this grant", uri)
		}
	}
	return nil
}

// userAudience is the aud of an access token of a user's grant: the
// resources the token request names (checked by checkNarrowing), else
// those of the grant, else the client's project and the projects whose
// roles the scopes ask for (roleProjects). Resources replace them all:
// the token is for the resource servers named (RFC 8707 section 2).
func userAudience(r Request, app client.Application, g grants.Grant, roleProjects []string) []string {
	if uris := r.Form["resource"]; len(uris) > 0 {
		return slices.Compact(slices.Clone(uris))
	}
	if len(g.Resources) > 0 {
		return g.Resources
	}
	return append([]string{app.ProjectID}, roleProjects...)
}
