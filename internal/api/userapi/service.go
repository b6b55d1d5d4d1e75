package userapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/jsonstruct"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/keyring"
	"github.com/castellan-iam/castellan/internal/machinecert"
	"github.com/castellan-iam/castellan/internal/machinekey"
	"github.com/castellan-iam/castellan/internal/pat"
	"github.com/castellan-iam/castellan/internal/ratelimit"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Service implements userv1connect.UserServiceHandler.
type Service struct {
	store *eventstore.Store
	users *user.Commands
	auth  *authn.Authenticator
	keys  *keyring.Ring
	send  credential.CodeSender
	// searchCache keeps what searches would otherwise read again.
	searchCache *user.SearchCache
	// tokens and machineKeys record credentials on users.
	tokens      *pat.Commands
	machineKeys *machinekey.Commands
	// machineCerts register machine users' TLS client certificates.
	machineCerts *machinecert.Commands
	// codesPerAddress limits verification codes sent per client address
	// (see codeSendsPerAddress).
	codesPerAddress *ratelimit.Limiter
	// assets keeps avatars (WithAssets); their URLs are built on each
	// instance's issuer under externalURL.
	assets      asset.Store
	externalURL string
}

// codeSendsPerAddress verification codes may be asked for from one client
// address within codeSendWindow, on one replica, whoever they are for. It
// complements the per-user limit (credential.Policy.CodeSends) against one
// client mailing or texting many users.
const (
	codeSendsPerAddress = 30
	codeSendWindow      = 10 * time.Minute
)

var _ userv1connect.UserServiceHandler = (*Service)(nil)

// NewService returns the user service. Verification codes are sealed with
// keys and delivered by send.
func NewService(store *eventstore.Store, users *user.Commands, auth *authn.Authenticator, keys *keyring.Ring, send credential.CodeSender) *Service {
	return &Service{store: store, users: users, auth: auth, keys: keys, send: send,
		tokens: pat.NewCommands(store, nil), machineKeys: machinekey.NewCommands(store, nil),
		machineCerts:    machinecert.NewCommands(store, nil),
		codesPerAddress: ratelimit.New(codeSendsPerAddress, codeSendWindow, nil),
		searchCache:     user.NewSearchCache(store.Changed, authn.MaxStale)}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return userv1connect.NewUserServiceHandler(s, opts...)
}

func (s *Service) db() *database.DB { return s.store.DB() }

func required(field, value string) error {
	if value == "" {
		return failure.InvalidArgument(field, "required")
	}
	return nil
}

// target loads a user the caller needs permission p on. A caller that may
// not even read the user's organization gets NotFound.
func (s *Service) target(ctx context.Context, h http.Header, userID string, p authz.Permission) (authz.Caller, user.User, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, user.User{}, err
	}
	if err := required("userId", userID); err != nil {
		return authz.Caller{}, user.User{}, err
	}
	u, err := user.Get(ctx, s.db(), caller.InstanceID, userID, userschema.Admin)
	if err != nil {
		return authz.Caller{}, user.User{}, err
	}
	if !caller.Can(authz.UserRead, authz.Org(u.OrgID)) {
		return authz.Caller{}, user.User{}, failure.NotFound("user %s not found", userID)
	}
	if err := caller.Require(p, authz.Org(u.OrgID)); err != nil {
		return authz.Caller{}, user.User{}, err
	}
	return caller, u, nil
}

// me authenticates the caller and reads it as it may see itself.
func (s *Service) me(ctx context.Context, h http.Header) (authz.Caller, user.User, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, user.User{}, err
	}
	u, err := user.Get(ctx, s.db(), caller.InstanceID, caller.UserID, userschema.Self)
	if err != nil {
		return authz.Caller{}, user.User{}, err
	}
	return caller, u, nil
}

// managed loads a user whose credentials, identifiers, contact data or
// state the caller is about to change. Beyond permission p on the user's
// organization, the caller must hold every permission the user holds, in
// every scope (authz.Caller.RequireCovers): no administrator gains, through
// another account, more than it holds.
func (s *Service) managed(ctx context.Context, h http.Header, userID string, p authz.Permission) (authz.Caller, user.User, error) {
	caller, u, err := s.target(ctx, h, userID, p)
	if err != nil {
		return authz.Caller{}, user.User{}, err
	}
	holder, err := member.LoadCaller(ctx, s.db(), caller.InstanceID, u.ID)
	if err != nil {
		return authz.Caller{}, user.User{}, err
	}
	if err := caller.RequireCovers(holder); err != nil {
		return authz.Caller{}, user.User{}, err
	}
	return caller, u, nil
}

