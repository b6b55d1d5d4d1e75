package instanceapi

import (
	"context"

	"connectrpc.com/connect"

	instancev1 "github.com/castellan-iam/castellan/gen/castellan/instance/v1"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
)

func roleMessage(r authz.Role) *instancev1.Role {
	return &instancev1.Role{Key: r.Key, DisplayName: r.DisplayName, Scope: string(r.Kind), Permissions: r.Permissions.Strings(), Custom: r.Custom}
}

// ListPermissions publishes the permission catalogue to any authenticated
// caller: what a role carries is no secret from those who hold roles.
func (s *Service) ListPermissions(ctx context.Context, req *connect.Request[instancev1.ListPermissionsRequest]) (*connect.Response[instancev1.ListPermissionsResponse], error) {
	if _, err := s.auth.Caller(ctx, req.Header()); err != nil {
		return nil, err
	}
	resp := &instancev1.ListPermissionsResponse{}
	for _, p := range authz.Catalogue {
		resp.Permissions = append(resp.Permissions, &instancev1.Permission{Name: string(p.Name), Description: p.Description})
	}
	return connect.NewResponse(resp), nil
}

// ListRoles lists the built-in and custom roles of the caller's instance.
func (s *Service) ListRoles(ctx context.Context, req *connect.Request[instancev1.ListRolesRequest]) (*connect.Response[instancev1.ListRolesResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	book, err := member.RoleBookOf(ctx, s.store.DB(), caller.InstanceID)
	if err != nil {
		return nil, err
	}
	resp := &instancev1.ListRolesResponse{}
	for _, r := range book.All() {
		resp.Roles = append(resp.Roles, roleMessage(r))
	}
	return connect.NewResponse(resp), nil
}

// DefineRole adds a custom role (member.Administrator.DefineRole holds the
// rules).
func (s *Service) DefineRole(ctx context.Context, req *connect.Request[instancev1.DefineRoleRequest]) (*connect.Response[instancev1.DefineRoleResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.RoleWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	r, err := s.members.By(caller).DefineRole(ctx, m.GetKey(), m.GetDisplayName(), authz.ScopeKind(m.GetScope()), m.GetPermissions())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&instancev1.DefineRoleResponse{Role: roleMessage(r)}), nil
}

// ChangeRole replaces a custom role's name and permissions.
func (s *Service) ChangeRole(ctx context.Context, req *connect.Request[instancev1.ChangeRoleRequest]) (*connect.Response[instancev1.ChangeRoleResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.RoleWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	r, err := s.members.By(caller).ChangeRole(ctx, m.GetKey(), m.GetDisplayName(), m.GetPermissions())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&instancev1.ChangeRoleResponse{Role: roleMessage(r)}), nil
}

// RemoveRole removes a custom role and takes it from its holders.
func (s *Service) RemoveRole(ctx context.Context, req *connect.Request[instancev1.RemoveRoleRequest]) (*connect.Response[instancev1.RemoveRoleResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.RoleWrite)
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).RemoveRole(ctx, req.Msg.GetKey()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&instancev1.RemoveRoleResponse{}), nil
}
