package accessapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	accessv1 "github.com/castellan-iam/castellan/gen/castellan/access/v1"
	"github.com/castellan-iam/castellan/gen/castellan/access/v1/accessv1connect"
	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// Service implements accessv1connect.AccessServiceHandler.
type Service struct {
	store    *eventstore.Store
	commands *project.Commands
	groups   *group.Commands
	auth     *authn.Authenticator
}

var _ accessv1connect.AccessServiceHandler = (*Service)(nil)

// NewService returns the access service.
func NewService(store *eventstore.Store, auth *authn.Authenticator) *Service {
	return &Service{store: store, commands: project.NewCommands(store), groups: group.NewCommands(store), auth: auth}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return accessv1connect.NewAccessServiceHandler(s, opts...)
}

func (s *Service) db() *database.DB { return s.store.DB() }

// project authenticates the caller and loads a project it holds p on;
// one it may not read is NotFound, one it may read but not change
// PermissionDenied.
func (s *Service) project(ctx context.Context, h http.Header, projectID string, p authz.Permission) (authz.Caller, client.Project, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, client.Project{}, err
	}
	proj, err := s.readableProject(ctx, caller, projectID)
	if err != nil {
		return authz.Caller{}, client.Project{}, err
	}
	return caller, proj, caller.Require(p, authz.Project(proj.ID, proj.OrgID))
}

func (s *Service) readableProject(ctx context.Context, caller authz.Caller, projectID string) (client.Project, error) {
	if projectID == "" {
		return client.Project{}, failure.InvalidArgument("projectId", "required")
	}
	proj, err := client.GetProject(ctx, s.db(), caller.InstanceID, projectID)
	if err != nil {
		return client.Project{}, err
	}
	if !caller.Can(authz.ProjectRead, authz.Project(proj.ID, proj.OrgID)) {
		return client.Project{}, failure.NotFound("project %.64q not found", projectID)
	}
	return proj, nil
}

// AddProjectRole adds a role; project.write.
func (s *Service) AddProjectRole(ctx context.Context, req *connect.Request[accessv1.AddProjectRoleRequest]) (*connect.Response[accessv1.AddProjectRoleResponse], error) {
	m := req.Msg
	caller, p, err := s.project(ctx, req.Header(), m.GetProjectId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.AddRole(ctx, caller.Editor(), caller.InstanceID, p.ID, project.Role{Key: m.GetKey(), DisplayName: m.GetDisplayName(), Group: m.GetGroup()}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.AddProjectRoleResponse{}), nil
}

// UpdateProjectRole changes a role's names; project.write.
func (s *Service) UpdateProjectRole(ctx context.Context, req *connect.Request[accessv1.UpdateProjectRoleRequest]) (*connect.Response[accessv1.UpdateProjectRoleResponse], error) {
	m := req.Msg
	caller, p, err := s.project(ctx, req.Header(), m.GetProjectId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.ChangeRole(ctx, caller.Editor(), caller.InstanceID, p.ID, project.Role{Key: m.GetKey(), DisplayName: m.GetDisplayName(), Group: m.GetGroup()}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.UpdateProjectRoleResponse{}), nil
}

// RemoveProjectRole removes a role and takes it from every grant and
// authorization; project.write.
func (s *Service) RemoveProjectRole(ctx context.Context, req *connect.Request[accessv1.RemoveProjectRoleRequest]) (*connect.Response[accessv1.RemoveProjectRoleResponse], error) {
	caller, p, err := s.project(ctx, req.Header(), req.Msg.GetProjectId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.RemoveRole(ctx, caller.Editor(), caller.InstanceID, p.ID, req.Msg.GetKey()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.RemoveProjectRoleResponse{}), nil
}

// ListProjectRoles lists a project's roles (project.read), or, for an
// organization it was granted to, the granted ones (project.read on the
// grant).
func (s *Service) ListProjectRoles(ctx context.Context, req *connect.Request[accessv1.ListProjectRolesRequest]) (*connect.Response[accessv1.ListProjectRolesResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	projectID := req.Msg.GetProjectId()
	if projectID == "" {
		return nil, failure.InvalidArgument("projectId", "required")
	}
	proj, err := client.GetProject(ctx, s.db(), caller.InstanceID, projectID)
	if err != nil {
		return nil, err
	}
	roles, err := project.ListRoles(ctx, s.db(), caller.InstanceID, proj.ID)
	if err != nil {
		return nil, err
	}
	visible := func(string) bool { return true }
	if !caller.Can(authz.ProjectRead, authz.Project(proj.ID, proj.OrgID)) {
		granted, err := s.grantsReadable(ctx, caller, proj.ID)
		if err != nil {
			return nil, err
		}
		if len(granted) == 0 {
			return nil, failure.NotFound("project %.64q not found", projectID)
		}
		keys := map[string]bool{}
		for _, g := range granted {
			for _, r := range g.Roles {
				keys[r] = true
			}
		}
		visible = func(k string) bool { return keys[k] }
	}
	resp := &accessv1.ListProjectRolesResponse{}
	for _, r := range roles {
		if visible(r.Key) {
			resp.Roles = append(resp.Roles, roleOf(r))
		}
	}
	return connect.NewResponse(resp), nil
}

// grantsReadable returns the grants of a project the caller holds
// project.read on.
func (s *Service) grantsReadable(ctx context.Context, caller authz.Caller, projectID string) ([]project.Grant, error) {
	all, err := project.ListGrants(ctx, s.db(), caller.InstanceID, projectID, "")
	if err != nil {
		return nil, err
	}
	var out []project.Grant
	for _, g := range all {
		if caller.Can(authz.ProjectRead, authz.ProjectGrant(g.ID, g.GrantedOrgID)) {
			out = append(out, g)
		}
	}
	return out, nil
}

func roleOf(r project.Role) *accessv1.Role {
	return &accessv1.Role{Key: r.Key, DisplayName: r.DisplayName, Group: r.Group}
}

// GetProjectSettings returns a project's access settings; project.read.
func (s *Service) GetProjectSettings(ctx context.Context, req *connect.Request[accessv1.GetProjectSettingsRequest]) (*connect.Response[accessv1.GetProjectSettingsResponse], error) {
	caller, p, err := s.project(ctx, req.Header(), req.Msg.GetProjectId(), authz.ProjectRead)
	if err != nil {
		return nil, err
	}
	st, err := project.GetSettings(ctx, s.db(), caller.InstanceID, p.ID)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.GetProjectSettingsResponse{Settings: &accessv1.ProjectSettings{
		AssertRoles: st.AssertRoles, RequireAuthorization: st.RequireAuthorization, RequireOrganizationAccess: st.RequireOrgAccess,
	}}), nil
}

// SetProjectSettings sets a project's access settings; project.write.
func (s *Service) SetProjectSettings(ctx context.Context, req *connect.Request[accessv1.SetProjectSettingsRequest]) (*connect.Response[accessv1.SetProjectSettingsResponse], error) {
	caller, p, err := s.project(ctx, req.Header(), req.Msg.GetProjectId(), authz.ProjectWrite)
	if err != nil {
		return nil, err
	}
	in := req.Msg.GetSettings()
	if in == nil {
		return nil, failure.InvalidArgument("settings", "required")
	}
	if err := s.commands.SetSettings(ctx, caller.Editor(), caller.InstanceID, p.ID, project.Settings{
		AssertRoles: in.GetAssertRoles(), RequireAuthorization: in.GetRequireAuthorization(), RequireOrgAccess: in.GetRequireOrganizationAccess(),
	}); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.SetProjectSettingsResponse{}), nil
}
