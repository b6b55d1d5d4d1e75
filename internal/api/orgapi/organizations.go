package orgapi

import (
	"context"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

var states = map[org.State]orgv1.OrganizationState{
	org.StateActive:   orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE,
	org.StateInactive: orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE,
}

func toProto(o org.Org) *orgv1.Organization {
	p := &orgv1.Organization{
		Id: o.ID, Name: o.Name, State: states[o.State], PrimaryDomain: o.PrimaryDomain, LoginNameMustBeDomain: o.LoginNameMustBeDomain,
		CreateTime: timestamppb.New(o.CreatedAt), UpdateTime: timestamppb.New(o.ChangedAt), Sequence: o.Sequence,
	}
	for _, d := range o.Domains {
		p.Domains = append(p.Domains, &orgv1.Domain{Domain: d.Name, Verified: d.Verified, Primary: d.Primary, VerificationMethod: methods[d.Method]})
	}
	if len(o.Metadata) > 0 {
		p.Metadata = o.Metadata
	}
	return p
}

// CreateOrganization adds an organization; the caller needs org.create on
// the instance.
func (s *Service) CreateOrganization(ctx context.Context, req *connect.Request[orgv1.CreateOrganizationRequest]) (*connect.Response[orgv1.CreateOrganizationResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if err := caller.Require(authz.OrgCreate, authz.Instance()); err != nil {
		return nil, err
	}
	id, err := s.orgs.Create(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetName())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.CreateOrganizationResponse{OrganizationId: id}), nil
}

// GetOrganization returns an organization with its domains and metadata.
func (s *Service) GetOrganization(ctx context.Context, req *connect.Request[orgv1.GetOrganizationRequest]) (*connect.Response[orgv1.GetOrganizationResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.OrgRead, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	o, err := org.Get(ctx, s.db(), caller.InstanceID, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.GetOrganizationResponse{Organization: toProto(o)}), nil
}

// ListOrganizations pages through the organizations the caller may read:
// all of them with org.read on the instance, else those it holds org.read
// on.
func (s *Service) ListOrganizations(ctx context.Context, req *connect.Request[orgv1.ListOrganizationsRequest]) (*connect.Response[orgv1.ListOrganizationsResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	m := req.Msg
	q := org.ListQuery{NamePrefix: m.GetNamePrefix(), PageSize: int(m.GetPageSize()), PageToken: m.GetPageToken()}
	switch m.GetState() {
	case orgv1.OrganizationState_ORGANIZATION_STATE_UNSPECIFIED:
	case orgv1.OrganizationState_ORGANIZATION_STATE_ACTIVE:
		q.State = org.StateActive
	case orgv1.OrganizationState_ORGANIZATION_STATE_INACTIVE:
		q.State = org.StateInactive
	default:
		return nil, failure.InvalidArgument("state", "unknown state %d", m.GetState())
	}
	if !caller.Can(authz.OrgRead, authz.Instance()) {
		q.OrgIDs = readableOrgs(caller)
	}
	page, err := org.List(ctx, s.db(), caller.InstanceID, q)
	if err != nil {
		return nil, err
	}
	resp := &orgv1.ListOrganizationsResponse{NextPageToken: page.NextPageToken, TotalSize: int32(page.TotalSize)}
	for _, o := range page.Orgs {
		resp.Organizations = append(resp.Organizations, toProto(o))
	}
	return connect.NewResponse(resp), nil
}

// readableOrgs lists the organizations the caller holds org.read on as a
// member, never nil.
func readableOrgs(c authz.Caller) []string {
	ids := []string{}
	for id := range c.OrgRoles {
		if c.Can(authz.OrgRead, authz.Org(id)) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// UpdateOrganization renames an organization.
func (s *Service) UpdateOrganization(ctx context.Context, req *connect.Request[orgv1.UpdateOrganizationRequest]) (*connect.Response[orgv1.UpdateOrganizationResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.OrgWrite, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if req.Msg.GetName() == "" && req.Msg.LoginNameMustBeDomain == nil {
		return nil, failure.InvalidArgument("name", "give a new name or a domain policy")
	}
	if req.Msg.GetName() != "" {
		if err := s.orgs.Rename(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetOrganizationId(), req.Msg.GetName()); err != nil {
			return nil, err
		}
	}
	if req.Msg.LoginNameMustBeDomain != nil {
		if err := s.orgs.SetDomainPolicy(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetOrganizationId(), req.Msg.GetLoginNameMustBeDomain()); err != nil {
			return nil, err
		}
	}
	return connect.NewResponse(&orgv1.UpdateOrganizationResponse{}), nil
}

// DeactivateOrganization suspends an active organization.
func (s *Service) DeactivateOrganization(ctx context.Context, req *connect.Request[orgv1.DeactivateOrganizationRequest]) (*connect.Response[orgv1.DeactivateOrganizationResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.OrgWrite, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := s.requireOrgMayLeave(ctx, caller, req.Msg.GetOrganizationId()); err != nil {
		return nil, err
	}
	if err := s.orgs.Deactivate(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetOrganizationId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.DeactivateOrganizationResponse{}), nil
}

// ReactivateOrganization ends a deactivation.
func (s *Service) ReactivateOrganization(ctx context.Context, req *connect.Request[orgv1.ReactivateOrganizationRequest]) (*connect.Response[orgv1.ReactivateOrganizationResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.OrgWrite, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := s.orgs.Reactivate(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetOrganizationId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.ReactivateOrganizationResponse{}), nil
}

// DeleteOrganization removes an organization for good.
func (s *Service) DeleteOrganization(ctx context.Context, req *connect.Request[orgv1.DeleteOrganizationRequest]) (*connect.Response[orgv1.DeleteOrganizationResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.OrgDelete, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := s.requireOrgMayLeave(ctx, caller, req.Msg.GetOrganizationId()); err != nil {
		return nil, err
	}
	users, err := user.CountInOrg(ctx, s.store.DB(), caller.InstanceID, req.Msg.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if users > 0 {
		return nil, failure.FailedPrecondition("organization %s still has %d user(s); delete them first, so that no active user is left holding a login name", req.Msg.GetOrganizationId(), users)
	}
	if err := s.orgs.Remove(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetOrganizationId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.DeleteOrganizationResponse{}), nil
}

// requireOrgMayLeave guards deactivating and deleting an organization,
// which end the activity of its users: the caller must cover every
// administrator among them, and the instance must keep an active owner.
func (s *Service) requireOrgMayLeave(ctx context.Context, caller authz.Caller, orgID string) error {
	if err := member.RequireCoversOrgUsers(ctx, s.store.DB(), caller, orgID); err != nil {
		return err
	}
	return member.RequireOwnerRemains(ctx, s.store.DB(), caller.InstanceID, member.Leaving{OrgID: orgID})
}
