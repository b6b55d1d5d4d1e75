package history

import (
	"context"
	"encoding/json"
	"time"

	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/database"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/oauth/client"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// fields reads the top-level JSON fields of an event's payload.
func fields(e eventstore.Event) map[string]any {
	b, err := json.Marshal(e.Payload)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

// events reads the events of one aggregate before until.
func (r *Replayer) events(ctx context.Context, instanceID, typ, id string, until time.Time) ([]eventstore.Event, error) {
	evs, err := r.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, AggregateTypes: []string{typ}, AggregateIDs: []string{id},
		CreatedBefore: until, Limit: MaxEvents + 1})
	if err != nil {
		return nil, err
	}
	if len(evs) > MaxEvents {
		return nil, failure.FailedPrecondition("the history asked for holds more than %d events", MaxEvents)
	}
	return evs, r.complete(ctx, instanceID, typ, id, evs)
}

// complete fails when archived events of an aggregate are missing from
// evs, its events from the start: the state they fold to would be wrong.
func (r *Replayer) complete(ctx context.Context, instanceID, typ, id string, evs []eventstore.Event) error {
	if len(evs) > 0 && evs[0].Sequence == 1 {
		return nil
	}
	archived := int64(0)
	if len(evs) > 0 {
		archived = evs[0].Sequence - 1
	} else {
		var err error
		if archived, err = r.store.ArchivedSequence(ctx, eventstore.Aggregate{InstanceID: instanceID, Type: typ, ID: id}); err != nil {
			return err
		}
	}
	if archived == 0 {
		return nil
	}
	return failure.FailedPrecondition("the first %d events of %s %.64q are archived: restore the archive (castellan audit restore) to see it as it was", archived, typ, id)
}

// userRefs are a user's aggregate and those its read model depends on:
// its organization and every user type it had.
func (r *Replayer) userRefs(ctx context.Context, instanceID, userID string, until time.Time) ([]Ref, error) {
	evs, err := r.events(ctx, instanceID, user.AggregateType, userID, until)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, failure.NotFound("user %.64q did not exist then", userID)
	}
	refs := []Ref{{user.AggregateType, userID}, {org.AggregateType, evs[0].Aggregate.Owner}}
	for _, e := range evs {
		if id := str(fields(e), "schemaId"); id != "" {
			refs = append(refs, Ref{usertype.AggregateType, id})
		}
	}
	return refs, nil
}

// UserAt returns a user as it was at t, traits as an administrator reads
// them, with the events replayed; a user that did not exist then, or was
// deleted, is failure.NotFound.
func (r *Replayer) UserAt(ctx context.Context, instanceID, userID string, t time.Time) (user.User, []eventstore.Event, error) {
	refs, err := r.userRefs(ctx, instanceID, userID, t)
	if err != nil {
		return user.User{}, nil, err
	}
	s, err := r.Replay(ctx, instanceID, refs, t)
	if err != nil {
		return user.User{}, nil, err
	}
	defer s.Close()
	u, err := user.Get(ctx, s.DB, instanceID, userID, userschema.Admin)
	if failure.Is(err, failure.KindNotFound) {
		return user.User{}, nil, failure.NotFound("user %.64q did not exist then", userID)
	}
	return u, s.Events, err
}

// snapshotTypes are the aggregate types whose replayed state may be
// snapshotted: none of their events carries personal data.
var snapshotTypes = map[string]bool{org.AggregateType: true, project.AggregateType: true, usertype.AggregateType: true}

// OrgAt returns an organization as it was at t.
func (r *Replayer) OrgAt(ctx context.Context, instanceID, orgID string, t time.Time) (org.Org, error) {
	s, err := r.Replay(ctx, instanceID, []Ref{{org.AggregateType, orgID}}, t)
	if err != nil {
		return org.Org{}, err
	}
	defer s.Close()
	o, err := org.Get(ctx, s.DB, instanceID, orgID)
	if failure.Is(err, failure.KindNotFound) {
		return org.Org{}, failure.NotFound("organization %.64q did not exist then", orgID)
	}
	return o, err
}

