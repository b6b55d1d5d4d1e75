package sessionapi

import (
	"context"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/authreq"
	oauthclient "github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/session"
)

// AuthRequests are the provider's authorization requests a login
// finishes (authreq.Requests).
type AuthRequests interface {
	Get(ctx context.Context, instanceID, id string) (authreq.Request, error)
	Finish(ctx context.Context, instanceID, id string, g authreq.Grant) (string, error)
	Deny(ctx context.Context, instanceID, id, code, description string) (string, error)
}

// Consents remember what users allowed third-party applications.
type Consents interface {
	Covers(ctx context.Context, instanceID, userID, clientID string, scopes []string) (bool, error)
	Grant(ctx context.Context, editor eventstore.Editor, instanceID, orgID, userID, clientID string, scopes []string) error
}

// consented checks (or, with given, records) the user's consent to a
// third-party application's request.
func (s *Service) consented(ctx context.Context, instanceID string, ar authreq.Request, sess session.Session, given bool) error {
	if s.consents == nil {
		return nil
	}
	app, err := oauthclient.ApplicationByClientID(ctx, s.store.DB(), instanceID, ar.ClientID)
	if err != nil || !app.ThirdParty {
		return err
	}
	if given {
		return s.consents.Grant(ctx, eventstore.Editor{UserID: sess.UserID, ClientID: "login", SessionID: sess.ID}, instanceID, sess.OrgID, sess.UserID, app.ClientID, ar.Scopes)
	}
	covered, err := s.consents.Covers(ctx, instanceID, sess.UserID, app.ClientID, ar.Scopes)
	if err != nil {
		return err
	}
	if !covered || ar.HasPrompt("consent") {
		return failure.FailedPrecondition("consent required: the user must allow %s the scopes %v (set consent once it did)", app.Name, ar.Scopes)
	}
	return nil
}

// denyErrors are the errors a login may end a request with (RFC 6749
// section 4.1.2.1, OIDC Core section 3.1.2.6).
var denyErrors = []string{"access_denied", "login_required", "consent_required", "interaction_required", "account_selection_required"}

// GetAuthRequest returns a pending authorization request to a login.
func (s *Service) GetAuthRequest(ctx context.Context, req *connect.Request[sessionv1.GetAuthRequestRequest]) (*connect.Response[sessionv1.GetAuthRequestResponse], error) {
	caller, err := s.login(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	ar, err := s.authRequests.Get(ctx, caller.InstanceID, req.Msg.GetAuthRequestId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.GetAuthRequestResponse{AuthRequest: &sessionv1.AuthRequest{
		Id: ar.ID, ClientId: ar.ClientID, Scopes: ar.Scopes, Prompt: ar.Prompt, MaxAge: ar.MaxAge, LoginHint: ar.LoginHint, UiLocales: ar.UILocales,
		CreateTime: timestamppb.New(ar.CreatedAt), ExpireTime: timestamppb.New(ar.ExpiresAt),
	}}), nil
}

// FinishAuthRequest finishes a request with an authenticated session
// the login holds the token of.
func (s *Service) FinishAuthRequest(ctx context.Context, req *connect.Request[sessionv1.FinishAuthRequestRequest]) (*connect.Response[sessionv1.FinishAuthRequestResponse], error) {
	m := req.Msg
	caller, err := s.loginTo(ctx, req.Header(), m.GetSessionId(), m.GetSessionToken())
	if err != nil {
		return nil, err
	}
	ar, err := s.authRequests.Get(ctx, caller.InstanceID, m.GetAuthRequestId())
	if err != nil {
		return nil, err
	}
	sess, err := s.sessions.Get(ctx, caller.InstanceID, m.GetSessionId(), m.GetSessionToken())
	if err != nil {
		return nil, err
	}
	if !sess.Status.Authenticated {
		return nil, failure.FailedPrecondition("the session is not authenticated; next: %v", sess.Status.Next)
	}
	if !authreq.Fresh(ar, sess, s.sessions.Now()) {
		return nil, failure.FailedPrecondition("the session's sign-in is older than the request's max_age of %d seconds; check a factor again", ar.MaxAge)
	}
	if err := s.consented(ctx, caller.InstanceID, ar, sess, m.GetConsent()); err != nil {
		return nil, err
	}
	to, err := s.authRequests.Finish(ctx, caller.InstanceID, ar.ID, authreq.GrantOf(sess))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.FinishAuthRequestResponse{CallbackUrl: to}), nil
}

// DenyAuthRequest ends a request with an error for the application.
func (s *Service) DenyAuthRequest(ctx context.Context, req *connect.Request[sessionv1.DenyAuthRequestRequest]) (*connect.Response[sessionv1.DenyAuthRequestResponse], error) {
	caller, err := s.login(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if !slices.Contains(denyErrors, m.GetError()) {
		return nil, failure.InvalidArgument("error", "must be one of %v", denyErrors)
	}
	if len(m.GetDescription()) > 500 {
		return nil, failure.InvalidArgument("description", "at most 500 bytes")
	}
	to, err := s.authRequests.Deny(ctx, caller.InstanceID, m.GetAuthRequestId(), m.GetError(), m.GetDescription())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.DenyAuthRequestResponse{CallbackUrl: to}), nil
}
