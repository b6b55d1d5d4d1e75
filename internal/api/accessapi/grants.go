package accessapi

import (
	"context"
	"net/http"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "github.com/castellan-iam/castellan/gen/castellan/access/v1"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
)

// CreateProjectGrant delegates roles of a project; project.grant.write on
// the project.
func (s *Service) CreateProjectGrant(ctx context.Context, req *connect.Request[accessv1.CreateProjectGrantRequest]) (*connect.Response[accessv1.CreateProjectGrantResponse], error) {
	m := req.Msg
	caller, p, err := s.project(ctx, req.Header(), m.GetProjectId(), authz.ProjectGrantWrite)
	if err != nil {
		return nil, err
	}
	g, err := s.commands.AddGrant(ctx, caller.Editor(), caller.InstanceID, p.ID, m.GetGrantedOrganizationId(), m.GetRoles())
	if err != nil {
		return nil, err
	}
	out, err := s.grantOf(ctx, caller.InstanceID, g, p)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.CreateProjectGrantResponse{Grant: out}), nil
}

// ownedGrant authenticates the caller and loads a grant whose project it
// holds p on; a grant it may not read through its project is NotFound.
func (s *Service) ownedGrant(ctx context.Context, h http.Header, grantID string, p authz.Permission) (authz.Caller, project.Grant, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, project.Grant{}, err
	}
	if grantID == "" {
		return authz.Caller{}, project.Grant{}, failure.InvalidArgument("grantId", "required")
	}
	g, err := project.GetGrant(ctx, s.db(), caller.InstanceID, grantID)
	if err != nil {
		return authz.Caller{}, project.Grant{}, err
	}
	scope := authz.Project(g.ProjectID, g.OwnerOrgID)
	if !caller.Can(authz.ProjectRead, scope) {
		return authz.Caller{}, project.Grant{}, failure.NotFound("project grant %.64q not found", grantID)
	}
	return caller, g, caller.Require(p, scope)
}

// UpdateProjectGrant replaces a grant's roles; project.grant.write on the
// project.
func (s *Service) UpdateProjectGrant(ctx context.Context, req *connect.Request[accessv1.UpdateProjectGrantRequest]) (*connect.Response[accessv1.UpdateProjectGrantResponse], error) {
	caller, g, err := s.ownedGrant(ctx, req.Header(), req.Msg.GetGrantId(), authz.ProjectGrantWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.ChangeGrant(ctx, caller.Editor(), caller.InstanceID, g.ProjectID, g.ID, req.Msg.GetRoles()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.UpdateProjectGrantResponse{}), nil
}

// DeleteProjectGrant revokes a grant; project.grant.write on the project.
func (s *Service) DeleteProjectGrant(ctx context.Context, req *connect.Request[accessv1.DeleteProjectGrantRequest]) (*connect.Response[accessv1.DeleteProjectGrantResponse], error) {
	caller, g, err := s.ownedGrant(ctx, req.Header(), req.Msg.GetGrantId(), authz.ProjectGrantWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.RemoveGrant(ctx, caller.Editor(), caller.InstanceID, g.ProjectID, g.ID); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.DeleteProjectGrantResponse{}), nil
}

// ListProjectGrants lists a project's grants (project.read on it) or the
// grants an organization received (project.read on each grant).
func (s *Service) ListProjectGrants(ctx context.Context, req *connect.Request[accessv1.ListProjectGrantsRequest]) (*connect.Response[accessv1.ListProjectGrantsResponse], error) {
	m := req.Msg
	resp := &accessv1.ListProjectGrantsResponse{}
	switch {
	case m.GetProjectId() != "" && m.GetGrantedOrganizationId() != "":
		return nil, failure.InvalidArgument("grantedOrganizationId", "give a project or a granted organization, not both")
	case m.GetProjectId() != "":
		caller, p, err := s.project(ctx, req.Header(), m.GetProjectId(), authz.ProjectRead)
		if err != nil {
			return nil, err
		}
		list, err := project.ListGrants(ctx, s.db(), caller.InstanceID, p.ID, "")
		if err != nil {
			return nil, err
		}
		for _, g := range list {
			out, err := s.grantOf(ctx, caller.InstanceID, g, p)
			if err != nil {
				return nil, err
			}
			resp.Grants = append(resp.Grants, out)
		}
	case m.GetGrantedOrganizationId() != "":
		caller, err := s.auth.Caller(ctx, req.Header())
		if err != nil {
			return nil, err
		}
		list, err := project.ListGrants(ctx, s.db(), caller.InstanceID, "", m.GetGrantedOrganizationId())
		if err != nil {
			return nil, err
		}
		for _, g := range list {
			if !caller.Can(authz.ProjectRead, authz.ProjectGrant(g.ID, g.GrantedOrgID)) {
				continue
			}
			p, err := client.GetProject(ctx, s.db(), caller.InstanceID, g.ProjectID)
			if err != nil {
				return nil, err
			}
			out, err := s.grantOf(ctx, caller.InstanceID, g, p)
			if err != nil {
				return nil, err
			}
			resp.Grants = append(resp.Grants, out)
		}
	default:
		return nil, failure.InvalidArgument("projectId", "give a project or a granted organization")
	}
	return connect.NewResponse(resp), nil
}

// grantOf is a grant as the API shows it: with the project's name and the
// granted roles' names, and nothing else of the project.
func (s *Service) grantOf(ctx context.Context, instanceID string, g project.Grant, p client.Project) (*accessv1.ProjectGrant, error) {
	roles, err := project.ListRoles(ctx, s.db(), instanceID, g.ProjectID)
	if err != nil {
		return nil, err
	}
	out := &accessv1.ProjectGrant{Id: g.ID, ProjectId: g.ProjectID, ProjectName: p.Name, OrganizationId: g.OwnerOrgID,
		GrantedOrganizationId: g.GrantedOrgID, CreateTime: timestamppb.New(g.CreatedAt)}
	for _, r := range roles {
		if slices.Contains(g.Roles, r.Key) {
			out.Roles = append(out.Roles, roleOf(r))
		}
	}
	return out, nil
}
