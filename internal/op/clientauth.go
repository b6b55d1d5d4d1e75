package op

import (
	"encoding/base64"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// maxFormBytes bounds the body of a request to the endpoints.
const maxFormBytes = 64 << 10

// readForm reads the urlencoded body of a POST (RFC 6749 section 3.2;
// parameters in the query are not read) and refuses a parameter given more
// than once.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauth.Errorf(oauth.InvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, oauth.Errorf(oauth.InvalidRequest, "the body could not be read or exceeds %d bytes", maxFormBytes)
	}
	return parseForm(string(body))
}

// multiValued are the parameters that may be given more than once:
// resource (RFC 8707 section 2) and audience (RFC 8693 section 2.1).
var multiValued = map[string]bool{"resource": true, "audience": true}

// maxMultiValues bounds how often one of them may be given.
const maxMultiValues = 10

// parseForm parses an urlencoded body: malformed encoding and repeated
// parameters (RFC 6749 section 3.2) other than multiValued ones are
// invalid_request.
func parseForm(body string) (url.Values, error) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return nil, oauth.Errorf(oauth.InvalidRequest, "the body is not valid form encoding")
	}
	for name, values := range form {
		if multiValued[name] && len(values) <= maxMultiValues {
			continue
		}
		if len(values) > 1 {
			return nil, oauth.Errorf(oauth.InvalidRequest, "parameter %.40q is given more than once", name)
		}
	}
	return form, nil
}

// credentialsOf reads the client's credentials from the Authorization
// header (client_secret_basic, RFC 6749 section 2.3.1: id and secret
// form-urlencoded, then base64) or the body (client_secret_post, or a
// client_id alone for a public client). Using two methods at once is
// invalid_request (section 2.3); a malformed Basic header is
// invalid_client, and no client id at all too.
func credentialsOf(authorization string, form url.Values) (client.Credentials, error) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	if assertion, typ := form.Get("client_assertion"), form.Get("client_assertion_type"); assertion != "" || typ != "" {
		// private_key_jwt (RFC 7523 section 2.2): the client is the
		// assertion's issuer, which must be client_id when that is given.
		switch {
		case authorization != "" || formSecret != "":
			return client.Credentials{}, oauth.Errorf(oauth.InvalidRequest, "the client authenticated with more than one method")
		case typ != client.AssertionType:
			return client.Credentials{}, &oauth.Error{Code: oauth.InvalidClient, Description: "client_assertion_type must be " + client.AssertionType}
		case assertion == "":
			return client.Credentials{}, &oauth.Error{Code: oauth.InvalidClient, Description: "client_assertion is required"}
		}
		id := formID
		if id == "" {
			id = client.PeekAssertionIssuer(assertion)
		}
		if id == "" {
			return client.Credentials{}, &oauth.Error{Code: oauth.InvalidClient, Description: "client authentication failed"}
		}
		return client.Credentials{ClientID: id, Assertion: assertion, Method: oauth.AuthPrivateKeyJWT}, nil
	}
	if authorization != "" {
		scheme, value, _ := strings.Cut(authorization, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return client.Credentials{}, &oauth.Error{Code: oauth.InvalidClient, Description: "the Authorization header must use the Basic scheme"}
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value))
		if err != nil {
			return client.Credentials{}, &oauth.Error{Code: oauth.InvalidClient, Description: "malformed Basic credentials"}
		}
		rawID, rawSecret, ok := strings.Cut(string(raw), ":")
		id, err1 := url.QueryUnescape(rawID)
		secret, err2 := url.QueryUnescape(rawSecret)
		if !ok || err1 != nil || err2 != nil || id == "" {
			return client.Credentials{}, &oauth.Error{Code: oauth.InvalidClient, Description: "malformed Basic credentials"}
		}
		if formSecret != "" {
			return client.Credentials{}, oauth.Errorf(oauth.InvalidRequest, "the client authenticated with more than one method")
		}
		if formID != "" && formID != id {
			return client.Credentials{}, oauth.Errorf(oauth.InvalidRequest, "client_id differs from the authenticated client")
		}
		return client.Credentials{ClientID: id, Secret: secret, Method: oauth.AuthClientSecretBasic}, nil
	}
	if formID == "" {
		return client.Credentials{}, &oauth.Error{Code: oauth.InvalidClient, Description: "client authentication is required"}
	}
	if formSecret != "" {
		return client.Credentials{ClientID: formID, Secret: formSecret, Method: oauth.AuthClientSecretPost}, nil
	}
	return client.Credentials{ClientID: formID, Method: oauth.AuthNone}, nil
}

// authenticate reads the form and authenticates the client of a request:
// private_key_jwt (client_assertion) and the RFC 8705 methods (the
// request's certificate, mtls.go) join the secrets here.
func (p *Provider) authenticate(w http.ResponseWriter, r *http.Request) (url.Values, client.Authenticated, error) {
	form, err := readForm(w, r)
	if err != nil {
		return nil, client.Authenticated{}, err
	}
	c, err := p.authenticateForm(r, form)
	return form, c, err
}

// authenticateForm authenticates the client of a request whose form was
// read.
func (p *Provider) authenticateForm(r *http.Request, form url.Values) (client.Authenticated, error) {
	cred, err := credentialsOf(r.Header.Get("Authorization"), form)
	if err != nil {
		return client.Authenticated{}, err
	}
	inst, iss := p.issuer(r)
	// An assertion's aud is the issuer or this endpoint (RFC 7523
	// section 3, OIDC Core section 9).
	cred.Audiences = []string{iss, iss + r.URL.Path}
	cred.Chain = requestCertificate(r.Context())
	return p.d.Clients.Authenticate(r.Context(), inst.ID, cred)
}
