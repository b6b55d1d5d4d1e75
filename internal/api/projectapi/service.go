package projectapi

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/castellan-iam/castellan/internal/oauth"
	"github.com/castellan-iam/castellan/internal/oauth/grants"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	projectv1 "github.com/castellan-iam/castellan/gen/castellan/project/v1"
	"github.com/castellan-iam/castellan/gen/castellan/project/v1/projectv1connect"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
)

// Service implements projectv1connect.ProjectServiceHandler.
type Service struct {
	store    *eventstore.Store
	commands *client.Commands
	auth     *authn.Authenticator
	// grants ends a client's grants when its type changes.
	grants *grants.Grants
}

var _ projectv1connect.ProjectServiceHandler = (*Service)(nil)

// NewService returns the project service; ring derives the key client
// secrets are hashed under.
func NewService(store *eventstore.Store, auth *authn.Authenticator, ring client.KeyDeriver) *Service {
	return &Service{store: store, commands: client.NewCommands(store, ring, nil), auth: auth, grants: grants.New(store, nil)}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return projectv1connect.NewProjectServiceHandler(s, opts...)
}

// project authenticates the caller of a request and loads a project the
// caller holds p on; one it may not read is NotFound, one it may read but
// not change is PermissionDenied.
func (s *Service) project(ctx context.Context, h http.Header, projectID string, p authz.Permission) (authz.Caller, client.Project, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, client.Project{}, err
	}
	proj, err := client.GetProject(ctx, s.store.DB(), caller.InstanceID, projectID)
	if err != nil {
		return authz.Caller{}, client.Project{}, err
	}
	scope := authz.Project(proj.ID, proj.OrgID)
	if !caller.Can(authz.ProjectRead, scope) {
		return authz.Caller{}, client.Project{}, failure.NotFound("project %.64q not found", projectID)
	}
	return caller, proj, caller.Require(p, scope)
}

// application authenticates the caller of a request and loads an
// application whose project the caller holds p on; one it may not read is
// NotFound, one it may read but not change is PermissionDenied.
func (s *Service) application(ctx context.Context, h http.Header, appID string, p authz.Permission) (authz.Caller, client.Application, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, client.Application{}, err
	}
	app, err := client.GetApplication(ctx, s.store.DB(), caller.InstanceID, appID)
	if err != nil {
		return authz.Caller{}, client.Application{}, err
	}
	scope := authz.Project(app.ProjectID, app.OrgID)
	if !caller.Can(authz.ProjectRead, scope) {
		return authz.Caller{}, client.Application{}, failure.NotFound("application %.64q not found", appID)
	}
	return caller, app, caller.Require(p, scope)
}

// CreateProject adds a project; project.write on the organization.
func (s *Service) CreateProject(ctx context.Context, req *connect.Request[projectv1.CreateProjectRequest]) (*connect.Response[projectv1.CreateProjectResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	orgID := req.Msg.GetOrganizationId()
	if orgID == "" {
		return nil, failure.InvalidArgument("organizationId", "is required")
	}
	if err := caller.Require(authz.ProjectWrite, authz.Org(orgID)); err != nil {
		return nil, err
	}
	p, err := s.commands.CreateProject(ctx, caller.Editor(), caller.InstanceID, orgID, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.CreateProjectResponse{Project: projectOf(p)}), nil
}

// GetProject returns a project; project.read on its organization.
func (s *Service) GetProject(ctx context.Context, req *connect.Request[projectv1.GetProjectRequest]) (*connect.Response[projectv1.GetProjectResponse], error) {
	_, p, err := s.project(ctx, req.Header(), req.Msg.GetProjectId(), authz.ProjectRead)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.GetProjectResponse{Project: projectOf(p)}), nil
}

