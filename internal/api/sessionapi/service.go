package sessionapi

import (
	"context"
	"net"
	"net/http"
	"sort"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
	"github.com/castellan-iam/castellan/gen/castellan/session/v1/sessionv1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/clientaddr"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
)

// Service implements sessionv1connect.SessionServiceHandler.
type Service struct {
	store        *eventstore.Store
	sessions     *session.Commands
	auth         *authn.Authenticator
	authRequests AuthRequests
	consents     Consents
}

var _ sessionv1connect.SessionServiceHandler = (*Service)(nil)

// NewService returns the session service; it finishes the provider's
// authorization requests, with the users' consents to third-party
// applications (nil: none asked).
func NewService(store *eventstore.Store, sessions *session.Commands, auth *authn.Authenticator, authRequests AuthRequests, consents Consents) *Service {
	return &Service{store: store, sessions: sessions, auth: auth, authRequests: authRequests, consents: consents}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return sessionv1connect.NewSessionServiceHandler(s, opts...)
}

// login authenticates a login: a caller with session.write on the
// instance.
func (s *Service) login(ctx context.Context, h http.Header) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	return caller, caller.Require(authz.SessionWrite, authz.Instance())
}

// loginTo authenticates a login working on one session, which it names
// with the session's token.
func (s *Service) loginTo(ctx context.Context, h http.Header, sessionID, token string) (authz.Caller, error) {
	caller, err := s.login(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	if err := required("sessionId", sessionID); err != nil {
		return authz.Caller{}, err
	}
	return caller, required("sessionToken", token)
}

// client is the session's client: the request's address (behind trusted
// proxies, the forwarded one; see package clientaddr), and the user agent
// the caller names or else its own.
func client(ctx context.Context, peer connect.Peer, h http.Header, userAgent string) session.Client {
	host := peer.Addr
	if a := clientaddr.From(ctx); a.IsValid() {
		host = a.String()
	} else if h, _, err := net.SplitHostPort(peer.Addr); err == nil {
		host = h
	}
	if userAgent == "" {
		userAgent = h.Get("User-Agent")
	}
	return session.Client{Address: host, UserAgent: userAgent}
}

func checks(c *sessionv1.Checks) session.Checks {
	var out session.Checks
	if c == nil {
		return out
	}
	if u := c.GetUser(); u != nil {
		out.User = &session.UserCheck{LoginName: u.GetLoginName(), UserID: u.GetUserId(), OrgID: u.GetOrganizationId()}
	}
	if p := c.GetPassword(); p != nil {
		pw := p.GetPassword()
		out.Password = &pw
	}
	code := func(cc *sessionv1.CodeCheck) *string {
		if cc == nil {
			return nil
		}
		v := cc.GetCode()
		return &v
	}
	out.TOTP, out.OTPEmail, out.OTPSMS, out.RecoveryCode = code(c.GetTotp()), code(c.GetOtpEmail()), code(c.GetOtpSms()), code(c.GetRecoveryCode())
	if w := c.GetWebAuthn(); w != nil {
		out.WebAuthn = w.GetCredentialAssertionData()
		if out.WebAuthn == nil {
			out.WebAuthn = []byte{}
		}
	}
	if i := c.GetIdpIntent(); i != nil {
		out.IdPIntent = &session.IntentCheck{ID: i.GetIdpIntentId(), Token: i.GetIdpIntentToken()}
	}
	return out
}

func challenges(c *sessionv1.Challenges) session.Challenges {
	var out session.Challenges
	if c == nil {
		return out
	}
	if w := c.GetWebAuthn(); w != nil {
		out.WebAuthn = &session.WebAuthnChallenge{UserVerification: w.GetUserVerification()}
	}
	out.OTPEmail, out.OTPSMS = c.GetOtpEmail(), c.GetOtpSms()
	return out
}

func toProto(s session.Session) *sessionv1.Session {
	p := &sessionv1.Session{
		Id: s.ID, UserId: s.UserID, OrganizationId: s.OrgID, LoginName: s.LoginName,
		CreateTime: timestamppb.New(s.CreatedAt), LastActiveTime: timestamppb.New(s.LastActive), ExpireTime: timestamppb.New(s.ExpiresAt),
		Authenticated: s.Status.Authenticated, Next: s.Status.Next, Amr: s.Status.AMR,
	}
	for f, c := range s.Checks {
		p.Factors = append(p.Factors, &sessionv1.Factor{Kind: string(f), VerifyTime: timestamppb.New(c.At), UserVerified: c.UserVerified, Passwordless: c.Passwordless})
	}
	sort.Slice(p.Factors, func(i, j int) bool {
		a, b := p.Factors[i], p.Factors[j]
		if !a.VerifyTime.AsTime().Equal(b.VerifyTime.AsTime()) {
			return a.VerifyTime.AsTime().Before(b.VerifyTime.AsTime())
		}
		return a.Kind < b.Kind
	})
	return p
}

func answers(a session.Answer) *sessionv1.ChallengeAnswers {
	if a.WebAuthnOptions == nil {
		return nil
	}
	return &sessionv1.ChallengeAnswers{WebAuthnOptions: a.WebAuthnOptions}
}

func summaries(list []session.Summary) []*sessionv1.SessionSummary {
	out := make([]*sessionv1.SessionSummary, 0, len(list))
	for _, s := range list {
		out = append(out, &sessionv1.SessionSummary{
			Id: s.ID, UserId: s.UserID, OrganizationId: s.OrgID, UserAgent: s.UserAgent, Address: s.Address,
			CreateTime: timestamppb.New(s.CreatedAt), LastActiveTime: timestamppb.New(s.LastActive), ExpireTime: timestamppb.New(s.ExpiresAt),
			Factors: s.Factors,
		})
	}
	return out
}

func required(field, value string) error {
	if value == "" {
		return failure.InvalidArgument(field, "required")
	}
	return nil
}

func (s *Service) CreateSession(ctx context.Context, req *connect.Request[sessionv1.CreateSessionRequest]) (*connect.Response[sessionv1.CreateSessionResponse], error) {
	m := req.Msg
	// A password check beyond the hasher's queue is refused before the
	// caller's token is checked: refusals in a storm stay cheap.
	ctx, done, err := s.sessions.Reserve(ctx, checks(m.GetChecks()))
	if err != nil {
		return nil, err
	}
	defer done()
	caller, err := s.login(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	sess, token, a, err := s.sessions.Create(ctx, caller.InstanceID, client(ctx, req.Peer(), req.Header(), m.GetUserAgent()), checks(m.GetChecks()), challenges(m.GetChallenges()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.CreateSessionResponse{Session: toProto(sess), SessionToken: token, Challenges: answers(a)}), nil
}

func (s *Service) SetSession(ctx context.Context, req *connect.Request[sessionv1.SetSessionRequest]) (*connect.Response[sessionv1.SetSessionResponse], error) {
	m := req.Msg
	ctx, done, err := s.sessions.Reserve(ctx, checks(m.GetChecks()))
	if err != nil {
		return nil, err
	}
	defer done()
	caller, err := s.loginTo(ctx, req.Header(), m.GetSessionId(), m.GetSessionToken())
	if err != nil {
		return nil, err
	}
	sess, a, err := s.sessions.Update(ctx, caller.InstanceID, m.GetSessionId(), m.GetSessionToken(), client(ctx, req.Peer(), req.Header(), m.GetUserAgent()),
		checks(m.GetChecks()), challenges(m.GetChallenges()))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.SetSessionResponse{Session: toProto(sess), Challenges: answers(a)}), nil
}

func (s *Service) GetSession(ctx context.Context, req *connect.Request[sessionv1.GetSessionRequest]) (*connect.Response[sessionv1.GetSessionResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := required("sessionId", m.GetSessionId()); err != nil {
		return nil, err
	}
	var sess session.Session
	if m.GetSessionToken() != "" {
		if err := caller.Require(authz.SessionWrite, authz.Instance()); err != nil {
			return nil, err
		}
		sess, err = s.sessions.Get(ctx, caller.InstanceID, m.GetSessionId(), m.GetSessionToken())
	} else {
		sess, err = s.administered(ctx, caller, m.GetSessionId(), authz.SessionRead)
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.GetSessionResponse{Session: toProto(sess)}), nil
}

// administered reads a session for an administrator with p on its user's
// organization; a session the caller may not read is not found.
func (s *Service) administered(ctx context.Context, caller authz.Caller, sessionID string, p authz.Permission) (session.Session, error) {
	notFound := failure.NotFound("session %s not found", sessionID)
	userID, orgID, err := s.sessions.OwnerOf(ctx, caller.InstanceID, sessionID)
	if failure.Is(err, failure.KindNotFound) {
		return session.Session{}, notFound
	}
	if err != nil {
		return session.Session{}, err
	}
	if userID == "" || !caller.Can(authz.SessionRead, authz.Org(orgID)) {
		return session.Session{}, notFound
	}
	if err := caller.Require(p, authz.Org(orgID)); err != nil {
		return session.Session{}, err
	}
	return s.sessions.GetByID(ctx, caller.InstanceID, sessionID)
}

func (s *Service) DeleteSession(ctx context.Context, req *connect.Request[sessionv1.DeleteSessionRequest]) (*connect.Response[sessionv1.DeleteSessionResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := required("sessionId", m.GetSessionId()); err != nil {
		return nil, err
	}
	editor := caller.Editor()
	if m.GetSessionToken() != "" {
		if err := caller.Require(authz.SessionWrite, authz.Instance()); err != nil {
			return nil, err
		}
		err = s.sessions.End(ctx, editor, caller.InstanceID, m.GetSessionId(), m.GetSessionToken(), "signed out")
	} else {
		err = s.endAsAdministrator(ctx, caller, editor, m.GetSessionId())
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.DeleteSessionResponse{}), nil
}

// endAsAdministrator ends a session of a user the caller manages: it needs
// user.credential.write on the user's organization and to cover the user.
func (s *Service) endAsAdministrator(ctx context.Context, caller authz.Caller, editor eventstore.Editor, sessionID string) error {
	sess, err := s.administered(ctx, caller, sessionID, authz.UserCredWrite)
	if err != nil {
		return err
	}
	holder, err := member.LoadCaller(ctx, s.store.DB(), caller.InstanceID, sess.UserID)
	if err != nil {
		return err
	}
	if err := caller.RequireCovers(holder); err != nil {
		return err
	}
	return s.sessions.End(ctx, editor, caller.InstanceID, sessionID, "", "ended by an administrator")
}

func (s *Service) ListSessions(ctx context.Context, req *connect.Request[sessionv1.ListSessionsRequest]) (*connect.Response[sessionv1.ListSessionsResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	userID := req.Msg.GetUserId()
	if err := required("userId", userID); err != nil {
		return nil, err
	}
	st, err := user.StandingOf(ctx, s.store.DB(), caller.InstanceID, userID)
	if err != nil {
		return nil, err
	}
	if !caller.Can(authz.UserRead, authz.Org(st.OrgID)) {
		return nil, failure.NotFound("user %s not found", userID)
	}
	if err := caller.Require(authz.SessionRead, authz.Org(st.OrgID)); err != nil {
		return nil, err
	}
	list, err := session.List(ctx, s.store.DB(), caller.InstanceID, userID, s.sessions.Now())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.ListSessionsResponse{Sessions: summaries(list)}), nil
}

func (s *Service) ListMySessions(ctx context.Context, req *connect.Request[sessionv1.ListMySessionsRequest]) (*connect.Response[sessionv1.ListMySessionsResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	list, err := session.List(ctx, s.store.DB(), caller.InstanceID, caller.UserID, s.sessions.Now())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.ListMySessionsResponse{Sessions: summaries(list)}), nil
}

func (s *Service) DeleteMySession(ctx context.Context, req *connect.Request[sessionv1.DeleteMySessionRequest]) (*connect.Response[sessionv1.DeleteMySessionResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	id := req.Msg.GetSessionId()
	if err := required("sessionId", id); err != nil {
		return nil, err
	}
	userID, _, err := s.sessions.OwnerOf(ctx, caller.InstanceID, id)
	if err != nil && !failure.Is(err, failure.KindNotFound) {
		return nil, err
	}
	if err != nil || userID != caller.UserID {
		return nil, failure.NotFound("session %s not found", id)
	}
	if err := s.sessions.End(ctx, caller.Editor(), caller.InstanceID, id, "", "signed out by its user"); err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.DeleteMySessionResponse{}), nil
}

func (s *Service) ChangeSessionPassword(ctx context.Context, req *connect.Request[sessionv1.ChangeSessionPasswordRequest]) (*connect.Response[sessionv1.ChangeSessionPasswordResponse], error) {
	m := req.Msg
	caller, err := s.loginTo(ctx, req.Header(), m.GetSessionId(), m.GetSessionToken())
	if err != nil {
		return nil, err
	}
	sess, err := s.sessions.ChangePassword(ctx, caller.InstanceID, m.GetSessionId(), m.GetSessionToken(), m.GetNewPassword())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&sessionv1.ChangeSessionPasswordResponse{Session: toProto(sess)}), nil
}
