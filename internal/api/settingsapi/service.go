package settingsapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/gen/castellan/settings/v1/settingsv1connect"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/settings"
)

// Service implements settingsv1connect.SettingsServiceHandler.
type Service struct {
	store    *eventstore.Store
	settings *settings.Commands
	auth     *authn.Authenticator
	// keys and server serve the notification providers (WithNotification).
	keys   *keyring.Ring
	server settings.Providers
	// assets keeps the branding's files (WithAssets).
	assets asset.Store
}

var _ settingsv1connect.SettingsServiceHandler = (*Service)(nil)

// NewService returns the settings service.
func NewService(store *eventstore.Store, auth *authn.Authenticator) *Service {
	return &Service{store: store, settings: settings.NewCommands(store), auth: auth}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return settingsv1connect.NewSettingsServiceHandler(s, opts...)
}

// authorize authenticates the request and requires p on organization orgID,
// or on the instance when orgID is empty.
func (s *Service) authorize(ctx context.Context, h http.Header, p authz.Permission, orgID string) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	return caller, caller.Require(p, authz.OrgOrInstance(orgID))
}

// GetSettings returns the settings in force for an organization, or the
// instance, with their sources.
func (s *Service) GetSettings(ctx context.Context, req *connect.Request[settingsv1.GetSettingsRequest]) (*connect.Response[settingsv1.GetSettingsResponse], error) {
	orgID := req.Msg.GetOrganizationId()
	caller, err := s.authorize(ctx, req.Header(), authz.SettingsRead, orgID)
	if err != nil {
		return nil, err
	}
	if orgID != "" {
		if _, err := org.StateOf(ctx, s.store.DB(), caller.InstanceID, orgID); err != nil {
			return nil, err
		}
	}
	eff, err := settings.Effective(ctx, s.store.DB(), caller.InstanceID, orgID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.GetSettingsResponse{Settings: toProto(eff)}), nil
}

// set checks the caller may write the settings of orgID's level and sets
// the value conv returns.
func (s *Service) set(ctx context.Context, h http.Header, orgID string, conv func() (settings.Value, error)) error {
	caller, err := s.authorize(ctx, h, authz.SettingsWrite, orgID)
	if err != nil {
		return err
	}
	v, err := conv()
	if err != nil {
		return err
	}
	return s.settings.Set(ctx, caller.Editor(), caller.InstanceID, orgID, v)
}

// SetLoginSettings sets how users sign in.
func (s *Service) SetLoginSettings(ctx context.Context, req *connect.Request[settingsv1.SetLoginSettingsRequest]) (*connect.Response[settingsv1.SetLoginSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return loginFromProto(req.Msg.GetLogin()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetLoginSettingsResponse{}), nil
}

// SetPasswordSettings sets the complexity and age of passwords.
func (s *Service) SetPasswordSettings(ctx context.Context, req *connect.Request[settingsv1.SetPasswordSettingsRequest]) (*connect.Response[settingsv1.SetPasswordSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return passwordFromProto(req.Msg.GetPassword()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetPasswordSettingsResponse{}), nil
}

// SetLockoutSettings sets how many wrong answers lock a user.
func (s *Service) SetLockoutSettings(ctx context.Context, req *connect.Request[settingsv1.SetLockoutSettingsRequest]) (*connect.Response[settingsv1.SetLockoutSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return lockoutFromProto(req.Msg.GetLockout()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetLockoutSettingsResponse{}), nil
}

// SetSessionSettings sets the bounds of sign-in sessions.
func (s *Service) SetSessionSettings(ctx context.Context, req *connect.Request[settingsv1.SetSessionSettingsRequest]) (*connect.Response[settingsv1.SetSessionSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return sessionFromProto(req.Msg.GetSession()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetSessionSettingsResponse{}), nil
}

// SetTokenSettings sets the token lifetimes.
func (s *Service) SetTokenSettings(ctx context.Context, req *connect.Request[settingsv1.SetTokenSettingsRequest]) (*connect.Response[settingsv1.SetTokenSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return tokensFromProto(req.Msg.GetTokens()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetTokenSettingsResponse{}), nil
}

// SetPrivacySettings sets the links and languages of the login.
func (s *Service) SetPrivacySettings(ctx context.Context, req *connect.Request[settingsv1.SetPrivacySettingsRequest]) (*connect.Response[settingsv1.SetPrivacySettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return privacyFromProto(req.Msg.GetPrivacy()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetPrivacySettingsResponse{}), nil
}

// SetBrandingSettings sets how the hosted login looks.
func (s *Service) SetBrandingSettings(ctx context.Context, req *connect.Request[settingsv1.SetBrandingSettingsRequest]) (*connect.Response[settingsv1.SetBrandingSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return brandingFromProto(req.Msg.GetBranding()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetBrandingSettingsResponse{}), nil
}

// ResetSettings falls back to the level above for one group.
func (s *Service) ResetSettings(ctx context.Context, req *connect.Request[settingsv1.ResetSettingsRequest]) (*connect.Response[settingsv1.ResetSettingsResponse], error) {
	orgID := req.Msg.GetOrganizationId()
	caller, err := s.authorize(ctx, req.Header(), authz.SettingsWrite, orgID)
	if err != nil {
		return nil, err
	}
	g, err := settings.ParseGroup(req.Msg.GetGroup())
	if err != nil {
		return nil, err
	}
	if err := s.settings.Reset(ctx, caller.Editor(), caller.InstanceID, orgID, g); err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.ResetSettingsResponse{}), nil
}

// required reports a missing group in a request.
func required(field string) error { return failure.InvalidArgument(field, "required") }
