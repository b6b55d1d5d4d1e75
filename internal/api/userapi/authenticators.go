package userapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/user"
)

// AuthenticatorService implements userv1connect.AuthenticatorServiceHandler:
// a user's own second factors (TOTP, sign-in codes, recovery codes), and an
// administrator's view and removal of them, through package user's
// commands. It finds and authorizes users as the user service does (me,
// target, managed).
type AuthenticatorService struct {
	users *Service
	keys  *keyring.Ring
	// mail renders and sends the notices of changes to users'
	// authenticators; nil for none.
	mail mail.Sender
	log  *slog.Logger
}

var _ userv1connect.AuthenticatorServiceHandler = (*AuthenticatorService)(nil)

// notifyTimeout bounds the notification email a change sends, so that a
// slow provider delays the answer only so much.
const notifyTimeout = 10 * time.Second

// NewAuthenticatorService returns the authenticator service. TOTP seeds
// are sealed with keys; send (nil for none) tells users by email, in
// their language, when an authenticator of theirs is added or removed; log records notifications that could not be sent.
func NewAuthenticatorService(store *eventstore.Store, users *user.Commands, auth *authn.Authenticator, keys *keyring.Ring, send mail.Sender, log *slog.Logger) *AuthenticatorService {
	return &AuthenticatorService{users: &Service{store: store, users: users, auth: auth, keys: keys}, keys: keys, mail: send, log: log}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *AuthenticatorService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return userv1connect.NewAuthenticatorServiceHandler(s, opts...)
}

func (s *AuthenticatorService) commands() *user.Commands { return s.users.users }

func authenticatorsToProto(a credential.Authenticators) *userv1.Authenticators {
	return &userv1.Authenticators{HasPassword: a.HasPassword, PasswordChangeRequired: a.PasswordChangeRequired,
		Totp: a.TOTP, TotpPending: a.TOTPPending, RecoveryCodesLeft: int32(a.RecoveryCodesLeft),
		OtpEmail: a.SignInCodeEmail, OtpSms: a.SignInCodeSMS}
}

// The authenticators as a notice names them.
const (
	nameTOTP          = mail.TOTP
	nameRecoveryCodes = mail.RecoveryCodes
	nameOTPEmail      = mail.OTPEmail
	nameOTPSMS        = mail.OTPSMS
)

// notifyChange tells u, at its verified email address, that an
// authenticator was added or removed. It runs after the change is stored
// and never fails the request: a failure is logged, without the message.
func (s *AuthenticatorService) notifyChange(ctx context.Context, u user.User, authenticator mail.Authenticator, added bool) {
	kind := mail.AuthenticatorRemoved
	if added {
		kind = mail.AuthenticatorAdded
	}
	m := mail.Message{Kind: kind, Data: mail.Data{LoginName: u.LoginName, Authenticator: authenticator}}
	if err := sendNotice(ctx, s.mail, u, m); err != nil && s.log != nil {
		s.log.Warn("could not tell a user of a change to its authenticators", "instance", u.InstanceID, "user", u.ID, "err", err)
	}
}

// sendNotice mails u a notice, in its language, through the email
// provider of u's instance, within notifyTimeout and even when the request
// that caused it has ended; nothing without a sender or a verified email
// address.
func sendNotice(ctx context.Context, send mail.Sender, u user.User, m mail.Message) error {
	if send == nil || u.Email == "" || !u.EmailVerified {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyTimeout)
	defer cancel()
	return send(ctx, mail.Recipient{InstanceID: u.InstanceID, UserID: u.ID, OrgID: u.OrgID, To: u.Email}, m)
}

// issuer labels a TOTP entry in the user's app: the instance's name.
func issuer(ctx context.Context) string {
	if inst, ok := instance.FromContext(ctx); ok && inst.Name != "" {
		return inst.Name
	}
	return "Castellan"
}

// ListMyAuthenticators lists the caller's authenticators.
func (s *AuthenticatorService) ListMyAuthenticators(ctx context.Context, req *connect.Request[userv1.ListMyAuthenticatorsRequest]) (*connect.Response[userv1.ListMyAuthenticatorsResponse], error) {
	caller, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	a, err := s.commands().Authenticators(ctx, caller.InstanceID, u.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ListMyAuthenticatorsResponse{Authenticators: authenticatorsToProto(a)}), nil
}

