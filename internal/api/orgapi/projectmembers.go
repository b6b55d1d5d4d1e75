package orgapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
)

// The administrators of projects and project grants. They are served here,
// beside an organization's own members, because both scopes belong to an
// organization (the project's owner, the grant's receiver) and the rules
// are those of every membership (member.Administrator).

// scoped authenticates the request, finds the scope (scope returns it),
// and requires p on it. A scope that does not exist reads as a missing
// permission to a caller that does not hold p on the instance, so that
// nobody probes which projects and grants exist.
func (s *Service) scoped(ctx context.Context, h http.Header, p authz.Permission, scope func(instanceID string) (authz.Scope, error)) (authz.Caller, authz.Scope, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, authz.Scope{}, err
	}
	sc, err := scope(caller.InstanceID)
	if failure.Is(err, failure.KindNotFound) && !caller.Can(p, authz.Instance()) {
		return authz.Caller{}, authz.Scope{}, failure.PermissionDenied("missing permission %s on the requested scope", p)
	}
	if err != nil {
		return authz.Caller{}, authz.Scope{}, err
	}
	return caller, sc, caller.Require(p, sc)
}

func (s *Service) projectScope(ctx context.Context, projectID string) func(string) (authz.Scope, error) {
	return func(inst string) (authz.Scope, error) { return s.members.ProjectScope(ctx, inst, projectID) }
}

func (s *Service) grantScope(ctx context.Context, grantID string) func(string) (authz.Scope, error) {
	return func(inst string) (authz.Scope, error) { return s.members.GrantScope(ctx, inst, grantID) }
}

func (s *Service) listScoped(ctx context.Context, caller authz.Caller, sc authz.Scope) ([]*orgv1.ScopedMember, error) {
	members, err := member.List(ctx, s.db(), caller.InstanceID, sc)
	if err != nil {
		return nil, err
	}
	var out []*orgv1.ScopedMember
	for _, m := range members {
		out = append(out, &orgv1.ScopedMember{UserId: m.UserID, Roles: m.Roles})
	}
	return out, nil
}

// AddProjectMember gives a user roles on a project.
func (s *Service) AddProjectMember(ctx context.Context, req *connect.Request[orgv1.AddProjectMemberRequest]) (*connect.Response[orgv1.AddProjectMemberResponse], error) {
	m := req.Msg
	caller, sc, err := s.scoped(ctx, req.Header(), authz.MemberWrite, s.projectScope(ctx, m.GetProjectId()))
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).SetScopedMember(ctx, sc, m.GetUserId(), m.GetRoles()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.AddProjectMemberResponse{}), nil
}

// RemoveProjectMember takes a user's roles on a project.
func (s *Service) RemoveProjectMember(ctx context.Context, req *connect.Request[orgv1.RemoveProjectMemberRequest]) (*connect.Response[orgv1.RemoveProjectMemberResponse], error) {
	m := req.Msg
	caller, sc, err := s.scoped(ctx, req.Header(), authz.MemberWrite, s.projectScope(ctx, m.GetProjectId()))
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).RemoveScopedMember(ctx, sc, m.GetUserId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.RemoveProjectMemberResponse{}), nil
}

// ListProjectMembers lists a project's members.
func (s *Service) ListProjectMembers(ctx context.Context, req *connect.Request[orgv1.ListProjectMembersRequest]) (*connect.Response[orgv1.ListProjectMembersResponse], error) {
	caller, sc, err := s.scoped(ctx, req.Header(), authz.MemberRead, s.projectScope(ctx, req.Msg.GetProjectId()))
	if err != nil {
		return nil, err
	}
	members, err := s.listScoped(ctx, caller, sc)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.ListProjectMembersResponse{Members: members}), nil
}

// AddProjectGrantMember gives a user of the granted organization roles on
// a project grant.
func (s *Service) AddProjectGrantMember(ctx context.Context, req *connect.Request[orgv1.AddProjectGrantMemberRequest]) (*connect.Response[orgv1.AddProjectGrantMemberResponse], error) {
	m := req.Msg
	caller, sc, err := s.scoped(ctx, req.Header(), authz.MemberWrite, s.grantScope(ctx, m.GetGrantId()))
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).SetScopedMember(ctx, sc, m.GetUserId(), m.GetRoles()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.AddProjectGrantMemberResponse{}), nil
}

// RemoveProjectGrantMember takes a user's roles on a project grant.
func (s *Service) RemoveProjectGrantMember(ctx context.Context, req *connect.Request[orgv1.RemoveProjectGrantMemberRequest]) (*connect.Response[orgv1.RemoveProjectGrantMemberResponse], error) {
	m := req.Msg
	caller, sc, err := s.scoped(ctx, req.Header(), authz.MemberWrite, s.grantScope(ctx, m.GetGrantId()))
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).RemoveScopedMember(ctx, sc, m.GetUserId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.RemoveProjectGrantMemberResponse{}), nil
}

// ListProjectGrantMembers lists a project grant's members.
func (s *Service) ListProjectGrantMembers(ctx context.Context, req *connect.Request[orgv1.ListProjectGrantMembersRequest]) (*connect.Response[orgv1.ListProjectGrantMembersResponse], error) {
	caller, sc, err := s.scoped(ctx, req.Header(), authz.MemberRead, s.grantScope(ctx, req.Msg.GetGrantId()))
	if err != nil {
		return nil, err
	}
	members, err := s.listScoped(ctx, caller, sc)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.ListProjectGrantMembersResponse{Members: members}), nil
}
