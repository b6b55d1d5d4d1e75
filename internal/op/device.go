package op

import (
	"net/http"
	"net/url"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/device"
)

// deviceAuthorization serves the device authorization endpoint (RFC 8628
// section 3.1): a client of the device code grant (public ones too: a CLI
// has no secret) asks for a device code and a user code, and shows the
// user where to enter it: the hosted login's /ui/login/device. resource
// names resource servers (RFC 8707) as at the authorization endpoint.
func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	form, c, err := p.authenticate(w, r)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	app := c.Application()
	if !app.Allows(oauth.GrantDeviceCode) {
		p.writeError(w, r, oauth.Errorf(oauth.UnauthorizedClient, "the client is not registered for the device code grant"))
		return
	}
	scopes, err := authorizeScopes(form.Get("scope"), app)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	inst, iss := p.issuer(r)
	resources, err := p.checkResources(r.Context(), inst.ID, form)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	req, code, err := p.d.Devices.Start(r.Context(), inst.ID, app.ClientID, scopes, resources)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	verify := iss + p.d.LoginPath + "device"
	writeJSON(w, http.StatusOK, struct {
		DeviceCode              string `json:"device_code"`
		UserCode                string `json:"user_code"`
		VerificationURI         string `json:"verification_uri"`
		VerificationURIComplete string `json:"verification_uri_complete"`
		ExpiresIn               int64  `json:"expires_in"`
		Interval                int64  `json:"interval"`
	}{code, device.FormatUserCode(req.UserCode), verify, verify + "?" + url.Values{"user_code": {device.FormatUserCode(req.UserCode)}}.Encode(),
		int64(device.Lifetime.Seconds()), int64(device.Interval.Seconds())})
}
