package orgapi

import (
	"context"
	"database/sql"
	"errors"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

// The member queries below read the users and members read models
// directly; they belong in packages user and authz once those offer them.

// exists reports whether query, with args, finds a row.
func (s *Service) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := s.db().Reader().QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// AddOrganizationMember gives a user of the instance roles on an
// organization, replacing those it held there.
func (s *Service) AddOrganizationMember(ctx context.Context, req *connect.Request[orgv1.AddOrganizationMemberRequest]) (*connect.Response[orgv1.AddOrganizationMemberResponse], error) {
	m := req.Msg
	caller, err := s.authorize(ctx, req.Header(), authz.MemberWrite, m.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := required("userId", m.GetUserId()); err != nil {
		return nil, err
	}
	add, err := authz.AddOrgMember(caller.InstanceID, m.GetOrganizationId(), m.GetUserId(), m.GetRoles())
	if err != nil {
		return nil, err
	}
	if _, err := org.Get(ctx, s.db(), caller.InstanceID, m.GetOrganizationId()); err != nil {
		return nil, err
	}
	ok, err := s.exists(ctx, `SELECT 1 FROM users WHERE instance_id = $1 AND id = $2`, caller.InstanceID, m.GetUserId())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, failure.NotFound("user %s not found", m.GetUserId())
	}
	if _, err := s.store.Push(ctx, api.Editor(caller), add); err != nil {
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
	if err := required("userId", m.GetUserId()); err != nil {
		return nil, err
	}
	ok, err := s.exists(ctx, `SELECT 1 FROM members WHERE instance_id = $1 AND scope = 'org' AND scope_id = $2 AND user_id = $3`,
		caller.InstanceID, m.GetOrganizationId(), m.GetUserId())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, failure.NotFound("user %s is not a member of organization %s", m.GetUserId(), m.GetOrganizationId())
	}
	remove := eventstore.Append{
		Aggregate:        eventstore.Aggregate{InstanceID: caller.InstanceID, Type: org.AggregateType, ID: m.GetOrganizationId(), Owner: m.GetOrganizationId()},
		ExpectedSequence: eventstore.AnySequence,
		Events:           []eventstore.Payload{&authz.OrgMemberRemoved{UserID: m.GetUserId()}},
	}
	if _, err := s.store.Push(ctx, api.Editor(caller), remove); err != nil {
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
	members, err := authz.Members(ctx, s.db(), caller.InstanceID, "org", orgID)
	if err != nil {
		return nil, err
	}
	resp := &orgv1.ListOrganizationMembersResponse{}
	for _, m := range members {
		resp.Members = append(resp.Members, &orgv1.OrganizationMember{UserId: m.UserID, Roles: m.Roles})
	}
	return connect.NewResponse(resp), nil
}
