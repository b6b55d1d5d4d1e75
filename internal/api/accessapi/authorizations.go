package accessapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "github.com/castellan-iam/castellan/gen/castellan/access/v1"
	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// CreateAuthorization authorizes a user; authorization.write on the
// project (a user of its organization) or on the grant (a user of the
// granted organization).
func (s *Service) CreateAuthorization(ctx context.Context, req *connect.Request[accessv1.CreateAuthorizationRequest]) (*connect.Response[accessv1.CreateAuthorizationResponse], error) {
	m := req.Msg
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if m.GetProjectId() == "" {
		return nil, failure.InvalidArgument("projectId", "required")
	}
	p, err := client.GetProject(ctx, s.db(), caller.InstanceID, m.GetProjectId())
	if err != nil {
		return nil, err
	}
	scope := authz.Project(p.ID, p.OrgID)
	if grantID := m.GetGrantId(); grantID != "" {
		g, err := project.GetGrant(ctx, s.db(), caller.InstanceID, grantID)
		if err != nil || g.ProjectID != p.ID {
			return nil, failure.NotFound("project grant %.64q not found", grantID)
		}
		scope = authz.ProjectGrant(g.ID, g.GrantedOrgID)
		if !caller.Can(authz.AuthorizationRead, scope) {
			return nil, failure.NotFound("project grant %.64q not found", grantID)
		}
	} else if !caller.Can(authz.AuthorizationRead, scope) {
		return nil, failure.NotFound("project %.64q not found", p.ID)
	}
	if err := caller.Require(authz.AuthorizationWrite, scope); err != nil {
		return nil, err
	}
	subject := project.Subject{UserID: m.GetUserId(), GroupID: m.GetGroupId()}
	a, err := s.commands.AddAuthorization(ctx, caller.Editor(), caller.InstanceID, subject, p.ID, m.GetGrantId(), m.GetRoles())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.CreateAuthorizationResponse{Authorization: authorizationOf(a)}), nil
}

// authorization authenticates the caller and loads an authorization it
// holds p on; one it may not read is NotFound.
func (s *Service) authorization(ctx context.Context, h http.Header, id string, p authz.Permission) (authz.Caller, project.Authorization, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, project.Authorization{}, err
	}
	if id == "" {
		return authz.Caller{}, project.Authorization{}, failure.InvalidArgument("authorizationId", "required")
	}
	a, err := project.GetAuthorization(ctx, s.db(), caller.InstanceID, id)
	if err != nil {
		return authz.Caller{}, project.Authorization{}, err
	}
	scope, err := s.scopeOf(ctx, caller.InstanceID, a)
	if err != nil {
		return authz.Caller{}, project.Authorization{}, err
	}
	if !caller.Can(authz.AuthorizationRead, scope) {
		return authz.Caller{}, project.Authorization{}, failure.NotFound("authorization %.64q not found", id)
	}
	return caller, a, caller.Require(p, scope)
}

// scopeOf is the scope an authorization is administered on.
func (s *Service) scopeOf(ctx context.Context, instanceID string, a project.Authorization) (authz.Scope, error) {
	if a.GrantID != "" {
		return a.Scope(""), nil
	}
	p, err := client.GetProject(ctx, s.db(), instanceID, a.ProjectID)
	if err != nil {
		return authz.Scope{}, err
	}
	return a.Scope(p.OrgID), nil
}

