package grant

import (
	"context"
	"slices"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
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
