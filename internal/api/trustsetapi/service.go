package trustsetapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	trustsetv1 "github.com/castellan-iam/castellan/gen/castellan/trustset/v1"
	"github.com/castellan-iam/castellan/gen/castellan/trustset/v1/trustsetv1connect"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/oauth/trustset"
)

// Service implements trustsetv1connect.TrustSetServiceHandler.
type Service struct {
	store    *eventstore.Store
	commands *trustset.Commands
	auth     *authn.Authenticator
}

var _ trustsetv1connect.TrustSetServiceHandler = (*Service)(nil)

// NewService returns the trust set service.
func NewService(store *eventstore.Store, auth *authn.Authenticator) *Service {
	return &Service{store: store, commands: trustset.NewCommands(store), auth: auth}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return trustsetv1connect.NewTrustSetServiceHandler(s, opts...)
}

func (s *Service) authorize(ctx context.Context, h http.Header, p authz.Permission) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	return caller, caller.Require(p, authz.Instance())
}

func trustSetOf(t trustset.TrustSet) *trustsetv1.TrustSet {
	return &trustsetv1.TrustSet{Id: t.ID, Name: t.Name, Certificates: t.Certificates, Crls: t.CRLs, Default: t.Default,
		CreateTime: timestamppb.New(t.CreatedAt)}
}

// CreateTrustSet adds a trust set; instance.write.
func (s *Service) CreateTrustSet(ctx context.Context, req *connect.Request[trustsetv1.CreateTrustSetRequest]) (*connect.Response[trustsetv1.CreateTrustSetResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.InstanceWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	t, err := s.commands.Create(ctx, caller.Editor(), caller.InstanceID, trustset.Spec{Name: m.GetName(), Certificates: m.GetCertificates(),
		CRLs: m.GetCrls(), Default: m.GetDefault()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&trustsetv1.CreateTrustSetResponse{TrustSet: trustSetOf(t)}), nil
}

// GetTrustSet returns a trust set; instance.read.
func (s *Service) GetTrustSet(ctx context.Context, req *connect.Request[trustsetv1.GetTrustSetRequest]) (*connect.Response[trustsetv1.GetTrustSetResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.InstanceRead)
	if err != nil {
		return nil, err
	}
	t, err := trustset.Get(ctx, s.store.DB(), caller.InstanceID, req.Msg.GetTrustSetId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&trustsetv1.GetTrustSetResponse{TrustSet: trustSetOf(t)}), nil
}

// ListTrustSets lists the trust sets; instance.read.
func (s *Service) ListTrustSets(ctx context.Context, req *connect.Request[trustsetv1.ListTrustSetsRequest]) (*connect.Response[trustsetv1.ListTrustSetsResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.InstanceRead)
	if err != nil {
		return nil, err
	}
	list, err := trustset.List(ctx, s.store.DB(), caller.InstanceID)
	if err != nil {
		return nil, err
	}
	out := &trustsetv1.ListTrustSetsResponse{}
	for _, t := range list {
		out.TrustSets = append(out.TrustSets, trustSetOf(t))
	}
	return connect.NewResponse(out), nil
}

// UpdateTrustSet replaces a trust set; instance.write.
func (s *Service) UpdateTrustSet(ctx context.Context, req *connect.Request[trustsetv1.UpdateTrustSetRequest]) (*connect.Response[trustsetv1.UpdateTrustSetResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.InstanceWrite)
	if err != nil {
		return nil, err
	}
	m := req.Msg
	t, err := s.commands.Update(ctx, caller.Editor(), caller.InstanceID, m.GetTrustSetId(), trustset.Spec{Name: m.GetName(),
		Certificates: m.GetCertificates(), CRLs: m.GetCrls(), Default: m.GetDefault()})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&trustsetv1.UpdateTrustSetResponse{TrustSet: trustSetOf(t)}), nil
}

// DeleteTrustSet removes a trust set; instance.write.
func (s *Service) DeleteTrustSet(ctx context.Context, req *connect.Request[trustsetv1.DeleteTrustSetRequest]) (*connect.Response[trustsetv1.DeleteTrustSetResponse], error) {
	caller, err := s.authorize(ctx, req.Header(), authz.InstanceWrite)
	if err != nil {
		return nil, err
	}
	if err := s.commands.Remove(ctx, caller.Editor(), caller.InstanceID, req.Msg.GetTrustSetId()); err != nil {
		return nil, err
	}
	return connect.NewResponse(&trustsetv1.DeleteTrustSetResponse{}), nil
}