// ListProjects lists the projects of the organizations the caller holds
// project.read on (of one, when named).
func (s *Service) ListProjects(ctx context.Context, req *connect.Request[projectv1.ListProjectsRequest]) (*connect.Response[projectv1.ListProjectsResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	orgID := req.Msg.GetOrganizationId()
	if orgID != "" {
		if err := caller.Require(authz.ProjectRead, authz.Org(orgID)); err != nil {
			return nil, err
		}
	} else if !caller.CanAnywhere(authz.ProjectRead) {
		return nil, caller.Require(authz.ProjectRead, authz.Instance())
	}
	projects, err := client.ListProjects(ctx, s.store.DB(), caller.InstanceID, orgID)
	if err != nil {
		return nil, err
	}
	resp := &projectv1.ListProjectsResponse{}
	for _, p := range projects {
		if caller.Can(authz.ProjectRead, authz.Project(p.ID, p.OrgID)) {
			resp.Projects = append(resp.Projects, projectOf(p))
		}
	}
	return connect.NewResponse(resp), nil
}

// CreateApplication adds an application; project.write.
func (s *Service) CreateApplication(ctx context.Context, req *connect.Request[projectv1.CreateApplicationRequest]) (*connect.Response[projectv1.CreateApplicationResponse], error) {
	caller, p, err := s.project(ctx, req.Header(), req.Msg.GetProjectId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	spec := client.ApplicationSpec{Name: m.GetName(), Public: m.GetPublic(), GrantTypes: m.GetGrantTypes(), Scopes: m.GetScopes(),
		Redirects: redirectsOf(m), AuthMethod: m.GetAuthMethod(), IDTokenAlg: m.GetIdTokenAlg(),
		ThirdParty: m.GetThirdParty(), ResourceURI: m.GetResourceUri(), ImpersonationAllowed: m.GetImpersonationAllowed(),
		Certificates: m.GetCertificates(), CertificateBoundTokens: m.GetCertificateBoundTokens()}
	if spec.TLSClientAuth, err = s.tlsClientAuthOf(ctx, caller.InstanceID, m.GetTlsClientAuth()); err != nil {
		return nil, err
	}
	if spec.RoleClaims, err = roleClaimsOf(m.GetRoleClaims()); err != nil {
		return nil, err
	}
	if m.GetJwks() != "" {
		spec.JWKS = []byte(m.GetJwks())
	}
	switch m.GetKind() {
	case projectv1.ApplicationKind_APPLICATION_KIND_API:
		spec.Kind = client.KindAPI
	case projectv1.ApplicationKind_APPLICATION_KIND_OIDC, projectv1.ApplicationKind_APPLICATION_KIND_UNSPECIFIED:
		spec.Kind = client.KindOIDC
	default:
		return nil, failure.InvalidArgument("kind", "unknown kind %d", m.GetKind())
	}
	if spec.AccessTokenType, err = tokenTypeOf(m.GetAccessTokenType()); err != nil {
		return nil, err
	}
	if d := m.GetAccessTokenLifetime(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, failure.InvalidArgument("accessTokenLifetime", "%v", err)
		}
		spec.AccessTokenLifetime = d.AsDuration()
	}
	app, secret, err := s.commands.CreateApplication(ctx, caller.Editor(), caller.InstanceID, p.ID, spec)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.CreateApplicationResponse{Application: applicationOf(app), ClientSecret: secret}), nil
}

// GetApplication returns an application; project.read.
func (s *Service) GetApplication(ctx context.Context, req *connect.Request[projectv1.GetApplicationRequest]) (*connect.Response[projectv1.GetApplicationResponse], error) {
	_, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectRead)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.GetApplicationResponse{Application: applicationOf(app)}), nil
}

// SetApplicationRedirects replaces an application's redirects;
// project.write.
func (s *Service) SetApplicationRedirects(ctx context.Context, req *connect.Request[projectv1.SetApplicationRedirectsRequest]) (*connect.Response[projectv1.SetApplicationRedirectsResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	app, err = s.commands.SetRedirects(ctx, caller.Editor(), caller.InstanceID, app.ID, redirectsOf(m))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.SetApplicationRedirectsResponse{Application: applicationOf(app)}), nil
}

// SetApplicationKeys replaces a private_key_jwt client's keys;
// project.write.
func (s *Service) SetApplicationKeys(ctx context.Context, req *connect.Request[projectv1.SetApplicationKeysRequest]) (*connect.Response[projectv1.SetApplicationKeysResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	var jwks []byte
	if req.Msg.GetJwks() != "" {
		jwks = []byte(req.Msg.GetJwks())
	}
	app, err = s.commands.SetCertificates(ctx, caller.Editor(), caller.InstanceID, app.ID, jwks, req.Msg.GetCertificates())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.SetApplicationKeysResponse{Application: applicationOf(app)}), nil
}

