package userapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/user"
)

// PasskeyService implements userv1connect.PasskeyServiceHandler: a user's
// own WebAuthn credentials (registration ceremonies, list, removal), and an
// administrator's view and removal of them, through package passkey's
// commands with the instance as relying party. It finds and authorizes
// users as the user service does (me, target, managed); whether a user may
// register a credential is decided here from the user's type (user.MayUse)
// and the login settings in force for its organization.
type PasskeyService struct {
	users    *Service
	passkeys *passkey.Commands
	// mail renders and sends the notices of changes to users'
	// credentials; nil for none.
	mail mail.Sender
	log  *slog.Logger
}

var _ userv1connect.PasskeyServiceHandler = (*PasskeyService)(nil)

// maxPasskeyIDLength bounds a credential id in a request: base64url of at
// most 1023 bytes (WebAuthn L2 §5.8.3), 1364 characters.
const maxPasskeyIDLength = 1364

// NewPasskeyService returns the passkey service. passkeys runs the
// ceremonies (the composition root's, with each instance as its relying
// party); send (nil for none) tells users by email, in their language,
// when a credential of theirs is added or removed; log
// records notifications that could not be sent.
func NewPasskeyService(store *eventstore.Store, auth *authn.Authenticator, passkeys *passkey.Commands, send mail.Sender, log *slog.Logger) *PasskeyService {
	return &PasskeyService{users: &Service{store: store, auth: auth}, passkeys: passkeys, mail: send, log: log}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *PasskeyService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return userv1connect.NewPasskeyServiceHandler(s, opts...)
}

func passkeyToProto(c passkey.Credential) *userv1.Passkey {
	p := &userv1.Passkey{Id: c.ID, Name: c.Name, CreateTime: timestamppb.New(c.CreatedAt), Passwordless: c.Passwordless,
		Discoverable: c.Discoverable, Aaguid: c.AAGUID, BackupEligible: c.BackupEligible, BackedUp: c.BackedUp,
		CloneWarnings: int32(c.CloneWarnings)}
	if !c.LastUsedAt.IsZero() {
		p.LastUseTime = timestamppb.New(c.LastUsedAt)
	}
	return p
}

func passkeysToProto(list []passkey.Credential) []*userv1.Passkey {
	out := make([]*userv1.Passkey, len(list))
	for i, c := range list {
		out[i] = passkeyToProto(c)
	}
	return out
}

// mayRegister refuses a registration the user's type or the login
// settings of its organization do not allow (user.MayRegisterPasskey).
func (s *PasskeyService) mayRegister(ctx context.Context, u user.User, passwordless bool) error {
	return user.MayRegisterPasskey(ctx, s.users.db(), u, passwordless)
}

// fieldAs renames the field a domain error names to the request's.
func fieldAs(err error, domainField, requestField string) error {
	var fe *failure.Error
	if errors.As(err, &fe) && fe.Field == domainField {
		renamed := *fe
		renamed.Field = requestField
		return &renamed
	}
	return err
}

func validPasskeyID(id string) error {
	if err := required("passkeyId", id); err != nil {
		return err
	}
	if len(id) > maxPasskeyIDLength {
		return failure.InvalidArgument("passkeyId", "at most %d characters", maxPasskeyIDLength)
	}
	return nil
}

// StartMyPasskeyRegistration begins registering a credential of the
// caller.
func (s *PasskeyService) StartMyPasskeyRegistration(ctx context.Context, req *connect.Request[userv1.StartMyPasskeyRegistrationRequest]) (*connect.Response[userv1.StartMyPasskeyRegistrationResponse], error) {
	_, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	passwordless := req.Msg.GetPasswordless()
	if err := s.mayRegister(ctx, u, passwordless); err != nil {
		return nil, err
	}
	ceremonyID, options, err := s.passkeys.BeginRegistration(ctx, u.Aggregate(), passkey.UserInfo{ID: u.ID, LoginName: u.LoginName}, passwordless)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.StartMyPasskeyRegistrationResponse{CeremonyId: ceremonyID, PublicKeyCredentialCreationOptions: options}), nil
}

