package eventapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/history"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// WithHistory serves the questions about the past (GetUserAt, …) with h.
func (s *Service) WithHistory(h *history.Replayer) *Service {
	s.history = h
	return s
}

// readableAggregate authenticates the caller and returns it when it holds
// event.read on the organization that owns an aggregate; an aggregate
// without events, or of an organization the caller may not read the
// events of, is NotFound with the same message.
func (s *Service) readableAggregate(ctx context.Context, h http.Header, typ, id, what string) (authz.Caller, error) {
	caller, err := s.auth.Caller(ctx, h)
	if err != nil {
		return authz.Caller{}, err
	}
	if s.history == nil {
		return authz.Caller{}, failure.FailedPrecondition("this server does not answer questions about the past")
	}
	if id == "" || len(id) > maxID {
		return authz.Caller{}, failure.InvalidArgument(what+"Id", "must be 1 to %d bytes", maxID)
	}
	first, err := s.store.Query(ctx, eventstore.Filter{InstanceID: caller.InstanceID, AggregateTypes: []string{typ}, AggregateIDs: []string{id}, Limit: 1})
	if err != nil {
		return authz.Caller{}, err
	}
	if len(first) == 0 || !caller.Can(authz.EventRead, authz.OrgOrInstance(first[0].Aggregate.Owner)) {
		return authz.Caller{}, failure.NotFound("%s %.64q not found", what, id)
	}
	return caller, nil
}

// aggregateAt authenticates a question about an aggregate at a moment:
// the caller must read the aggregate's events (readableAggregate), and
// the moment is ts, required.
func (s *Service) aggregateAt(ctx context.Context, h http.Header, typ, id, what string, ts *timestamppb.Timestamp) (authz.Caller, time.Time, error) {
	caller, err := s.readableAggregate(ctx, h, typ, id, what)
	if err != nil {
		return authz.Caller{}, time.Time{}, err
	}
	at, err := moment("time", ts)
	return caller, at, err
}

func moment(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, failure.InvalidArgument(field, "required")
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, failure.InvalidArgument(field, "is not a valid time")
	}
	return ts.AsTime(), nil
}

// asStruct is v's JSON form as a Struct.
func asStruct(v any) (*structpb.Struct, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("eventapi: %T is not an object", v)
	}
	return structpb.NewStruct(redact(m).(map[string]any))
}

// GetUserAt returns a user as it was at a moment.
func (s *Service) GetUserAt(ctx context.Context, req *connect.Request[eventv1.GetUserAtRequest]) (*connect.Response[eventv1.GetUserAtResponse], error) {
	caller, at, err := s.aggregateAt(ctx, req.Header(), user.AggregateType, req.Msg.GetUserId(), "user", req.Msg.GetTime())
	if err != nil {
		return nil, err
	}
	u, events, err := s.history.UserAt(ctx, caller.InstanceID, req.Msg.GetUserId(), at)
	if err != nil {
		return nil, err
	}
	st, err := asStruct(u)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.GetUserAtResponse{User: st, EventsReplayed: int64(len(events))}), nil
}

// GetOrganizationAt returns an organization as it was at a moment.
func (s *Service) GetOrganizationAt(ctx context.Context, req *connect.Request[eventv1.GetOrganizationAtRequest]) (*connect.Response[eventv1.GetOrganizationAtResponse], error) {
	caller, at, err := s.aggregateAt(ctx, req.Header(), org.AggregateType, req.Msg.GetOrganizationId(), "organization", req.Msg.GetTime())
	if err != nil {
		return nil, err
	}
	o, err := s.history.OrgAt(ctx, caller.InstanceID, req.Msg.GetOrganizationId(), at)
	if err != nil {
		return nil, err
	}
	st, err := asStruct(o)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.GetOrganizationAtResponse{Organization: st}), nil
}

