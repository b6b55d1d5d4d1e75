package grant

import (
	"context"
	"errors"
	"net/http"

	"github.com/castellan-iam/castellan/internal/id"
	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/device"
	"github.com/castellan-iam/castellan/internal/oauth/grants"
)

// Devices are the device authorization requests (device.Requests).
type Devices interface {
	Poll(ctx context.Context, instanceID, clientID, code string) (device.Request, error)
}

// DeviceCode is the device authorization grant (RFC 8628 section 3.4):
// the device polls with its device code until the user approved or
// denied in the hosted login; an approval is redeemed once, into the
// tokens of the authorization code grant (a grant, with a refresh token
// when offline_access was asked for and the client may refresh).
type DeviceCode struct {
	Tokens   UserTokens
	Claims   Claims
	Settings TokenSettings
	Devices  Devices
	Grants   Grants
	// Resources and Access check that the projects of the resource
	// servers the request named let the user in (RFC 8707).
	Resources Resources
	Access    ProjectAccess
}

// Type implements Grant.
func (DeviceCode) Type() string { return oauth.GrantDeviceCode }

// Token implements Grant.
func (g DeviceCode) Token(ctx context.Context, r Request) (*oauth.TokenResponse, error) {
	app := r.Client.Application()
	code := r.Form.Get("device_code")
	if code == "" {
		return nil, oauth.Errorf(oauth.InvalidRequest, "device_code is required")
	}
	// Resources are named at the device authorization endpoint; the token
	// request, which spends the approval, takes none.
	if err := checkNarrowing(r, nil); err != nil {
		return nil, err
	}
	req, err := g.Devices.Poll(ctx, r.InstanceID, app.ClientID, code)
	switch {
	case errors.Is(err, device.ErrPending):
		return nil, oauth.Errorf("authorization_pending", "the user has not approved yet")
	case errors.Is(err, device.ErrSlowDown):
		return nil, oauth.Errorf("slow_down", "poll less often: the interval grew by 5 seconds")
	case errors.Is(err, device.ErrDenied):
		return nil, &oauth.Error{Code: oauth.AccessDenied, Description: "the user denied the request", Status: http.StatusBadRequest}
	case errors.Is(err, device.ErrExpired):
		return nil, oauth.Errorf("expired_token", "the device code expired; start again")
	case errors.Is(err, device.ErrInvalid):
		return nil, invalidGrant("the device code is invalid, used, or another client's")
	case err != nil:
		return nil, err
	}
	lifetimes, err := g.Settings(ctx, r.InstanceID, app.OrgID)
	if err != nil {
		return nil, err
	}
	accessID := id.New()
	gr := grants.Grant{ID: grants.NewID(), InstanceID: r.InstanceID, ClientID: app.ClientID, UserID: req.UserID, OrgID: req.OrgID,
		SessionID: req.SessionID, Scopes: req.Scopes, AuthTime: req.AuthTime, AMR: req.AMR, Resources: req.Resources}
	if err := mayReach(ctx, g.Resources, g.Access, r.InstanceID, req.UserID, gr.Resources); err != nil {
		return nil, err
	}
	return userTokens{Tokens: g.Tokens, Claims: g.Claims, Settings: g.Settings}.newGrant(ctx, r, g.Grants, gr, accessID, "", req.ID, lifetimes)
}