// UserTypeAt returns a user type as it was at t: the schema revision it
// had then.
func (r *Replayer) UserTypeAt(ctx context.Context, instanceID, typeID string, t time.Time) (usertype.Type, error) {
	s, err := r.Replay(ctx, instanceID, []Ref{{usertype.AggregateType, typeID}}, t)
	if err != nil {
		return usertype.Type{}, err
	}
	defer s.Close()
	ut, err := usertype.Get(ctx, s.DB, instanceID, typeID)
	if failure.Is(err, failure.KindNotFound) {
		return usertype.Type{}, failure.NotFound("user type %.64q did not exist then", typeID)
	}
	return ut, err
}

// Project is a project as it was: its roles, settings, grants and
// applications (never their secrets).
type Project struct {
	Project      client.Project
	Settings     project.Settings
	Roles        []project.Role
	Grants       []project.Grant
	Applications []client.Application
}

// ProjectAt returns a project as it was at t.
func (r *Replayer) ProjectAt(ctx context.Context, instanceID, projectID string, t time.Time) (Project, error) {
	evs, err := r.events(ctx, instanceID, project.AggregateType, projectID, t)
	if err != nil {
		return Project{}, err
	}
	if len(evs) == 0 {
		return Project{}, failure.NotFound("project %.64q did not exist then", projectID)
	}
	s, err := r.Replay(ctx, instanceID, []Ref{{project.AggregateType, projectID}, {org.AggregateType, evs[0].Aggregate.Owner}}, t)
	if err != nil {
		return Project{}, err
	}
	defer s.Close()
	return ProjectOf(ctx, s.DB, instanceID, projectID)
}

// ProjectOf reads a project from a database — a replayed one, or the live
// read models — as ProjectAt answers it, its applications without their
// secrets.
func ProjectOf(ctx context.Context, db *database.DB, instanceID, projectID string) (Project, error) {
	var out Project
	var err error
	if out.Project, err = client.GetProject(ctx, db, instanceID, projectID); err != nil {
		return Project{}, err
	}
	if out.Settings, err = project.GetSettings(ctx, db, instanceID, projectID); err != nil {
		return Project{}, err
	}
	if out.Roles, err = project.ListRoles(ctx, db, instanceID, projectID); err != nil {
		return Project{}, err
	}
	if out.Grants, err = project.ListGrants(ctx, db, instanceID, projectID, ""); err != nil {
		return Project{}, err
	}
	if out.Applications, err = client.ListApplications(ctx, db, instanceID, projectID); err != nil {
		return Project{}, err
	}
	for i := range out.Applications {
		out.Applications[i].Secrets = nil
	}
	return out, nil
}

// authorizationsWhere returns the authorization aggregates added before t
// whose first event matches keep, with the projects they are of.
func (r *Replayer) authorizationsWhere(ctx context.Context, instanceID string, t time.Time, keep func(*project.AuthorizationAdded) bool) (refs []Ref, projects []string, err error) {
	added, err := r.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, EventTypes: []string{(&project.AuthorizationAdded{}).EventType()},
		CreatedBefore: t, Limit: MaxEvents + 1})
	if err != nil {
		return nil, nil, err
	}
	if len(added) > MaxEvents {
		return nil, nil, failure.FailedPrecondition("the history asked for holds more than %d events", MaxEvents)
	}
	seen := map[string]bool{}
	for _, e := range added {
		p, ok := e.Payload.(*project.AuthorizationAdded)
		if !ok || !keep(p) {
			continue
		}
		refs = append(refs, Ref{project.AuthorizationAggregate, e.Aggregate.ID})
		if !seen[p.ProjectID] {
			seen[p.ProjectID] = true
			projects = append(projects, p.ProjectID)
		}
	}
	return refs, projects, nil
}