// UpdateAuthorization replaces an authorization's roles;
// authorization.write.
func (s *Service) UpdateAuthorization(ctx context.Context, req *connect.Request[accessv1.UpdateAuthorizationRequest]) (*connect.Response[accessv1.UpdateAuthorizationResponse], error) {
	caller, a, err := s.authorization(ctx, req.Header(), req.Msg.GetAuthorizationId(), authz.AuthorizationWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.ChangeAuthorization(ctx, caller.Editor(), caller.InstanceID, a.ID, req.Msg.GetRoles()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.UpdateAuthorizationResponse{}), nil
}

// DeleteAuthorization ends an authorization; authorization.write.
func (s *Service) DeleteAuthorization(ctx context.Context, req *connect.Request[accessv1.DeleteAuthorizationRequest]) (*connect.Response[accessv1.DeleteAuthorizationResponse], error) {
	caller, a, err := s.authorization(ctx, req.Header(), req.Msg.GetAuthorizationId(), authz.AuthorizationWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.RemoveAuthorization(ctx, caller.Editor(), caller.InstanceID, a.ID); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.DeleteAuthorizationResponse{}), nil
}

// ListAuthorizations lists the authorizations of a project or of a user
// that the caller may read; the others are left out.
func (s *Service) ListAuthorizations(ctx context.Context, req *connect.Request[accessv1.ListAuthorizationsRequest]) (*connect.Response[accessv1.ListAuthorizationsResponse], error) {
	m := req.Msg
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if m.GetProjectId() == "" && m.GetUserId() == "" && m.GetGroupId() == "" {
		return nil, failure.InvalidArgument("projectId", "give a project, a user or a group")
	}
	if m.GetGrantId() != "" && m.GetProjectId() == "" {
		return nil, failure.InvalidArgument("grantId", "needs projectId")
	}
	f := project.AuthorizationFilter{ProjectID: m.GetProjectId(), UserID: m.GetUserId(), GroupID: m.GetGroupId()}
	if m.GetGrantId() != "" {
		g := m.GetGrantId()
		f.GrantID = &g
	}
	list, err := project.ListAuthorizations(ctx, s.db(), caller.InstanceID, f, 0)
	if err != nil {
		return nil, err
	}
	resp := &accessv1.ListAuthorizationsResponse{}
	owners := map[string]string{} // project -> owning organization, read once per listing
	for _, a := range list {
		owner, ok := owners[a.ProjectID]
		if !ok && a.GrantID == "" {
			p, err := client.GetProject(ctx, s.db(), caller.InstanceID, a.ProjectID)
			if err != nil {
				return nil, err
			}
			owner, owners[a.ProjectID] = p.OrgID, p.OrgID
		}
		scope := a.Scope(owner)
		if caller.Can(authz.AuthorizationRead, scope) {
			resp.Authorizations = append(resp.Authorizations, authorizationOf(a))
		}
	}
	return connect.NewResponse(resp), nil
}

// ListMyAuthorizations lists the caller's own authorizations and those of
// the groups it is in.
func (s *Service) ListMyAuthorizations(ctx context.Context, req *connect.Request[accessv1.ListMyAuthorizationsRequest]) (*connect.Response[accessv1.ListMyAuthorizationsResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	list, err := project.ListAuthorizations(ctx, s.db(), caller.InstanceID, project.AuthorizationFilter{UserID: caller.UserID}, 0)
	if err != nil {
		return nil, err
	}
	groups, err := group.GroupsOf(ctx, s.db(), caller.InstanceID, caller.UserID)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		more, err := project.ListAuthorizations(ctx, s.db(), caller.InstanceID, project.AuthorizationFilter{GroupID: g}, 0)
		if err != nil {
			return nil, err
		}
		list = append(list, more...)
	}
	resp := &accessv1.ListMyAuthorizationsResponse{}
	for _, a := range list {
		resp.Authorizations = append(resp.Authorizations, authorizationOf(a))
	}
	return connect.NewResponse(resp), nil
}

func authorizationOf(a project.Authorization) *accessv1.Authorization {
	return &accessv1.Authorization{Id: a.ID, UserId: a.UserID, GroupId: a.GroupID, ProjectId: a.ProjectID, GrantId: a.GrantID, OrganizationId: a.OrgID,
		Roles: a.Roles, CreateTime: timestamppb.New(a.CreatedAt), ChangeTime: timestamppb.New(a.ChangedAt)}
}
