// Package instanceapi serves castellan.instance.v1.InstanceService: the
// administrators (members) of the instance a request reached.
package instanceapi

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"

	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
	"github.com/castellan-iam/castellan/gen/castellan/instance/v1/instancev1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth/token"
)

// Service implements instancev1connect.InstanceServiceHandler.
type Service struct {
	store   *eventstore.Store
	members *member.Commands
	auth    *authn.Authenticator
	keys    *token.Keys
	// retiredKept is how long a rotation keeps the retired key published
	// (the signing_keys.retired_kept setting; token.RetiredKept when 0).
	retiredKept time.Duration
}

// WithRetiredKept sets how long a rotation keeps the retired key
// published.
func (s *Service) WithRetiredKept(d time.Duration) *Service {
	s.retiredKept = d
	return s
}

var _ instancev1connect.InstanceServiceHandler = (*Service)(nil)

// NewService returns the instance service; keys are the token signing
// keys of the instances.
func NewService(store *eventstore.Store, auth *authn.Authenticator, keys *token.Keys) *Service {
	return &Service{store: store, members: member.NewCommands(store), auth: auth, keys: keys}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return instancev1connect.NewInstanceServiceHandler(s, opts...)
}

func (s *Service) authorize(ctx context.Context, h http.Header, p authz.Permission) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	return caller, caller.Require(p, authz.Instance())
}

// AddInstanceMember gives a user instance roles; the caller needs
// member.write on the instance, every permission of the roles given and
// taken, and to cover the user (member.Administrator).
func (s *Service) AddInstanceMember(ctx context.Context, req *connect.Request[instancev1.AddInstanceMemberRequest]) (*connect.Response[instancev1.AddInstanceMemberResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.MemberWrite)
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).SetInstanceMember(ctx, req.Msg.GetUserId(), req.Msg.GetRoles()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&instancev1.AddInstanceMemberResponse{}), nil
}

// RemoveInstanceMember takes a user's instance roles.
func (s *Service) RemoveInstanceMember(ctx context.Context, req *connect.Request[instancev1.RemoveInstanceMemberRequest]) (*connect.Response[instancev1.RemoveInstanceMemberResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.MemberWrite)
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).RemoveInstanceMember(ctx, req.Msg.GetUserId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&instancev1.RemoveInstanceMemberResponse{}), nil
}

// ListInstanceMembers lists the instance's administrators.
func (s *Service) ListInstanceMembers(ctx context.Context, req *connect.Request[instancev1.ListInstanceMembersRequest]) (*connect.Response[instancev1.ListInstanceMembersResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.MemberRead)
	if err != nil {
		return nil, err
	}
	members, err := member.List(ctx, s.store.DB(), caller.InstanceID, authz.InstanceScope(caller.InstanceID))
	if err != nil {
		return nil, err
	}
	resp := &instancev1.ListInstanceMembersResponse{}
	for _, m := range members {
		resp.Members = append(resp.Members, &instancev1.Member{UserId: m.UserID, Roles: m.Roles})
	}
	return connect.NewResponse(resp), nil
}
