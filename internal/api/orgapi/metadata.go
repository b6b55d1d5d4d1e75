package orgapi

import (
	"context"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/internal/authz"
)

// SetOrganizationMetadata sets a metadata key.
func (s *Service) SetOrganizationMetadata(ctx context.Context, req *connect.Request[orgv1.SetOrganizationMetadataRequest]) (*connect.Response[orgv1.SetOrganizationMetadataResponse], error) {
	m := req.Msg
	caller, err := s.authorize(ctx, req.Header(), authz.OrgWrite, m.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := required("key", m.GetKey()); err != nil {
		return nil, err
	}
	if err := s.orgs.SetMetadata(ctx, caller.Editor(), caller.InstanceID, m.GetOrganizationId(), m.GetKey(), m.GetValue()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.SetOrganizationMetadataResponse{}), nil
}

// RemoveOrganizationMetadata removes a metadata key.
func (s *Service) RemoveOrganizationMetadata(ctx context.Context, req *connect.Request[orgv1.RemoveOrganizationMetadataRequest]) (*connect.Response[orgv1.RemoveOrganizationMetadataResponse], error) {
	m := req.Msg
	caller, err := s.authorize(ctx, req.Header(), authz.OrgWrite, m.GetOrganizationId())
	if err != nil {
		return nil, err
	}
	if err := required("key", m.GetKey()); err != nil {
		return nil, err
	}
	if err := s.orgs.RemoveMetadata(ctx, caller.Editor(), caller.InstanceID, m.GetOrganizationId(), m.GetKey()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.RemoveOrganizationMetadataResponse{}), nil
}