func traitsJSON(field string, s *structpb.Struct) (json.RawMessage, error) {
	if s == nil {
		return nil, nil
	}
	b, err := protojson.Marshal(s)
	if err != nil {
		return nil, failure.InvalidArgument(field, "not a JSON object")
	}
	return b, nil
}

var states = map[user.State]userv1.UserState{
	user.StateInitial:  userv1.UserState_USER_STATE_INITIAL,
	user.StateActive:   userv1.UserState_USER_STATE_ACTIVE,
	user.StateInactive: userv1.UserState_USER_STATE_INACTIVE,
	user.StateLocked:   userv1.UserState_USER_STATE_LOCKED,
}

// traitsField is the number of userv1.User's traits.
var traitsField = (&userv1.User{}).ProtoReflect().Descriptor().Fields().ByName("traits").Number()

// toProto converts u. With wire not nil (a binary response:
// api.BinaryResponse) u's traits are appended to *wire as the User's
// traits field in protobuf's encoding (jsonstruct.AppendField), and the
// User carries them as a field it does not know, which proto.Marshal
// writes as they are and every reader decodes as the traits: building and
// marshalling a google.protobuf.Struct (a map per object, a message per
// value) was a third of what the server allocated for a page of users, and
// took eight times as long as writing the bytes (BenchmarkTraitsWire).
// Otherwise (JSON) they are a Struct.
func toProto(u user.User, wire *[]byte) (*userv1.User, error) {
	pu := &userv1.User{
		Id: u.ID, OrganizationId: u.OrgID, Type: u.Type, SchemaRevision: int32(u.SchemaRevision), LoginName: u.LoginName,
		Email: u.Email, EmailVerified: u.EmailVerified, Phone: u.Phone, PhoneVerified: u.PhoneVerified, State: states[u.State],
		HasPassword: u.HasPassword, PasswordChangeRequired: u.PasswordChangeRequired,
		CreateTime: timestamppb.New(u.CreatedAt), UpdateTime: timestamppb.New(u.ChangedAt), Sequence: u.Sequence,
	}
	if len(u.Traits) == 0 {
		pu.Traits = &structpb.Struct{}
		return pu, nil
	}
	if wire == nil {
		traits, err := jsonstruct.Object(u.Traits)
		if err != nil {
			return nil, failure.Internal(err, "traits of user %s", u.ID)
		}
		pu.Traits = traits
		return pu, nil
	}
	start := len(*wire)
	b, err := jsonstruct.AppendField(*wire, traitsField, u.Traits)
	if err != nil {
		return nil, failure.Internal(err, "traits of user %s", u.ID)
	}
	*wire = b
	pu.ProtoReflect().SetUnknown(b[start:len(b):len(b)])
	return pu, nil
}

// wireFor returns the buffer toProto appends the traits of users to in a
// response to a request with header h, or nil if the response is JSON.
func wireFor(h http.Header, users ...user.User) *[]byte {
	if !api.BinaryResponse(h) {
		return nil
	}
	n := 0
	for _, u := range users {
		n += len(u.Traits) + 16
	}
	b := make([]byte, 0, n)
	return &b
}

// CreateUser adds a user; the caller needs user.write on the organization.
func (s *Service) CreateUser(ctx context.Context, req *connect.Request[userv1.CreateUserRequest]) (*connect.Response[userv1.CreateUserResponse], error) {
	m := req.Msg
	traits, err := traitsJSON("traits", m.GetTraits())
	if err != nil {
		return nil, err
	}
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	// Without an organization only an instance administrator gets as far
	// as the domain's answer that one is required.
	if err := caller.Require(authz.UserWrite, authz.OrgOrInstance(m.GetOrganizationId())); err != nil {
		return nil, err
	}
	id, err := s.users.Create(ctx, caller.Editor(), caller.InstanceID, user.New{
		OrgID: m.GetOrganizationId(), Type: m.GetType(), LoginName: m.GetLoginName(), Traits: traits,
		Email: m.GetEmail(), EmailVerified: m.GetEmailVerified(), Phone: m.GetPhone(), PhoneVerified: m.GetPhoneVerified(),
		Password: m.GetPassword(), ChangeRequired: m.GetPasswordChangeRequired(),
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.CreateUserResponse{UserId: id}), nil
}

// GetUser returns a user as an administrator sees it.
func (s *Service) GetUser(ctx context.Context, req *connect.Request[userv1.GetUserRequest]) (*connect.Response[userv1.GetUserResponse], error) {
	_, u, err := s.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserRead)
	if err != nil {
		return nil, err
	}
	pu, err := toProto(u, wireFor(req.Header(), u))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.GetUserResponse{User: pu}), nil
}