// groupsOf returns the groups a user was ever added to before t, and the
// groups those were nested in: their histories decide its memberships.
func (r *Replayer) groupsOf(ctx context.Context, instanceID, userID string, t time.Time) ([]string, error) {
	added, err := r.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, EventTypes: []string{(&group.MemberAdded{}).EventType()},
		CreatedBefore: t, Limit: MaxEvents + 1})
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, e := range added {
			p, ok := e.Payload.(*group.MemberAdded)
			if ok && !in[e.Aggregate.ID] && (p.UserID == userID || (p.GroupID != "" && in[p.GroupID])) {
				in[e.Aggregate.ID], changed = true, true
			}
		}
	}
	out := make([]string, 0, len(in))
	for g := range in {
		out = append(out, g)
	}
	return out, nil
}

// AuthorizationsAt returns a user's authorizations at t — its own and its
// groups' — with their roles in force then, and the events replayed.
func (r *Replayer) AuthorizationsAt(ctx context.Context, instanceID, userID string, t time.Time) ([]project.Authorization, []eventstore.Event, error) {
	refs, err := r.userRefs(ctx, instanceID, userID, t)
	if err != nil {
		return nil, nil, err
	}
	groups, err := r.groupsOf(ctx, instanceID, userID, t)
	if err != nil {
		return nil, nil, err
	}
	isGroup := map[string]bool{}
	for _, g := range groups {
		isGroup[g] = true
		refs = append(refs, Ref{group.AggregateType, g})
	}
	auths, projects, err := r.authorizationsWhere(ctx, instanceID, t, func(p *project.AuthorizationAdded) bool {
		return p.UserID == userID || isGroup[p.GroupID]
	})
	if err != nil {
		return nil, nil, err
	}
	refs = append(refs, auths...)
	for _, p := range projects {
		refs = append(refs, Ref{project.AggregateType, p})
	}
	s, err := r.Replay(ctx, instanceID, refs, t)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	out, err := AuthorizationsOf(ctx, s.DB, instanceID, userID)
	return out, s.Events, err
}

// AuthorizationsOf reads a user's authorizations — its own, then its
// groups' — from a database, replayed or live, as AuthorizationsAt
// answers them.
func AuthorizationsOf(ctx context.Context, db *database.DB, instanceID, userID string) ([]project.Authorization, error) {
	out, err := project.ListAuthorizations(ctx, db, instanceID, project.AuthorizationFilter{UserID: userID}, 0)
	if err != nil {
		return nil, err
	}
	current, err := group.GroupsOf(ctx, db, instanceID, userID)
	if err != nil {
		return nil, err
	}
	for _, g := range current {
		more, err := project.ListAuthorizations(ctx, db, instanceID, project.AuthorizationFilter{GroupID: g}, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// HoldersAt returns the users who held a role of a project at t (at most
// limit), and the events replayed: the project's and its
// authorizations' — those that granted and revoked the role among them.
func (r *Replayer) HoldersAt(ctx context.Context, instanceID, projectID, role string, t time.Time, limit int) ([]string, []eventstore.Event, error) {
	refs := []Ref{{project.AggregateType, projectID}}
	groups := map[string]bool{}
	auths, _, err := r.authorizationsWhere(ctx, instanceID, t, func(p *project.AuthorizationAdded) bool {
		if p.ProjectID == projectID && p.GroupID != "" {
			groups[p.GroupID] = true
		}
		return p.ProjectID == projectID
	})
	if err != nil {
		return nil, nil, err
	}
	refs = append(refs, auths...)
	// A group's members come from its history and from the groups nested
	// in it.
	members, err := r.store.Query(ctx, eventstore.Filter{InstanceID: instanceID, EventTypes: []string{(&group.MemberAdded{}).EventType()},
		CreatedBefore: t, Limit: MaxEvents + 1})
	if err != nil {
		return nil, nil, err
	}
	for changed := true; changed; {
		changed = false
		for _, e := range members {
			if p, ok := e.Payload.(*group.MemberAdded); ok && groups[e.Aggregate.ID] && p.GroupID != "" && !groups[p.GroupID] {
				groups[p.GroupID], changed = true, true
			}
		}
	}
	for g := range groups {
		refs = append(refs, Ref{group.AggregateType, g})
	}
	s, err := r.Replay(ctx, instanceID, refs, t)
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	users, err := project.UsersWithRole(ctx, s.DB, instanceID, projectID, role, "", limit)
	return users, s.Events, err
}
