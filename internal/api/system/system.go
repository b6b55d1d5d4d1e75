package system

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	systemv1 "github.com/castellan-iam/castellan/gen/castellan/system/v1"
	"github.com/castellan-iam/castellan/gen/castellan/system/v1/systemv1connect"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
)

// Service implements systemv1connect.SystemServiceHandler.
type Service struct {
	version string
}

var _ systemv1connect.SystemServiceHandler = (*Service)(nil)

// New returns the service, reporting version from GetVersion.
func New(version string) *Service { return &Service{version: version} }

// Handler returns the service's Connect handler and the path it serves, for
// api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return systemv1connect.NewSystemServiceHandler(s, opts...)
}

// GetInstance returns the instance the request's host resolved to.
func (s *Service) GetInstance(ctx context.Context, _ *connect.Request[systemv1.GetInstanceRequest]) (*connect.Response[systemv1.GetInstanceResponse], error) {
	inst, ok := instance.FromContext(ctx)
	if !ok {
		// Only a handler mounted outside server.Server's instance routes
		// gets here.
		return nil, failure.Internal(nil, "no instance in the request context")
	}
	return connect.NewResponse(&systemv1.GetInstanceResponse{Instance: &systemv1.Instance{
		Id:            inst.ID,
		Name:          inst.Name,
		PrimaryDomain: inst.PrimaryDomain,
	}}), nil
}

// GetVersion returns the server's version.
func (s *Service) GetVersion(context.Context, *connect.Request[systemv1.GetVersionRequest]) (*connect.Response[systemv1.GetVersionResponse], error) {
	return connect.NewResponse(&systemv1.GetVersionResponse{Version: s.version}), nil
}