// AddMyTOTP starts a TOTP registration of the caller.
func (s *AuthenticatorService) AddMyTOTP(ctx context.Context, req *connect.Request[userv1.AddMyTOTPRequest]) (*connect.Response[userv1.AddMyTOTPResponse], error) {
	caller, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	reg, err := s.commands().AddTOTP(ctx, caller.Editor(), caller.InstanceID, u.ID, issuer(ctx), s.keys)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.AddMyTOTPResponse{Secret: reg.Secret, Uri: reg.URI, QrCodePng: reg.QRCode}), nil
}

// VerifyMyTOTP activates the caller's pending TOTP registration.
func (s *AuthenticatorService) VerifyMyTOTP(ctx context.Context, req *connect.Request[userv1.VerifyMyTOTPRequest]) (*connect.Response[userv1.VerifyMyTOTPResponse], error) {
	if err := required("code", req.Msg.GetCode()); err != nil {
		return nil, err
	}
	caller, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.commands().VerifyTOTP(ctx, caller.Editor(), caller.InstanceID, u.ID, req.Msg.GetCode(), s.keys); err != nil {
		return nil, err
	}
	s.notifyChange(ctx, u, nameTOTP, true)
	return connect.NewResponse(&userv1.VerifyMyTOTPResponse{}), nil
}

// RemoveMyTOTP removes the caller's TOTP.
func (s *AuthenticatorService) RemoveMyTOTP(ctx context.Context, req *connect.Request[userv1.RemoveMyTOTPRequest]) (*connect.Response[userv1.RemoveMyTOTPResponse], error) {
	if err := s.changeMine(ctx, req.Header(), nameTOTP, false, s.commands().RemoveTOTP); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMyTOTPResponse{}), nil
}

// GenerateMyRecoveryCodes gives the caller new recovery codes.
func (s *AuthenticatorService) GenerateMyRecoveryCodes(ctx context.Context, req *connect.Request[userv1.GenerateMyRecoveryCodesRequest]) (*connect.Response[userv1.GenerateMyRecoveryCodesResponse], error) {
	caller, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	codes, err := s.commands().GenerateRecoveryCodes(ctx, caller.Editor(), caller.InstanceID, u.ID)
	if err != nil {
		return nil, err
	}
	s.notifyChange(ctx, u, nameRecoveryCodes, true)
	return connect.NewResponse(&userv1.GenerateMyRecoveryCodesResponse{Codes: codes}), nil
}

// RemoveMyRecoveryCodes removes the caller's recovery codes.
func (s *AuthenticatorService) RemoveMyRecoveryCodes(ctx context.Context, req *connect.Request[userv1.RemoveMyRecoveryCodesRequest]) (*connect.Response[userv1.RemoveMyRecoveryCodesResponse], error) {
	if err := s.changeMine(ctx, req.Header(), nameRecoveryCodes, false, s.commands().RemoveRecoveryCodes); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMyRecoveryCodesResponse{}), nil
}

// AddMyOTPEmail lets the caller sign in with codes by email.
func (s *AuthenticatorService) AddMyOTPEmail(ctx context.Context, req *connect.Request[userv1.AddMyOTPEmailRequest]) (*connect.Response[userv1.AddMyOTPEmailResponse], error) {
	if err := s.changeMine(ctx, req.Header(), nameOTPEmail, true, s.signInCodes(credential.ChannelEmail, true)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.AddMyOTPEmailResponse{}), nil
}

// RemoveMyOTPEmail stops the caller's sign-in codes by email.
func (s *AuthenticatorService) RemoveMyOTPEmail(ctx context.Context, req *connect.Request[userv1.RemoveMyOTPEmailRequest]) (*connect.Response[userv1.RemoveMyOTPEmailResponse], error) {
	if err := s.changeMine(ctx, req.Header(), nameOTPEmail, false, s.signInCodes(credential.ChannelEmail, false)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMyOTPEmailResponse{}), nil
}

// AddMyOTPSMS lets the caller sign in with codes by SMS.
func (s *AuthenticatorService) AddMyOTPSMS(ctx context.Context, req *connect.Request[userv1.AddMyOTPSMSRequest]) (*connect.Response[userv1.AddMyOTPSMSResponse], error) {
	if err := s.changeMine(ctx, req.Header(), nameOTPSMS, true, s.signInCodes(credential.ChannelPhone, true)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.AddMyOTPSMSResponse{}), nil
}