var searchStates = map[userv1.UserState]user.State{
	userv1.UserState_USER_STATE_INITIAL:  user.StateInitial,
	userv1.UserState_USER_STATE_ACTIVE:   user.StateActive,
	userv1.UserState_USER_STATE_INACTIVE: user.StateInactive,
	userv1.UserState_USER_STATE_LOCKED:   user.StateLocked,
}

// SearchUsers finds users. Without an organization the caller needs
// user.read on the instance.
func (s *Service) SearchUsers(ctx context.Context, req *connect.Request[userv1.SearchUsersRequest]) (*connect.Response[userv1.SearchUsersResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	if err := caller.Require(authz.UserRead, authz.OrgOrInstance(m.GetOrganizationId())); err != nil {
		return nil, err
	}
	search := user.Search{
		OrgID: m.GetOrganizationId(), Type: m.GetType(), State: searchStates[m.GetState()], LoginName: m.GetLoginName(),
		LoginNamePrefix: m.GetLoginNamePrefix(), Email: m.GetEmail(), Descending: m.GetDescending(),
		Cursor: m.GetPageToken(), Limit: int(m.GetPageSize()),
	}
	switch m.GetOrderBy() {
	case "", "login_name":
	case "create_time":
		search.SortBy = "createdAt"
	default:
		return nil, failure.InvalidArgument("orderBy", "login_name or create_time")
	}
	for _, t := range m.GetTraits() {
		search.Traits = append(search.Traits, user.TraitFilter{Pointer: t.GetPointer(), Value: t.GetValue(), Prefix: t.GetPrefix()})
	}
	page, err := user.NewSearcher(s.db(), s.keys).WithCache(s.searchCache).Find(ctx, caller.InstanceID, search, userschema.Admin)
	if err != nil {
		return nil, err
	}
	resp := &userv1.SearchUsersResponse{NextPageToken: page.NextCursor, TotalSize: int32(page.Total), TotalSizeIsLowerBound: page.TotalIsLowerBound,
		Users: make([]*userv1.User, 0, len(page.Users))}
	wire := wireFor(req.Header(), page.Users...)
	for _, u := range page.Users {
		pu, err := toProto(u, wire)
		if err != nil {
			return nil, err
		}
		resp.Users = append(resp.Users, pu)
	}
	return connect.NewResponse(resp), nil
}

// UpdateUser applies a partial update as an administrator.
func (s *Service) UpdateUser(ctx context.Context, req *connect.Request[userv1.UpdateUserRequest]) (*connect.Response[userv1.UpdateUserResponse], error) {
	m := req.Msg
	load := s.target
	if m.LoginName != nil || m.Email != nil || m.Phone != nil {
		load = s.managed
	}
	caller, u, err := load(ctx, req.Header(), m.GetUserId(), authz.UserWrite)
	if err != nil {
		return nil, err
	}
	traits, err := traitsJSON("traits", m.GetTraits())
	if err != nil {
		return nil, err
	}
	err = s.users.Update(ctx, caller.Editor(), caller.InstanceID, u.ID, userschema.Admin, user.Patch{
		Traits: traits, LoginName: m.LoginName, Email: m.Email, Phone: m.Phone,
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.UpdateUserResponse{}), nil
}

type lifecycle func(context.Context, eventstore.Editor, string, string) error

// change applies a change of state. The caller must cover the user
// (managed); a change that ends the user's activity (ends is set) must
// leave the instance another active owner.
func (s *Service) change(ctx context.Context, h http.Header, userID string, p authz.Permission, ends bool, do lifecycle) error {
	caller, u, err := s.managed(ctx, h, userID, p)
	if err != nil {
		return err
	}
	if ends {
		if err := member.RequireOwnerRemains(ctx, s.db(), caller.InstanceID, member.Leaving{UserID: u.ID}); err != nil {
			return err
		}
	}
	return do(ctx, caller.Editor(), caller.InstanceID, u.ID)
}

// DeleteUser removes a user; the caller needs user.delete.
func (s *Service) DeleteUser(ctx context.Context, req *connect.Request[userv1.DeleteUserRequest]) (*connect.Response[userv1.DeleteUserResponse], error) {
	if err := s.change(ctx, req.Header(), req.Msg.GetUserId(), authz.UserDelete, true, s.users.Delete); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.DeleteUserResponse{}), nil
}

// LockUser blocks sign-in.
func (s *Service) LockUser(ctx context.Context, req *connect.Request[userv1.LockUserRequest]) (*connect.Response[userv1.LockUserResponse], error) {
	if err := s.change(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite, true, s.users.Lock); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.LockUserResponse{}), nil
}

