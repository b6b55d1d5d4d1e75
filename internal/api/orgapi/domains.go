package orgapi

import (
	"context"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

var methods = map[string]orgv1.DomainVerificationMethod{
	org.MethodDNS:  orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_DNS,
	org.MethodHTTP: orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_HTTP,
}

// authorizeDomain is authorize for an RPC on one domain, which must be set.
func (s *Service) authorizeDomain(ctx context.Context, req connect.AnyRequest, orgID, domain string) (authz.Caller, error) {
	caller, err := s.authorize(ctx, req.Header(), authz.OrgWrite, orgID)
	if err != nil {
		return authz.Caller{}, err
	}
	return caller, required("domain", domain)
}

// AddOrganizationDomain claims a domain, unverified.
func (s *Service) AddOrganizationDomain(ctx context.Context, req *connect.Request[orgv1.AddOrganizationDomainRequest]) (*connect.Response[orgv1.AddOrganizationDomainResponse], error) {
	m := req.Msg
	caller, err := s.authorizeDomain(ctx, req, m.GetOrganizationId(), m.GetDomain())
	if err != nil {
		return nil, err
	}
	if err := s.orgs.AddDomain(ctx, caller.Editor(), caller.InstanceID, m.GetOrganizationId(), m.GetDomain()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.AddOrganizationDomainResponse{}), nil
}

// RequestDomainVerification issues a domain's challenge and tells where to
// publish it. The locations are those org.Verifier checks (see package
// org's doc comment).
func (s *Service) RequestDomainVerification(ctx context.Context, req *connect.Request[orgv1.RequestDomainVerificationRequest]) (*connect.Response[orgv1.RequestDomainVerificationResponse], error) {
	m := req.Msg
	caller, err := s.authorizeDomain(ctx, req, m.GetOrganizationId(), m.GetDomain())
	if err != nil {
		return nil, err
	}
	var method string
	switch m.GetMethod() {
	case orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_DNS:
		method = org.MethodDNS
	case orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_HTTP:
		method = org.MethodHTTP
	default:
		return nil, failure.InvalidArgument("method", "DNS or HTTP")
	}
	token, err := s.orgs.RequestDomainVerification(ctx, caller.Editor(), caller.InstanceID, m.GetOrganizationId(), m.GetDomain(), method)
	if err != nil {
		return nil, err
	}
	domain, err := org.ValidateDomain(m.GetDomain())
	if err != nil {
		return nil, err
	}
	resp := &orgv1.RequestDomainVerificationResponse{Token: token}
	if method == org.MethodDNS {
		resp.TxtRecordName = "_castellan-challenge." + domain
	} else {
		resp.HttpUrl = "http://" + domain + "/.well-known/castellan-challenge/" + token
	}
	return connect.NewResponse(resp), nil
}

// VerifyDomain checks the published challenge and marks the domain verified.
func (s *Service) VerifyDomain(ctx context.Context, req *connect.Request[orgv1.VerifyDomainRequest]) (*connect.Response[orgv1.VerifyDomainResponse], error) {
	m := req.Msg
	caller, err := s.authorizeDomain(ctx, req, m.GetOrganizationId(), m.GetDomain())
	if err != nil {
		return nil, err
	}
	if err := s.orgs.VerifyDomain(ctx, caller.Editor(), caller.InstanceID, m.GetOrganizationId(), m.GetDomain()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.VerifyDomainResponse{}), nil
}

// SetPrimaryDomain makes a verified domain the primary one.
func (s *Service) SetPrimaryDomain(ctx context.Context, req *connect.Request[orgv1.SetPrimaryDomainRequest]) (*connect.Response[orgv1.SetPrimaryDomainResponse], error) {
	m := req.Msg
	caller, err := s.authorizeDomain(ctx, req, m.GetOrganizationId(), m.GetDomain())
	if err != nil {
		return nil, err
	}
	if err := s.orgs.SetPrimaryDomain(ctx, caller.Editor(), caller.InstanceID, m.GetOrganizationId(), m.GetDomain()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.SetPrimaryDomainResponse{}), nil
}

// RemoveDomain gives a domain up.
func (s *Service) RemoveDomain(ctx context.Context, req *connect.Request[orgv1.RemoveDomainRequest]) (*connect.Response[orgv1.RemoveDomainResponse], error) {
	m := req.Msg
	caller, err := s.authorizeDomain(ctx, req, m.GetOrganizationId(), m.GetDomain())
	if err != nil {
		return nil, err
	}
	if err := s.orgs.RemoveDomain(ctx, caller.Editor(), caller.InstanceID, m.GetOrganizationId(), m.GetDomain()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&orgv1.RemoveDomainResponse{}), nil
}
