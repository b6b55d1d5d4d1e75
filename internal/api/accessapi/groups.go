package accessapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	accessv1 "github.com/castellan-iam/castellan/gen/castellan/access/v1"
	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Groups are administered on their organization: user.read to read them;
// user.write and authorization.write to change them or their members,
// since a member holds the group's authorizations.

// requireGroupWrite refuses a caller that may not change groups of orgID.
func requireGroupWrite(caller authz.Caller, orgID string) error {
	if err := caller.Require(authz.UserWrite, authz.Org(orgID)); err != nil {
		return err
	}
	return caller.Require(authz.AuthorizationWrite, authz.Org(orgID))
}

// group authenticates the caller and loads a group of an organization it
// may read (NotFound otherwise); write also requires it may change it.
func (s *Service) group(ctx context.Context, h http.Header, groupID string, write bool) (authz.Caller, group.Group, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, group.Group{}, err
	}
	if groupID == "" {
		return authz.Caller{}, group.Group{}, failure.InvalidArgument("groupId", "required")
	}
	g, err := group.Get(ctx, s.db(), caller.InstanceID, groupID)
	if err != nil {
		return authz.Caller{}, group.Group{}, err
	}
	if !caller.Can(authz.UserRead, authz.Org(g.OrgID)) {
		return authz.Caller{}, group.Group{}, failure.NotFound("group %.64q not found", groupID)
	}
	if write {
		return caller, g, requireGroupWrite(caller, g.OrgID)
	}
	return caller, g, nil
}

func groupOf(g group.Group) *accessv1.Group {
	return &accessv1.Group{Id: g.ID, OrganizationId: g.OrgID, Name: g.Name, CreateTime: timestamppb.New(g.CreatedAt)}
}

// CreateGroup adds a group to an organization.
func (s *Service) CreateGroup(ctx context.Context, req *connect.Request[accessv1.CreateGroupRequest]) (*connect.Response[accessv1.CreateGroupResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	orgID := req.Msg.GetOrganizationId()
	if orgID == "" {
		return nil, failure.InvalidArgument("organizationId", "required")
	}
	if err := requireGroupWrite(caller, orgID); err != nil {
		return nil, err
	}
	g, err := s.groups.Create(ctx, caller.Editor(), caller.InstanceID, orgID, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.CreateGroupResponse{Group: groupOf(g)}), nil
}

// RenameGroup renames a group.
func (s *Service) RenameGroup(ctx context.Context, req *connect.Request[accessv1.RenameGroupRequest]) (*connect.Response[accessv1.RenameGroupResponse], error) {
	caller, g, err := s.group(ctx, req.Header(), req.Msg.GetGroupId(), true)
	if err != nil {
		return nil, err
	}
	if err := s.groups.Rename(ctx, caller.Editor(), caller.InstanceID, g.ID, req.Msg.GetName()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.RenameGroupResponse{}), nil
}

// DeleteGroup removes a group.
func (s *Service) DeleteGroup(ctx context.Context, req *connect.Request[accessv1.DeleteGroupRequest]) (*connect.Response[accessv1.DeleteGroupResponse], error) {
	caller, g, err := s.group(ctx, req.Header(), req.Msg.GetGroupId(), true)
	if err != nil {
		return nil, err
	}
	if err := s.groups.Remove(ctx, caller.Editor(), caller.InstanceID, g.ID); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.DeleteGroupResponse{}), nil
}

// ListGroups lists an organization's groups.
func (s *Service) ListGroups(ctx context.Context, req *connect.Request[accessv1.ListGroupsRequest]) (*connect.Response[accessv1.ListGroupsResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	orgID := req.Msg.GetOrganizationId()
	if orgID == "" {
		return nil, failure.InvalidArgument("organizationId", "required")
	}
	if err := caller.Require(authz.UserRead, authz.Org(orgID)); err != nil {
		return nil, err
	}
	list, err := group.List(ctx, s.db(), caller.InstanceID, orgID)
	if err != nil {
		return nil, err
	}
	resp := &accessv1.ListGroupsResponse{}
	for _, g := range list {
		resp.Groups = append(resp.Groups, groupOf(g))
	}
	return connect.NewResponse(resp), nil
}

// AddGroupMember adds a user or a nested group.
func (s *Service) AddGroupMember(ctx context.Context, req *connect.Request[accessv1.AddGroupMemberRequest]) (*connect.Response[accessv1.AddGroupMemberResponse], error) {
	caller, g, err := s.group(ctx, req.Header(), req.Msg.GetGroupId(), true)
	if err != nil {
		return nil, err
	}
	if err := s.groups.AddMember(ctx, caller.Editor(), caller.InstanceID, g.ID, req.Msg.GetUserId(), req.Msg.GetMemberGroupId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.AddGroupMemberResponse{}), nil
}

// RemoveGroupMember takes a user or a nested group out.
func (s *Service) RemoveGroupMember(ctx context.Context, req *connect.Request[accessv1.RemoveGroupMemberRequest]) (*connect.Response[accessv1.RemoveGroupMemberResponse], error) {
	caller, g, err := s.group(ctx, req.Header(), req.Msg.GetGroupId(), true)
	if err != nil {
		return nil, err
	}
	if err := s.groups.RemoveMember(ctx, caller.Editor(), caller.InstanceID, g.ID, req.Msg.GetUserId(), req.Msg.GetMemberGroupId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&accessv1.RemoveGroupMemberResponse{}), nil
}

// ListGroupMembers lists a group's direct members.
func (s *Service) ListGroupMembers(ctx context.Context, req *connect.Request[accessv1.ListGroupMembersRequest]) (*connect.Response[accessv1.ListGroupMembersResponse], error) {
	caller, g, err := s.group(ctx, req.Header(), req.Msg.GetGroupId(), false)
	if err != nil {
		return nil, err
	}
	members, err := group.Members(ctx, s.db(), caller.InstanceID, g.ID)
	if err != nil {
		return nil, err
	}
	resp := &accessv1.ListGroupMembersResponse{}
	for _, m := range members {
		resp.Members = append(resp.Members, &accessv1.GroupMember{UserId: m.UserID, GroupId: m.GroupID})
	}
	return connect.NewResponse(resp), nil
}
