package orgapi

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

// Service implements orgv1connect.OrganizationServiceHandler.
type Service struct {
	store   *eventstore.Store
	orgs    *org.Commands
	members *member.Commands
	auth    *authn.Authenticator
}

var _ orgv1connect.OrganizationServiceHandler = (*Service)(nil)

// NewService returns the organization service. verifier checks domain
// ownership challenges (org.NewVerifier in production).
func NewService(store *eventstore.Store, verifier *org.Verifier, auth *authn.Authenticator) *Service {
	return &Service{store: store, orgs: org.NewCommands(store, verifier), members: member.NewCommands(store), auth: auth}
}

// WithProjects returns s finding projects and project grants through p,
// for their memberships.
func (s *Service) WithProjects(p member.Projects) *Service {
	cp := *s
	cp.members = s.members.WithProjects(p)
	return &cp
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return orgv1connect.NewOrganizationServiceHandler(s, opts...)
}

func (s *Service) db() *database.DB { return s.store.DB() }

// required reports an empty request field, named by its JSON name.
func required(field, value string) error {
	if value == "" {
		return failure.InvalidArgument(field, "required")
	}
	return nil
}

// authorize authenticates the request and requires permission p on
// organization orgID, which must be set. Authentication comes first, so
// that an anonymous caller learns nothing about its request.
func (s *Service) authorize(ctx context.Context, h http.Header, p authz.Permission, orgID string) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	if err := required("organizationId", orgID); err != nil {
		return authz.Caller{}, err
	}
	if err := caller.Require(p, authz.Org(orgID)); err != nil {
		return authz.Caller{}, err
	}
	return caller, nil
}
