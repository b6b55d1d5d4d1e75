package orgapi

import (
	"context"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/org"
)

// AddOrganizationMember gives a user of the instance roles on an
// organization, replacing those it held there.
func (s *Service) AddOrganizationMember(ctx context.Context, req *connect.Request[orgv1.AddOrganizationMemberRequest]) (*connect.Response[orgv1.AddOrganizationMemberResponse], error) {
	m := req.Msg
	caller, err := s.authorize(ctx, req.Header(), authz.MemberWrite, m.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).AddOrgMember(ctx, m.GetOrganizationId(), m.GetUserId(), m.GetRoles()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.AddOrganizationMemberResponse{}), nil
}

// RemoveOrganizationMember takes all of a user's roles on an organization.
func (s *Service) RemoveOrganizationMember(ctx context.Context, req *connect.Request[orgv1.RemoveOrganizationMemberRequest]) (*connect.Response[orgv1.RemoveOrganizationMemberResponse], error) {
	m := req.Msg
	caller, err := s.authorize(ctx, req.Header(), authz.MemberWrite, m.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := s.members.By(caller).RemoveOrgMember(ctx, m.GetOrganizationId(), m.GetUserId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.RemoveOrganizationMemberResponse{}), nil
}

// ListOrganizationMembers returns an organization's members by user id.
func (s *Service) ListOrganizationMembers(ctx context.Context, req *connect.Request[orgv1.ListOrganizationMembersRequest]) (*connect.Response[orgv1.ListOrganizationMembersResponse], error) {
	orgID := req.Msg.GetOrganizationId()
	caller, err := s.authorize(ctx, req.Header(), authz.MemberRead, orgID)
	if err != nil {
		return nil, err
	}
	if _, err := org.Get(ctx, s.db(), caller.InstanceID, orgID); err != nil {
		return nil, err
	}
	members, err := member.List(ctx, s.db(), caller.InstanceID, authz.Org(orgID))
	if err != nil {
		return nil, err
	}
	resp := &orgv1.ListOrganizationMembersResponse{}
	for _, m := range members {
		resp.Members = append(resp.Members, &orgv1.OrganizationMember{UserId: m.UserID, Roles: m.Roles})
	}
	return connect.NewResponse(resp), nil
}