// SetApplicationDPoP replaces a client application's DPoP settings;
// project.write.
func (s *Service) SetApplicationDPoP(ctx context.Context, req *connect.Request[projectv1.SetApplicationDPoPRequest]) (*connect.Response[projectv1.SetApplicationDPoPResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	app, err = s.commands.SetDPoP(ctx, caller.Editor(), caller.InstanceID, app.ID, client.DPoP{Required: req.Msg.GetRequired(), NonceRequired: req.Msg.GetNonceRequired()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.SetApplicationDPoPResponse{Application: applicationOf(app)}), nil
}

// SetApplicationFAPI turns the FAPI 2.0 Security Profile on or off for a
// client application; project.write.
func (s *Service) SetApplicationFAPI(ctx context.Context, req *connect.Request[projectv1.SetApplicationFAPIRequest]) (*connect.Response[projectv1.SetApplicationFAPIResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	app, err = s.commands.SetFAPI(ctx, caller.Editor(), caller.InstanceID, app.ID, req.Msg.GetEnabled())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.SetApplicationFAPIResponse{Application: applicationOf(app)}), nil
}

// ListApplications lists a project's applications; project.read.
func (s *Service) ListApplications(ctx context.Context, req *connect.Request[projectv1.ListApplicationsRequest]) (*connect.Response[projectv1.ListApplicationsResponse], error) {
	caller, p, err := s.project(ctx, req.Header(), req.Msg.GetProjectId(), authz.ProjectRead)
	if err != nil {
		return nil, err
	}
	apps, err := client.ListApplications(ctx, s.store.DB(), caller.InstanceID, p.ID)
	if err != nil {
		return nil, err
	}
	resp := &projectv1.ListApplicationsResponse{}
	for _, a := range apps {
		resp.Applications = append(resp.Applications, applicationOf(a))
	}
	return connect.NewResponse(resp), nil
}

// AddClientSecret rotates an application's secret; project.write. An
// application has no permissions of its own yet, so its secret gives
// nothing the caller lacks (see package client on escalation).
func (s *Service) AddClientSecret(ctx context.Context, req *connect.Request[projectv1.AddClientSecretRequest]) (*connect.Response[projectv1.AddClientSecretResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	var overlap time.Duration
	if d := req.Msg.GetOverlap(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, failure.InvalidArgument("overlap", "%v", err)
		}
		overlap = d.AsDuration()
	}
	secret, value, err := s.commands.AddSecret(ctx, caller.Editor(), caller.InstanceID, app.ID, overlap)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.AddClientSecretResponse{Secret: secretOf(secret), ClientSecret: value}), nil
}

// RemoveClientSecret ends a secret; project.write.
func (s *Service) RemoveClientSecret(ctx context.Context, req *connect.Request[projectv1.RemoveClientSecretRequest]) (*connect.Response[projectv1.RemoveClientSecretResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.RemoveSecret(ctx, caller.Editor(), caller.InstanceID, app.ID, req.Msg.GetSecretId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.RemoveClientSecretResponse{}), nil
}

// redirectsMessage is a request that carries an application's redirects
// (CreateApplicationRequest, SetApplicationRedirectsRequest).
type redirectsMessage interface {
	GetRedirectUris() []string
	GetPostLogoutRedirectUris() []string
	GetDevMode() bool
	GetRequirePushedRequests() bool
	GetBackchannelLogoutUri() string
}

func redirectsOf(m redirectsMessage) client.Redirects {
	return client.Redirects{RedirectURIs: m.GetRedirectUris(), PostLogoutRedirectURIs: m.GetPostLogoutRedirectUris(), DevMode: m.GetDevMode(),
		RequirePushed: m.GetRequirePushedRequests(), BackchannelLogoutURI: m.GetBackchannelLogoutUri()}
}

func projectOf(p client.Project) *projectv1.Project {
	return &projectv1.Project{Id: p.ID, OrganizationId: p.OrgID, Name: p.Name, CreateTime: timestamppb.New(p.CreatedAt)}
}

func secretOf(s client.Secret) *projectv1.ClientSecret {
	out := &projectv1.ClientSecret{Id: s.ID, CreateTime: timestamppb.New(s.CreatedAt)}
	if !s.ExpiresAt.IsZero() {
		out.ExpireTime = timestamppb.New(s.ExpiresAt)
	}
	return out
}

func applicationOf(a client.Application) *projectv1.Application {
	out := &projectv1.Application{
		Id: a.ID, ProjectId: a.ProjectID, OrganizationId: a.OrgID, Name: a.Name, ClientId: a.ClientID, Public: a.Public,
		GrantTypes: a.GrantTypes, Scopes: a.Scopes, CreateTime: timestamppb.New(a.CreatedAt),
		RedirectUris: a.RedirectURIs, PostLogoutRedirectUris: a.PostLogoutRedirectURIs, DevMode: a.DevMode, RequirePushedRequests: a.RequirePushed,
		BackchannelLogoutUri: a.BackchannelLogoutURI, AuthMethod: a.AuthMethod, IdTokenAlg: a.IDTokenAlg, ThirdParty: a.ThirdParty,
		ResourceUri: a.ResourceURI, ImpersonationAllowed: a.ImpersonationAllowed,
		Dpop:         &projectv1.DPoPSettings{Required: a.DPoP.Required, NonceRequired: a.DPoP.NonceRequired},
		Certificates: a.Certificates, CertificateBoundTokens: a.CertificateBoundTokens, Fapi: a.FAPI,
		Kind: projectv1.ApplicationKind_APPLICATION_KIND_OIDC, AccessTokenType: projectv1.AccessTokenType_ACCESS_TOKEN_TYPE_JWT,
	}
	if a.Kind == client.KindAPI {
		out.Kind = projectv1.ApplicationKind_APPLICATION_KIND_API
	}
	out.RoleClaims = projectv1.RoleClaimFormat_ROLE_CLAIM_FORMAT_NESTED
	if a.RoleClaims == client.RoleClaimsFlat {
		out.RoleClaims = projectv1.RoleClaimFormat_ROLE_CLAIM_FORMAT_FLAT
	}
	if a.AccessTokenType == client.TokenOpaque {
		out.AccessTokenType = projectv1.AccessTokenType_ACCESS_TOKEN_TYPE_OPAQUE
	}
	if a.AccessTokenLifetime != 0 {
		out.AccessTokenLifetime = durationpb.New(a.AccessTokenLifetime)
	}
	if a.MayAct != nil {
		out.MayAct = &projectv1.MayAct{Sub: a.MayAct.Subject, ClientId: a.MayAct.ClientID}
	}
	for _, s := range a.Secrets {
		out.Secrets = append(out.Secrets, secretOf(s))
	}
	if len(a.JWKS.Keys) > 0 {
		if b, err := json.Marshal(a.JWKS); err == nil {
			out.Jwks = string(b)
		}
	}
	if t := a.TLSClientAuth; t != nil {
		out.TlsClientAuth = &projectv1.TlsClientAuth{TrustSetId: t.TrustSetID, SubjectDn: t.SubjectDN, SanDns: t.SANDNS, SanUri: t.SANURI,
			SanIp: t.SANIP, SanEmail: t.SANEmail}
	}
	return out
}

// tlsClientAuthOf is a tls_client_auth registration; the trust set it
// names must exist in the instance.
func (s *Service) tlsClientAuthOf(ctx context.Context, instanceID string, m *projectv1.TlsClientAuth) (*client.TLSClientAuth, error) {
	if m == nil {
		return nil, nil
	}
	if id := m.GetTrustSetId(); id != "" {
		if _, err := trustset.Get(ctx, s.store.DB(), instanceID, id); failure.Is(err, failure.KindNotFound) {
			return nil, failure.InvalidArgument("tlsClientAuth.trustSetId", "no trust set %.64q in this instance", id)
		} else if err != nil {
			return nil, err
		}
	}
	return &client.TLSClientAuth{TrustSetID: m.GetTrustSetId(), SubjectDN: m.GetSubjectDn(), SANDNS: m.GetSanDns(), SANURI: m.GetSanUri(),
		SANIP: m.GetSanIp(), SANEmail: m.GetSanEmail()}, nil
}

// roleClaimsOf is the role claim format an API value names ("" for the
// default).
func roleClaimsOf(f projectv1.RoleClaimFormat) (string, error) {
	switch f {
	case projectv1.RoleClaimFormat_ROLE_CLAIM_FORMAT_NESTED:
		return client.RoleClaimsNested, nil
	case projectv1.RoleClaimFormat_ROLE_CLAIM_FORMAT_FLAT:
		return client.RoleClaimsFlat, nil
	case projectv1.RoleClaimFormat_ROLE_CLAIM_FORMAT_UNSPECIFIED:
		return "", nil
	}
	return "", failure.InvalidArgument("roleClaims", "%d is not a role claim format", f)
}

// tokenTypeOf is the access token type an API value names.
func tokenTypeOf(t projectv1.AccessTokenType) (string, error) {
	switch t {
	case projectv1.AccessTokenType_ACCESS_TOKEN_TYPE_JWT, projectv1.AccessTokenType_ACCESS_TOKEN_TYPE_UNSPECIFIED:
		return client.TokenJWT, nil
	case projectv1.AccessTokenType_ACCESS_TOKEN_TYPE_OPAQUE:
		return client.TokenOpaque, nil
	}
	return "", failure.InvalidArgument("accessTokenType", "unknown type %d", t)
}

// UpdateApplication changes what an application may do; project.write.
func (s *Service) UpdateApplication(ctx context.Context, req *connect.Request[projectv1.UpdateApplicationRequest]) (*connect.Response[projectv1.UpdateApplicationResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	u := client.ApplicationUpdate{Name: m.Name, IDTokenAlg: m.IdTokenAlg, ThirdParty: m.ThirdParty, ResourceURI: m.ResourceUri,
		ImpersonationAllowed: m.ImpersonationAllowed, CertificateBoundTokens: m.CertificateBoundTokens}
	if u.TLSClientAuth, err = s.tlsClientAuthOf(ctx, caller.InstanceID, m.GetTlsClientAuth()); err != nil {
		return nil, err
	}
	if m.GrantTypes != nil {
		u.GrantTypes, u.SetGrantTypes = m.GetGrantTypes().GetValues(), true
	}
	if m.Scopes != nil {
		u.Scopes, u.SetScopes = m.GetScopes().GetValues(), true
	}
	if m.AccessTokenType != nil {
		t, err := tokenTypeOf(m.GetAccessTokenType())
		if err != nil {
			return nil, err
		}
		u.AccessTokenType = &t
	}
	if m.RoleClaims != nil {
		f, err := roleClaimsOf(m.GetRoleClaims())
		if err != nil {
			return nil, err
		}
		u.RoleClaims = &f
	}
	if d := m.GetAccessTokenLifetime(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, failure.InvalidArgument("accessTokenLifetime", "%v", err)
		}
		l := d.AsDuration()
		u.AccessTokenLifetime = &l
	}
	app, err = s.commands.UpdateApplication(ctx, caller.Editor(), caller.InstanceID, app.ID, u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.UpdateApplicationResponse{Application: applicationOf(app)}), nil
}

// SetApplicationAuthentication changes a client's type and
// authentication method; project.write. A change between public and
// confidential ends the client's grants: once checked and before it is
// written (a failure leaves the client as it was), and after it (the
// grants issued meanwhile).
func (s *Service) SetApplicationAuthentication(ctx context.Context, req *connect.Request[projectv1.SetApplicationAuthenticationRequest]) (*connect.Response[projectv1.SetApplicationAuthenticationResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	ended := 0
	endGrants := func(ctx context.Context) error {
		n, err := s.grants.RevokeClient(ctx, caller.Editor(), caller.InstanceID, app.ClientID, "client_type_changed")
		ended += n
		return err
	}
	ch := client.AuthenticationChange{Public: m.GetPublic(), AuthMethod: m.GetAuthMethod(), Certificates: m.GetCertificates(), BeforeTypeChange: endGrants}
	if m.GetJwks() != "" {
		ch.JWKS = []byte(m.GetJwks())
	}
	if ch.TLSClientAuth, err = s.tlsClientAuthOf(ctx, caller.InstanceID, m.GetTlsClientAuth()); err != nil {
		return nil, err
	}
	res, err := s.commands.ChangeAuthentication(ctx, caller.Editor(), caller.InstanceID, app.ID, ch)
	if err != nil {
		return nil, err
	}
	if res.TypeChanged {
		if err := endGrants(ctx); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&projectv1.SetApplicationAuthenticationResponse{Application: applicationOf(res.Application),
		ClientSecret: res.Secret, GrantsEnded: int32(min(ended, math.MaxInt32))}), nil
}

// SetApplicationMayAct names who may act for the subjects of a client's
// tokens (may_act, RFC 8693 section 4.4); project.write.
func (s *Service) SetApplicationMayAct(ctx context.Context, req *connect.Request[projectv1.SetApplicationMayActRequest]) (*connect.Response[projectv1.SetApplicationMayActResponse], error) {
	caller, app, err := s.application(ctx, req.Header(), req.Msg.GetApplicationId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	var m *oauth.MayAct
	if ma := req.Msg.GetMayAct(); ma != nil {
		m = &oauth.MayAct{Subject: ma.GetSub(), ClientID: ma.GetClientId()}
	}
	if app, err = s.commands.SetMayAct(ctx, caller.Editor(), caller.InstanceID, app.ID, m); err != nil {
		return nil, err
	}
	return connect.NewResponse(&projectv1.SetApplicationMayActResponse{Application: applicationOf(app)}), nil
}