// GetUserTypeAt returns a user type as it was at a moment.
func (s *Service) GetUserTypeAt(ctx context.Context, req *connect.Request[eventv1.GetUserTypeAtRequest]) (*connect.Response[eventv1.GetUserTypeAtResponse], error) {
	caller, at, err := s.aggregateAt(ctx, req.Header(), usertype.AggregateType, req.Msg.GetUserTypeId(), "userType", req.Msg.GetTime())
	if err != nil {
		return nil, err
	}
	ut, err := s.history.UserTypeAt(ctx, caller.InstanceID, req.Msg.GetUserTypeId(), at)
	if err != nil {
		return nil, err
	}
	st, err := asStruct(ut)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.GetUserTypeAtResponse{UserType: st}), nil
}

// diff answers a question about what changed in an aggregate between two
// moments: the caller must read the aggregate's events
// (readableAggregate), the moments are from and to (from not after to),
// and changes is one of the history's diffs. Fields holding credential
// material (Sensitive) never show their values.
func (s *Service) diff(ctx context.Context, h http.Header, typ, id, what string, fromTS, toTS *timestamppb.Timestamp,
	changes func(caller authz.Caller, from, to time.Time) ([]history.Change, error)) ([]*eventv1.Change, error) {
	caller, err := s.readableAggregate(ctx, h, typ, id, what)
	if err != nil {
		return nil, err
	}
	from, err := moment("from", fromTS)
	if err != nil {
		return nil, err
	}
	to, err := moment("to", toTS)
	if err != nil {
		return nil, err
	}
	if err := history.CheckMoments(from, to); err != nil {
		return nil, err
	}
	list, err := changes(caller, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]*eventv1.Change, 0, len(list))
	for _, c := range list {
		before, err := structpb.NewValue(redact(c.Before))
		if err != nil {
			return nil, err
		}
		after, err := structpb.NewValue(redact(c.After))
		if err != nil {
			return nil, err
		}
		out = append(out, &eventv1.Change{Path: c.Path, Kind: c.Kind, Before: before, After: after})
	}
	return out, nil
}