// RemoveMyOTPSMS stops the caller's sign-in codes by SMS.
func (s *AuthenticatorService) RemoveMyOTPSMS(ctx context.Context, req *connect.Request[userv1.RemoveMyOTPSMSRequest]) (*connect.Response[userv1.RemoveMyOTPSMSResponse], error) {
	if err := s.changeMine(ctx, req.Header(), nameOTPSMS, false, s.signInCodes(credential.ChannelPhone, false)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMyOTPSMSResponse{}), nil
}

// ListAuthenticators lists a user's authenticators; the caller needs
// user.read on the user's organization.
func (s *AuthenticatorService) ListAuthenticators(ctx context.Context, req *connect.Request[userv1.ListAuthenticatorsRequest]) (*connect.Response[userv1.ListAuthenticatorsResponse], error) {
	caller, u, err := s.users.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserRead)
	if err != nil {
		return nil, err
	}
	a, err := s.commands().Authenticators(ctx, caller.InstanceID, u.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ListAuthenticatorsResponse{Authenticators: authenticatorsToProto(a)}), nil
}

// RemoveTOTP removes a user's TOTP.
func (s *AuthenticatorService) RemoveTOTP(ctx context.Context, req *connect.Request[userv1.RemoveTOTPRequest]) (*connect.Response[userv1.RemoveTOTPResponse], error) {
	if err := s.removeManaged(ctx, req.Header(), req.Msg.GetUserId(), nameTOTP, s.commands().RemoveTOTP); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveTOTPResponse{}), nil
}

// RemoveRecoveryCodes removes a user's recovery codes.
func (s *AuthenticatorService) RemoveRecoveryCodes(ctx context.Context, req *connect.Request[userv1.RemoveRecoveryCodesRequest]) (*connect.Response[userv1.RemoveRecoveryCodesResponse], error) {
	if err := s.removeManaged(ctx, req.Header(), req.Msg.GetUserId(), nameRecoveryCodes, s.commands().RemoveRecoveryCodes); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveRecoveryCodesResponse{}), nil
}

// RemoveOTPEmail stops a user's sign-in codes by email.
func (s *AuthenticatorService) RemoveOTPEmail(ctx context.Context, req *connect.Request[userv1.RemoveOTPEmailRequest]) (*connect.Response[userv1.RemoveOTPEmailResponse], error) {
	if err := s.removeManaged(ctx, req.Header(), req.Msg.GetUserId(), nameOTPEmail, s.signInCodes(credential.ChannelEmail, false)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveOTPEmailResponse{}), nil
}

// RemoveOTPSMS stops a user's sign-in codes by SMS.
func (s *AuthenticatorService) RemoveOTPSMS(ctx context.Context, req *connect.Request[userv1.RemoveOTPSMSRequest]) (*connect.Response[userv1.RemoveOTPSMSResponse], error) {
	if err := s.removeManaged(ctx, req.Header(), req.Msg.GetUserId(), nameOTPSMS, s.signInCodes(credential.ChannelPhone, false)); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveOTPSMSResponse{}), nil
}

// change is a command that adds or removes an authenticator of a user.
type change func(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error

// signInCodes opts a user in to or out of a channel's sign-in codes.
func (s *AuthenticatorService) signInCodes(channel string, add bool) change {
	return func(ctx context.Context, editor eventstore.Editor, instanceID, userID string) error {
		if add {
			return s.commands().AddSignInCodeFactor(ctx, editor, instanceID, userID, channel)
		}
		return s.commands().RemoveSignInCodeFactor(ctx, editor, instanceID, userID, channel)
	}
}

// changeMine applies a change to the caller's own authenticators and tells
// the caller.
func (s *AuthenticatorService) changeMine(ctx context.Context, h http.Header, authenticator mail.Authenticator, added bool, do change) error {
	caller, u, err := s.users.me(ctx, h)
	if err != nil {
		return err
	}
	if err := do(ctx, caller.Editor(), caller.InstanceID, u.ID); err != nil {
		return err
	}
	s.notifyChange(ctx, u, authenticator, added)
	return nil
}

// removeManaged removes an authenticator of a user the caller manages: it
// needs user.credential.write on the user's organization and must hold
// every permission the user holds (managed), and tells the user.
func (s *AuthenticatorService) removeManaged(ctx context.Context, h http.Header, userID string, authenticator mail.Authenticator, do change) error {
	caller, u, err := s.users.managed(ctx, h, userID, authz.UserCredWrite)
	if err != nil {
		return err
	}
	if err := do(ctx, caller.Editor(), caller.InstanceID, u.ID); err != nil {
		return err
	}
	s.notifyChange(ctx, u, authenticator, false)
	return nil
}