// UnlockUser lifts a lock.
func (s *Service) UnlockUser(ctx context.Context, req *connect.Request[userv1.UnlockUserRequest]) (*connect.Response[userv1.UnlockUserResponse], error) {
	if err := s.change(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite, false, s.users.Unlock); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.UnlockUserResponse{}), nil
}

// DeactivateUser suspends a user.
func (s *Service) DeactivateUser(ctx context.Context, req *connect.Request[userv1.DeactivateUserRequest]) (*connect.Response[userv1.DeactivateUserResponse], error) {
	if err := s.change(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite, true, s.users.Deactivate); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.DeactivateUserResponse{}), nil
}

// ReactivateUser ends a suspension.
func (s *Service) ReactivateUser(ctx context.Context, req *connect.Request[userv1.ReactivateUserRequest]) (*connect.Response[userv1.ReactivateUserResponse], error) {
	if err := s.change(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite, false, s.users.Reactivate); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ReactivateUserResponse{}), nil
}

// SetPassword sets a password; the caller needs user.credential.write.
func (s *Service) SetPassword(ctx context.Context, req *connect.Request[userv1.SetPasswordRequest]) (*connect.Response[userv1.SetPasswordResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	if err := s.users.SetPassword(ctx, caller.Editor(), caller.InstanceID, u.ID, req.Msg.GetPassword(), req.Msg.GetChangeRequired()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.SetPasswordResponse{}), nil
}

// SetUserMetadata sets a metadata key.
func (s *Service) SetUserMetadata(ctx context.Context, req *connect.Request[userv1.SetUserMetadataRequest]) (*connect.Response[userv1.SetUserMetadataResponse], error) {
	caller, u, err := s.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite)
	if err != nil {
		return nil, err
	}
	if err := s.users.SetMetadata(ctx, caller.Editor(), caller.InstanceID, u.ID, req.Msg.GetKey(), req.Msg.GetValue()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.SetUserMetadataResponse{}), nil
}

// RemoveUserMetadata removes a metadata key.
func (s *Service) RemoveUserMetadata(ctx context.Context, req *connect.Request[userv1.RemoveUserMetadataRequest]) (*connect.Response[userv1.RemoveUserMetadataResponse], error) {
	caller, u, err := s.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserWrite)
	if err != nil {
		return nil, err
	}
	if err := s.users.RemoveMetadata(ctx, caller.Editor(), caller.InstanceID, u.ID, req.Msg.GetKey()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveUserMetadataResponse{}), nil
}

// AddPersonalAccessToken issues a token for a user.
func (s *Service) AddPersonalAccessToken(ctx context.Context, req *connect.Request[userv1.AddPersonalAccessTokenRequest]) (*connect.Response[userv1.AddPersonalAccessTokenResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetExpireTime() == nil {
		return nil, failure.InvalidArgument("expireTime", "required")
	}
	if u.ID != caller.UserID {
		machine, err := user.IsMachine(ctx, s.db(), u)
		if err != nil {
			return nil, err
		}
		if !machine {
			return nil, failure.PermissionDenied("personal access tokens are created by the person they belong to; administrators create them for machine users only")
		}
	}
	tokenID, token, err := s.tokens.Add(ctx, caller.Editor(), u.Aggregate(), req.Msg.GetExpireTime().AsTime())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.AddPersonalAccessTokenResponse{TokenId: tokenID, Token: token}), nil
}

// RemovePersonalAccessToken revokes a token.
func (s *Service) RemovePersonalAccessToken(ctx context.Context, req *connect.Request[userv1.RemovePersonalAccessTokenRequest]) (*connect.Response[userv1.RemovePersonalAccessTokenResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	if err := s.tokens.Revoke(ctx, caller.Editor(), u.Aggregate(), req.Msg.GetTokenId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemovePersonalAccessTokenResponse{}), nil
}

// GetMyUser returns the caller as it may see itself.
func (s *Service) GetMyUser(ctx context.Context, req *connect.Request[userv1.GetMyUserRequest]) (*connect.Response[userv1.GetMyUserResponse], error) {
	_, u, err := s.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	pu, err := toProto(u, wireFor(req.Header(), u))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.GetMyUserResponse{User: pu}), nil
}

// UpdateMyUser changes the caller's own traits, within its schema's self
// permissions.
func (s *Service) UpdateMyUser(ctx context.Context, req *connect.Request[userv1.UpdateMyUserRequest]) (*connect.Response[userv1.UpdateMyUserResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	traits, err := traitsJSON("traits", req.Msg.GetTraits())
	if err != nil {
		return nil, err
	}
	if err := s.users.Update(ctx, caller.Editor(), caller.InstanceID, caller.UserID, userschema.Self, user.Patch{Traits: traits}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.UpdateMyUserResponse{}), nil
}
