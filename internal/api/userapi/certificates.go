package userapi

import (
	"context"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/machinecert"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/user"
)

func machineCertificateToProto(c machinecert.Certificate) *userv1.MachineCertificate {
	out := &userv1.MachineCertificate{Id: c.ID, Certificate: c.PEM, Thumbprint: c.Thumbprint, CreateTime: timestamppb.New(c.CreatedAt)}
	if !c.NotAfter.IsZero() {
		out.ExpireTime = timestamppb.New(c.NotAfter)
	}
	if s := c.Subject; s != nil {
		out.Subject = &userv1.CertificateSubject{TrustSetId: s.TrustSetID, SubjectDn: s.SubjectDN, SanDns: s.SANDNS, SanUri: s.SANURI, SanIp: s.SANIP, SanEmail: s.SANEmail}
	}
	return out
}

// AddMachineCertificate registers a certificate or a subject a machine
// user authenticates with; the caller needs user.credential.write, and
// the user's type must list the client_certificate authenticator.
func (s *Service) AddMachineCertificate(ctx context.Context, req *connect.Request[userv1.AddMachineCertificateRequest]) (*connect.Response[userv1.AddMachineCertificateResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	ok, err := user.MayUse(ctx, s.db(), u, machinecert.AuthenticatorName)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, failure.FailedPrecondition("users of type %s do not authenticate with certificates (the type does not list %s)", u.Type, machinecert.AuthenticatorName)
	}
	var subject *client.TLSClientAuth
	if m := req.Msg.GetSubject(); m != nil {
		subject = &client.TLSClientAuth{TrustSetID: m.GetTrustSetId(), SubjectDN: m.GetSubjectDn(), SANDNS: m.GetSanDns(), SANURI: m.GetSanUri(),
			SANIP: m.GetSanIp(), SANEmail: m.GetSanEmail()}
	}
	c, err := s.machineCerts.Add(ctx, caller.Editor(), u.Aggregate(), req.Msg.GetCertificate(), subject)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.AddMachineCertificateResponse{Certificate: machineCertificateToProto(c)}), nil
}

// ListMachineCertificates lists a user's registrations; user.read.
func (s *Service) ListMachineCertificates(ctx context.Context, req *connect.Request[userv1.ListMachineCertificatesRequest]) (*connect.Response[userv1.ListMachineCertificatesResponse], error) {
	caller, u, err := s.target(ctx, req.Header(), req.Msg.GetUserId(), authz.UserRead)
	if err != nil {
		return nil, err
	}
	certs, err := machinecert.List(ctx, s.db(), caller.InstanceID, u.ID)
	if err != nil {
		return nil, err
	}
	resp := &userv1.ListMachineCertificatesResponse{}
	for _, c := range certs {
		resp.Certificates = append(resp.Certificates, machineCertificateToProto(c))
	}
	return connect.NewResponse(resp), nil
}

// RemoveMachineCertificate ends a registration; user.credential.write.
func (s *Service) RemoveMachineCertificate(ctx context.Context, req *connect.Request[userv1.RemoveMachineCertificateRequest]) (*connect.Response[userv1.RemoveMachineCertificateResponse], error) {
	caller, u, err := s.managed(ctx, req.Header(), req.Msg.GetUserId(), authz.UserCredWrite)
	if err != nil {
		return nil, err
	}
	if err := s.machineCerts.Remove(ctx, caller.Editor(), u.Aggregate(), req.Msg.GetCertificateId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.RemoveMachineCertificateResponse{}), nil
}