// FinishMyPasskeyRegistration verifies the browser's answer and records
// the credential. The user's type and settings are asked again: they may
// have changed since the ceremony began.
func (s *PasskeyService) FinishMyPasskeyRegistration(ctx context.Context, req *connect.Request[userv1.FinishMyPasskeyRegistrationRequest]) (*connect.Response[userv1.FinishMyPasskeyRegistrationResponse], error) {
	m := req.Msg
	if err := required("ceremonyId", m.GetCeremonyId()); err != nil {
		return nil, err
	}
	if len(m.GetPublicKeyCredential()) == 0 {
		return nil, failure.InvalidArgument("publicKeyCredential", "required")
	}
	caller, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.mayRegister(ctx, u, false); err != nil {
		return nil, err
	}
	cred, err := s.passkeys.FinishRegistration(ctx, caller.Editor(), u.Aggregate(), m.GetCeremonyId(), m.GetName(), m.GetPublicKeyCredential())
	if err != nil {
		return nil, fieldAs(err, "credential", "publicKeyCredential")
	}
	s.notifyChange(ctx, u, cred.Name, true)
	return connect.NewResponse(&userv1.FinishMyPasskeyRegistrationResponse{Passkey: passkeyToProto(cred)}), nil
}

// ListMyPasskeys lists the caller's credentials.
func (s *PasskeyService) ListMyPasskeys(ctx context.Context, req *connect.Request[userv1.ListMyPasskeysRequest]) (*connect.Response[userv1.ListMyPasskeysResponse], error) {
	_, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	list, err := s.passkeys.List(ctx, u.Aggregate())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ListMyPasskeysResponse{Passkeys: passkeysToProto(list)}), nil
}

// RemoveMyPasskey removes one of the caller's credentials.
func (s *PasskeyService) RemoveMyPasskey(ctx context.Context, req *connect.Request[userv1.RemoveMyPasskeyRequest]) (*connect.Response[userv1.RemoveMyPasskeyResponse], error) {
	if err := validPasskeyID(req.Msg.GetPasskeyId()); err != nil {
		return nil, err
	}
	caller, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := s.remove(ctx, caller.Editor(), u, req.Msg.GetPasskeyId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMyPasskeyResponse{}), nil
}

// ListPasskeys lists a user's credentials; the caller needs user.read on
// the user's organization.
func (s *PasskeyService) ListPasskeys(ctx context.Context, req *connect.Request[userv1.ListPasskeysRequest]) (*connect.Response[userv1.ListPasskeysResponse], error) {
	_, u, err := s.users.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserRead)
	if err != nil {
		return nil, err
	}
	list, err := s.passkeys.List(ctx, u.Aggregate())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ListPasskeysResponse{Passkeys: passkeysToProto(list)}), nil
}

// RemovePasskey removes a credential of a user the caller manages: it
// needs user.credential.write on the user's organization and must hold
// every permission the user holds (managed).
func (s *PasskeyService) RemovePasskey(ctx context.Context, req *connect.Request[userv1.RemovePasskeyRequest]) (*connect.Response[userv1.RemovePasskeyResponse], error) {
	caller, u, err := s.users.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	if err := validPasskeyID(req.Msg.GetPasskeyId()); err != nil {
		return nil, err
	}
	if err := s.remove(ctx, caller.Editor(), u, req.Msg.GetPasskeyId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemovePasskeyResponse{}), nil
}

// remove removes the credential and tells the user, naming the credential
// as the user named it.
func (s *PasskeyService) remove(ctx context.Context, editor eventstore.Editor, u user.User, passkeyID string) error {
	list, err := s.passkeys.List(ctx, u.Aggregate())
	if err != nil {
		return err
	}
	name := passkey.DefaultName
	if i := slices.IndexFunc(list, func(c passkey.Credential) bool { return c.ID == passkeyID }); i >= 0 {
		name = list[i].Name
	}
	if err := s.passkeys.Remove(ctx, editor, u.Aggregate(), passkeyID); err != nil {
		return err
	}
	s.notifyChange(ctx, u, name, false)
	return nil
}

// notifyChange tells u, at its verified email address, that the passkey
// named name was added or removed. It runs after the change is stored and
// never fails the request: a failure is logged, without the message.
func (s *PasskeyService) notifyChange(ctx context.Context, u user.User, name string, added bool) {
	kind := mail.AuthenticatorRemoved
	if added {
		kind = mail.AuthenticatorAdded
	}
	m := mail.Message{Kind: kind, Data: mail.Data{LoginName: u.LoginName, Authenticator: mail.Passkey, PasskeyName: name}}
	if err := sendNotice(ctx, s.mail, u, m); err != nil && s.log != nil {
		s.log.Warn("could not tell a user of a change to its passkeys", "instance", u.InstanceID, "user", u.ID, "err", err)
	}
}
