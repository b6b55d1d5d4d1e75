package reportapi

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"

	reportv1 "github.com/castellan-iam/castellan/gen/castellan/report/v1"
	"github.com/castellan-iam/castellan/gen/castellan/report/v1/reportv1connect"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/report"
)

// maxID bounds an organization or client id.
const maxID = 256

// Service implements reportv1connect.ReportServiceHandler.
type Service struct {
	db   *database.DB
	auth *authn.Authenticator
	now  func() time.Time
}

var _ reportv1connect.ReportServiceHandler = (*Service)(nil)

// NewService returns the report service.
func NewService(db *database.DB, auth *authn.Authenticator) *Service {
	return &Service{db: db, auth: auth, now: time.Now}
}

// WithClock sets the clock that says which day is today.
func (s *Service) WithClock(now func() time.Time) *Service {
	s.now = now
	return s
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return reportv1connect.NewReportServiceHandler(s, opts...)
}

// query is a checked request: the caller's instance, the organization
// ("" for the instance) and the days.
type query struct {
	instanceID, orgID string
	days              report.Days
}

// authorize authenticates the caller, checks report.read on the scope
// the request names, then the days.
func (s *Service) authorize(ctx context.Context, h http.Header, orgID, from, to string) (query, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return query{}, err
	}
	if len(orgID) > maxID || orgID == "*" {
		return query{}, failure.InvalidArgument("organizationId", "is not an organization id (at most %d bytes)", maxID)
	}
	scope := authz.Instance()
	if orgID != "" {
		scope = authz.Org(orgID)
	}
	if err := caller.Require(authz.ReportRead, scope); err != nil {
		return query{}, err
	}
	days, err := report.ParseDays(from, to, s.now())
	if err != nil {
		return query{}, err
	}
	return query{instanceID: caller.InstanceID, orgID: orgID, days: days}, nil
}

func counts(in []report.Count) []*reportv1.Count {
	out := make([]*reportv1.Count, len(in))
	for i, c := range in {
		out[i] = &reportv1.Count{Period: c.Period, Count: c.Count}
	}
	return out
}

// GetActiveUsers counts active users per day or month.
func (s *Service) GetActiveUsers(ctx context.Context, req *connect.Request[reportv1.GetActiveUsersRequest]) (*connect.Response[reportv1.GetActiveUsersResponse], error) {
	m := req.Msg
	q, err := s.authorize(ctx, req.Header(), m.GetOrganizationId(), m.GetFrom(), m.GetTo())
	if err != nil {
		return nil, err
	}
	var got []report.Count
	switch m.GetGranularity() {
	case "", "day":
		got, err = report.DailyActiveUsers(ctx, s.db, q.instanceID, q.orgID, q.days)
	case "month":
		got, err = report.MonthlyActiveUsers(ctx, s.db, q.instanceID, q.orgID, q.days)
	default:
		return nil, failure.InvalidArgument("granularity", "must be day or month")
	}
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&reportv1.GetActiveUsersResponse{Counts: counts(got)}), nil
}

// GetSignIns counts sign-ins per day and application.
func (s *Service) GetSignIns(ctx context.Context, req *connect.Request[reportv1.GetSignInsRequest]) (*connect.Response[reportv1.GetSignInsResponse], error) {
	m := req.Msg
	q, err := s.authorize(ctx, req.Header(), m.GetOrganizationId(), m.GetFrom(), m.GetTo())
	if err != nil {
		return nil, err
	}
	var client *string
	if c := m.GetClientId(); c != "" {
		if len(c) > maxID {
			return nil, failure.InvalidArgument("clientId", "at most %d bytes", maxID)
		}
		client = &c
	}
	got, err := report.ListSignIns(ctx, s.db, q.instanceID, q.orgID, client, q.days)
	if err != nil {
		return nil, err
	}
	resp := &reportv1.GetSignInsResponse{}
	for _, si := range got {
		resp.SignIns = append(resp.SignIns, &reportv1.SignIns{Day: si.Day, ClientId: si.ClientID, Succeeded: si.Succeeded, Failed: si.Failed})
		resp.Succeeded += si.Succeeded
		resp.Failed += si.Failed
	}
	return connect.NewResponse(resp), nil
}

// GetNewUsers counts the users added per day.
func (s *Service) GetNewUsers(ctx context.Context, req *connect.Request[reportv1.GetNewUsersRequest]) (*connect.Response[reportv1.GetNewUsersResponse], error) {
	m := req.Msg
	q, err := s.authorize(ctx, req.Header(), m.GetOrganizationId(), m.GetFrom(), m.GetTo())
	if err != nil {
		return nil, err
	}
	got, err := report.NewUsers(ctx, s.db, q.instanceID, q.orgID, q.days)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&reportv1.GetNewUsersResponse{Counts: counts(got)}), nil
}

// GetMFAAdoption returns the MFA adoption now and per day.
func (s *Service) GetMFAAdoption(ctx context.Context, req *connect.Request[reportv1.GetMFAAdoptionRequest]) (*connect.Response[reportv1.GetMFAAdoptionResponse], error) {
	m := req.Msg
	q, err := s.authorize(ctx, req.Header(), m.GetOrganizationId(), m.GetFrom(), m.GetTo())
	if err != nil {
		return nil, err
	}
	now, days, err := report.MFAAdoption(ctx, s.db, q.instanceID, q.orgID, q.days)
	if err != nil {
		return nil, err
	}
	resp := &reportv1.GetMFAAdoptionResponse{Current: &reportv1.Adoption{Users: now.Users, MfaUsers: now.MFAUsers}}
	for _, d := range days {
		resp.Days = append(resp.Days, &reportv1.Adoption{Period: d.Period, Users: d.Users, MfaUsers: d.MFAUsers})
	}
	return connect.NewResponse(resp), nil
}