// DiffUser lists what changed in a user between two moments.
func (s *Service) DiffUser(ctx context.Context, req *connect.Request[eventv1.DiffUserRequest]) (*connect.Response[eventv1.DiffUserResponse], error) {
	m := req.Msg
	changes, err := s.diff(ctx, req.Header(), user.AggregateType, m.GetUserId(), "user", m.GetFrom(), m.GetTo(), func(caller authz.Caller, from, to time.Time) ([]history.Change, error) {
		return s.history.DiffUser(ctx, caller.InstanceID, m.GetUserId(), from, to, Sensitive)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.DiffUserResponse{Changes: changes}), nil
}

// DiffOrganization lists what changed in an organization between two
// moments.
func (s *Service) DiffOrganization(ctx context.Context, req *connect.Request[eventv1.DiffOrganizationRequest]) (*connect.Response[eventv1.DiffOrganizationResponse], error) {
	m := req.Msg
	changes, err := s.diff(ctx, req.Header(), org.AggregateType, m.GetOrganizationId(), "organization", m.GetFrom(), m.GetTo(), func(caller authz.Caller, from, to time.Time) ([]history.Change, error) {
		return s.history.DiffOrg(ctx, caller.InstanceID, m.GetOrganizationId(), from, to, Sensitive)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.DiffOrganizationResponse{Changes: changes}), nil
}

// DiffProject lists what changed in a project, its roles, grants and
// applications between two moments.
func (s *Service) DiffProject(ctx context.Context, req *connect.Request[eventv1.DiffProjectRequest]) (*connect.Response[eventv1.DiffProjectResponse], error) {
	m := req.Msg
	changes, err := s.diff(ctx, req.Header(), project.AggregateType, m.GetProjectId(), "project", m.GetFrom(), m.GetTo(), func(caller authz.Caller, from, to time.Time) ([]history.Change, error) {
		return s.history.DiffProject(ctx, caller.InstanceID, m.GetProjectId(), from, to, Sensitive)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.DiffProjectResponse{Changes: changes}), nil
}

// DiffUserType lists what changed in a user type between two moments.
func (s *Service) DiffUserType(ctx context.Context, req *connect.Request[eventv1.DiffUserTypeRequest]) (*connect.Response[eventv1.DiffUserTypeResponse], error) {
	m := req.Msg
	changes, err := s.diff(ctx, req.Header(), usertype.AggregateType, m.GetUserTypeId(), "userType", m.GetFrom(), m.GetTo(), func(caller authz.Caller, from, to time.Time) ([]history.Change, error) {
		return s.history.DiffUserType(ctx, caller.InstanceID, m.GetUserTypeId(), from, to, Sensitive)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.DiffUserTypeResponse{Changes: changes}), nil
}

// DiffAuthorizations lists the authorizations of a user added, removed or
// changed between two moments.
func (s *Service) DiffAuthorizations(ctx context.Context, req *connect.Request[eventv1.DiffAuthorizationsRequest]) (*connect.Response[eventv1.DiffAuthorizationsResponse], error) {
	m := req.Msg
	changes, err := s.diff(ctx, req.Header(), user.AggregateType, m.GetUserId(), "user", m.GetFrom(), m.GetTo(), func(caller authz.Caller, from, to time.Time) ([]history.Change, error) {
		return s.history.DiffAuthorizations(ctx, caller.InstanceID, m.GetUserId(), from, to, Sensitive)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.DiffAuthorizationsResponse{Changes: changes}), nil
}

// DiffMemberships lists the administrator roles of a user added, removed
// or changed between two moments, in the scopes the caller may read.
func (s *Service) DiffMemberships(ctx context.Context, req *connect.Request[eventv1.DiffMembershipsRequest]) (*connect.Response[eventv1.DiffMembershipsResponse], error) {
	m := req.Msg
	changes, err := s.diff(ctx, req.Header(), user.AggregateType, m.GetUserId(), "user", m.GetFrom(), m.GetTo(), func(caller authz.Caller, from, to time.Time) ([]history.Change, error) {
		return s.history.DiffMemberships(ctx, caller.InstanceID, m.GetUserId(), from, to, mayRead(caller), Sensitive)
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.DiffMembershipsResponse{Changes: changes}), nil
}

// GetProjectAt returns a project as it was at a moment.
func (s *Service) GetProjectAt(ctx context.Context, req *connect.Request[eventv1.GetProjectAtRequest]) (*connect.Response[eventv1.GetProjectAtResponse], error) {
	caller, at, err := s.aggregateAt(ctx, req.Header(), project.AggregateType, req.Msg.GetProjectId(), "project", req.Msg.GetTime())
	if err != nil {
		return nil, err
	}
	p, err := s.history.ProjectAt(ctx, caller.InstanceID, req.Msg.GetProjectId(), at)
	if err != nil {
		return nil, err
	}
	st, err := asStruct(p)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.GetProjectAtResponse{Project: st}), nil
}

// ListRoleHoldersAt lists who held a role at a moment, with the trail.
func (s *Service) ListRoleHoldersAt(ctx context.Context, req *connect.Request[eventv1.ListRoleHoldersAtRequest]) (*connect.Response[eventv1.ListRoleHoldersAtResponse], error) {
	m := req.Msg
	caller, err := s.readableAggregate(ctx, req.Header(), project.AggregateType, m.GetProjectId(), "project")
	if err != nil {
		return nil, err
	}
	if m.GetRole() == "" || len(m.GetRole()) > maxID {
		return nil, failure.InvalidArgument("role", "must be 1 to %d bytes", maxID)
	}
	lang, _ := LanguageOf("", req.Header()) // no field: the header alone never fails
	at, err := moment("time", m.GetTime())
	if err != nil {
		return nil, err
	}
	users, events, err := s.history.HoldersAt(ctx, caller.InstanceID, m.GetProjectId(), m.GetRole(), at, maxLimit)
	if err != nil {
		return nil, err
	}
	resp := &eventv1.ListRoleHoldersAtResponse{UserIds: users}
	for _, e := range events {
		if e.Aggregate.Type != project.AuthorizationAggregate && e.Aggregate.Type != project.AggregateType {
			continue
		}
		out, err := eventOf(e, lang)
		if err != nil {
			return nil, err
		}
		resp.Events = append(resp.Events, out)
	}
	return connect.NewResponse(resp), nil
}

// ListAuthorizationsAt lists a user's authorizations at a moment.
func (s *Service) ListAuthorizationsAt(ctx context.Context, req *connect.Request[eventv1.ListAuthorizationsAtRequest]) (*connect.Response[eventv1.ListAuthorizationsAtResponse], error) {
	caller, at, err := s.aggregateAt(ctx, req.Header(), user.AggregateType, req.Msg.GetUserId(), "user", req.Msg.GetTime())
	if err != nil {
		return nil, err
	}
	list, _, err := s.history.AuthorizationsAt(ctx, caller.InstanceID, req.Msg.GetUserId(), at)
	if err != nil {
		return nil, err
	}
	resp := &eventv1.ListAuthorizationsAtResponse{}
	for _, a := range list {
		st, err := asStruct(a)
		if err != nil {
			return nil, err
		}
		resp.Authorizations = append(resp.Authorizations, st)
	}
	return connect.NewResponse(resp), nil
}

// mayRead reports whether the caller may read the events of a scope: the
// instance's for the instance, the organization's for an organization and
// what it owns.
func mayRead(caller authz.Caller) func(authz.Scope) bool {
	return func(s authz.Scope) bool {
		switch s.Kind {
		case authz.ScopeInstance:
			return caller.Can(authz.EventRead, authz.Instance())
		case authz.ScopeOrg:
			return caller.Can(authz.EventRead, authz.Org(s.ID))
		default:
			return caller.Can(authz.EventRead, authz.Org(s.Org))
		}
	}
}

func membershipsOf(ms []authz.Membership) []*eventv1.Membership {
	out := make([]*eventv1.Membership, 0, len(ms))
	for _, m := range ms {
		out = append(out, &eventv1.Membership{Scope: string(m.Scope.Kind), ScopeId: m.Scope.ID, OrganizationId: m.Scope.Org, Roles: m.Roles})
	}
	return out
}

// ListMembershipsAt lists the administrator roles a user held at a moment.
func (s *Service) ListMembershipsAt(ctx context.Context, req *connect.Request[eventv1.ListMembershipsAtRequest]) (*connect.Response[eventv1.ListMembershipsAtResponse], error) {
	caller, at, err := s.aggregateAt(ctx, req.Header(), user.AggregateType, req.Msg.GetUserId(), "user", req.Msg.GetTime())
	if err != nil {
		return nil, err
	}
	ms, err := s.history.MembershipsAt(ctx, caller.InstanceID, req.Msg.GetUserId(), at, mayRead(caller))
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&eventv1.ListMembershipsAtResponse{Memberships: membershipsOf(ms)}), nil
}

// ListPermissionHoldersAt lists who held a permission on an organization
// (or the instance) at a moment.
func (s *Service) ListPermissionHoldersAt(ctx context.Context, req *connect.Request[eventv1.ListPermissionHoldersAtRequest]) (*connect.Response[eventv1.ListPermissionHoldersAtResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	if s.history == nil {
		return nil, failure.FailedPrecondition("this server does not answer questions about the past")
	}
	m := req.Msg
	p := authz.Permission(m.GetPermission())
	if !authz.Known(p) {
		return nil, failure.InvalidArgument("permission", "%.64q is not a permission of the catalogue (castellan roles permissions)", m.GetPermission())
	}
	if len(m.GetOrganizationId()) > maxID {
		return nil, failure.InvalidArgument("organizationId", "must be at most %d bytes", maxID)
	}
	scope := authz.OrgOrInstance(m.GetOrganizationId())
	if !caller.Can(authz.EventRead, scope) {
		return nil, failure.NotFound("organization %.64q not found", m.GetOrganizationId())
	}
	at, err := moment("time", m.GetTime())
	if err != nil {
		return nil, err
	}
	holders, err := s.history.PermissionHoldersAt(ctx, caller.InstanceID, p, scope, at, mayRead(caller))
	if err != nil {
		return nil, err
	}
	resp := &eventv1.ListPermissionHoldersAtResponse{}
	for _, h := range holders {
		resp.Holders = append(resp.Holders, &eventv1.PermissionHolder{UserId: h.UserID, Memberships: membershipsOf(h.Memberships)})
	}
	return connect.NewResponse(resp), nil
}
