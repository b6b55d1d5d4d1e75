package op

import (
	"context"
	"net/url"
	"slices"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth"
)

// checkResources checks the resource parameters of an authorization
// request (RFC 8707 section 2): each must be the resource URI of an active
// API application of the instance, else invalid_target. It returns them,
// each once.
func (p *Provider) checkResources(ctx context.Context, instanceID string, params url.Values) ([]string, error) {
	var out []string
	for _, uri := range params["resource"] {
		if slices.Contains(out, uri) {
			continue
		}
		_, err := p.d.Clients.Resource(ctx, instanceID, uri)
		if failure.Is(err, failure.KindNotFound) {
			return nil, oauth.Errorf(oauth.InvalidTarget, "resource %.200q is not a resource server of this issuer", uri)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, uri)
	}
	return out, nil
}
