package client

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

// Resource indicators (RFC 8707): an API application may register a
// resource URI, unique in its instance. A client that names it with the
// resource parameter gets a token whose aud is that URI, and the API
// application holding it may introspect the token. A resource no active
// API application of the instance registered is invalid_target.

// maxResourceURI bounds a resource URI.
const maxResourceURI = 500

// CheckResourceURI checks a resource URI: an absolute URI (RFC 3986
// section 4.3) without a fragment (RFC 8707 section 2), at most 500
// bytes, with no spaces or control characters.
func CheckResourceURI(raw string) error {
	if raw == "" || len(raw) > maxResourceURI {
		return errors.New("must be 1 to 500 bytes")
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= 0x20 || c >= 0x7f {
			return errors.New("must be printable ASCII without spaces")
		}
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a URI")
	case !u.IsAbs():
		return errors.New("must be an absolute URI")
	case strings.Contains(raw, "#"):
		return errors.New("must not have a fragment (RFC 8707 section 2)")
	case u.Opaque == "" && u.Host == "":
		return errors.New("must name a host, or be opaque like urn:example:api")
	}
	return nil
}

// Resource returns the active API application (of an active
// organization) that registered a resource URI; anything else is
// failure.NotFound.
func (c *Clients) Resource(ctx context.Context, instanceID, uri string) (Application, error) {
	if CheckResourceURI(uri) != nil {
		return Application{}, failure.NotFound("no resource %.80q", uri)
	}
	app, err := ApplicationByResource(ctx, c.db, instanceID, uri)
	if err != nil {
		return Application{}, err
	}
	state, err := org.StateOf(ctx, c.db, instanceID, app.OrgID)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return Application{}, err
	}
	if state != org.StateActive {
		return Application{}, failure.NotFound("no resource %.80q", uri)
	}
	return app, nil
}
