package userapi

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/text/language"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/internal/access/group"
	"github.com/castellan-iam/castellan/internal/access/member"
	"github.com/castellan-iam/castellan/internal/access/project"
	"github.com/castellan-iam/castellan/internal/api/eventapi"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/credential/passkey"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/portability"
	"github.com/castellan-iam/castellan/internal/ratelimit"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
)

// ExportService implements userv1connect.DataExportServiceHandler: a
// user's data as one document, for the user and for its administrators
// (see package portability). It finds users as the user service does: an
// administrator that may not read the user's organization gets NotFound.
type ExportService struct {
	users *Service
	now   func() time.Time
	// perCaller limits the exports one caller makes (exportsPerCaller).
	perCaller *ratelimit.Limiter
}

var _ userv1connect.DataExportServiceHandler = (*ExportService)(nil)

// Bounds of an export, so that one document stays under the API's 4 MiB
// message limit (the REST transcoder buffers a whole response): the
// groups whose authorizations it lists, the authorizations, and the bytes
// of its events in binary protobuf (about 200 to 500 bytes an event:
// portability.MaxEvents of them fit).
const (
	maxExportGroups         = 200
	maxExportAuthorizations = 2000
	maxExportEventBytes     = 3 << 20
)

// exportsPerCaller exports one caller (a user or an administrator) may
// make within exportWindow, on one replica: an export reads and sends up
// to a few MiB and appends an event, so a script cannot loop on it.
const (
	exportsPerCaller = 60
	exportWindow     = 10 * time.Minute
)

// NewExportService returns the data export service.
func NewExportService(store *eventstore.Store, auth *authn.Authenticator) *ExportService {
	return &ExportService{users: &Service{store: store, auth: auth}, now: time.Now, perCaller: ratelimit.New(exportsPerCaller, exportWindow, nil)}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *ExportService) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return userv1connect.NewDataExportServiceHandler(s, opts...)
}

// ExportMyData exports the caller's own data, its traits as the user may
// read them.
func (s *ExportService) ExportMyData(ctx context.Context, req *connect.Request[userv1.ExportMyDataRequest]) (*connect.Response[userv1.ExportMyDataResponse], error) {
	lang, err := eventapi.LanguageOf(req.Msg.GetLanguage(), req.Header())
	if err != nil {
		return nil, err
	}
	caller, u, err := s.users.me(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	doc, err := s.export(ctx, caller, u, lang)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ExportMyDataResponse{Export: doc}), nil
}

// ExportUserData exports a user's data for an administrator with
// user.read and event.read on the user's organization, its traits as
// administrators may read them.
func (s *ExportService) ExportUserData(ctx context.Context, req *connect.Request[userv1.ExportUserDataRequest]) (*connect.Response[userv1.ExportUserDataResponse], error) {
	lang, err := eventapi.LanguageOf(req.Msg.GetLanguage(), req.Header())
	if err != nil {
		return nil, err
	}
	caller, u, err := s.users.target(ctx, req.Header(), req.Msg.GetUserId(), authz.EventRead)
	if err != nil {
		return nil, err
	}
	doc, err := s.export(ctx, caller, u, lang)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&userv1.ExportUserDataResponse{Export: doc}), nil
}

// export assembles u's document and records that caller exported it.
func (s *ExportService) export(ctx context.Context, caller authz.Caller, u user.User, lang language.Tag) (*userv1.UserDataExport, error) {
	if !s.perCaller.Allow(caller.InstanceID + "/" + caller.UserID) {
		return nil, failure.ResourceExhausted("too many exports; wait before asking for another")
	}
	db := s.users.db()
	agg := u.Aggregate()
	doc := &userv1.UserDataExport{ExportTime: timestamppb.New(s.now())}

	traits := &structpb.Struct{}
	if len(u.Traits) > 0 {
		if err := protojson.Unmarshal(u.Traits, traits); err != nil {
			return nil, failure.Internal(err, "traits of user %s", u.ID)
		}
	}
	doc.Profile = &userv1.ExportedProfile{Id: u.ID, OrganizationId: u.OrgID, LoginName: u.LoginName, Type: u.Type, State: string(u.State),
		Traits: traits, CreateTime: timestamppb.New(u.CreatedAt), UpdateTime: timestamppb.New(u.ChangedAt)}
	doc.Contact = &userv1.ExportedContact{Email: u.Email, EmailVerified: u.EmailVerified, Phone: u.Phone, PhoneVerified: u.PhoneVerified}

	// The account's events: the document holds the first MaxEvents of
	// them, settled, so that paging on after the last one through
	// ListEvents misses none; the folds of its authenticators need all of
	// them, as a sign-in reads them. Every event before the last settled
	// one is settled, so the rest are the events after it.
	events, err := s.users.store.Query(ctx, eventstore.Filter{InstanceID: u.InstanceID, AggregateTypes: []string{user.AggregateType},
		AggregateIDs: []string{u.ID}, Settled: true, Limit: portability.MaxEvents + 1})
	if err != nil {
		return nil, err
	}
	var accountEvents []eventstore.Event
	if len(events) > portability.MaxEvents || len(events) == 0 {
		accountEvents, err = credential.ReadUser(ctx, s.users.store, agg)
	} else {
		var tail []eventstore.Event
		tail, err = s.users.store.Query(ctx, eventstore.Filter{InstanceID: u.InstanceID, AggregateTypes: []string{user.AggregateType},
			AggregateIDs: []string{u.ID}, After: events[len(events)-1].Position})
		accountEvents = append(events[:len(events):len(events)], tail...)
	}
	if err != nil {
		return nil, err
	}
	// The authenticators, from the folds of those events: whether a
	// secret is set, never the secret.
	auths, err := credential.AuthenticatorsIn(agg, accountEvents)
	if err != nil {
		return nil, err
	}
	doc.Authenticators = &userv1.ExportedAuthenticators{Summary: authenticatorsToProto(auths)}
	if !auths.PasswordSetAt.IsZero() && auths.HasPassword {
		doc.Authenticators.PasswordSetTime = timestamppb.New(auths.PasswordSetAt)
	}
	keys, err := passkey.ListIn(agg, accountEvents)
	if err != nil {
		return nil, err
	}
	doc.Authenticators.Passkeys = passkeysToProto(keys)

	memberships, err := member.OfUser(ctx, db, u.InstanceID, u.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range memberships {
		doc.Memberships = append(doc.Memberships, &userv1.ExportedMembership{Scope: string(m.Scope.Kind), ScopeId: m.Scope.ID, Roles: m.Roles})
	}

	own, err := project.ListAuthorizations(ctx, db, u.InstanceID, project.AuthorizationFilter{UserID: u.ID}, 0)
	if err != nil {
		return nil, err
	}
	for _, a := range own {
		doc.Authorizations = append(doc.Authorizations, authorizationToExport(a))
	}
	groups, err := group.GroupsOf(ctx, db, u.InstanceID, u.ID)
	if err != nil {
		return nil, err
	}
	if len(groups) > maxExportGroups {
		groups = groups[:maxExportGroups]
	}
	for _, id := range groups {
		g, err := group.Get(ctx, db, u.InstanceID, id)
		if failure.Is(err, failure.KindNotFound) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, err
		}
		doc.Groups = append(doc.Groups, &userv1.ExportedGroup{Id: g.ID, Name: g.Name, OrganizationId: g.OrgID})
		through, err := project.ListAuthorizations(ctx, db, u.InstanceID, project.AuthorizationFilter{GroupID: id}, 0)
		if err != nil {
			return nil, err
		}
		for _, a := range through {
			doc.Authorizations = append(doc.Authorizations, authorizationToExport(a))
		}
		if len(doc.Authorizations) >= maxExportAuthorizations {
			doc.Authorizations = doc.Authorizations[:maxExportAuthorizations]
			break
		}
	}

	sessions, err := session.List(ctx, db, u.InstanceID, u.ID, s.now())
	if err != nil {
		return nil, err
	}
	for _, ss := range sessions {
		doc.Sessions = append(doc.Sessions, &userv1.ExportedSession{Id: ss.ID, UserAgent: ss.UserAgent, ClientAddress: ss.Address,
			CreateTime: timestamppb.New(ss.CreatedAt), LastSeenTime: timestamppb.New(ss.LastActive), ExpireTime: timestamppb.New(ss.ExpiresAt),
			Factors: ss.Factors})
	}

	// The document's events, up to portability.MaxEvents and
	// maxExportEventBytes; where they stop, the position to list the rest
	// after.
	size := 0
	for i, e := range events {
		out, err := eventapi.EventOf(e, lang)
		if err != nil {
			return nil, err
		}
		size += proto.Size(out)
		if i == portability.MaxEvents || size > maxExportEventBytes {
			doc.EventsTruncated = true
			if i > 0 {
				doc.EventsNext = events[i-1].Position.String()
			}
			break
		}
		doc.Events = append(doc.Events, out)
	}

	if err := portability.Record(ctx, s.users.store, caller.Editor(), agg, len(doc.Events), doc.EventsTruncated); err != nil {
		return nil, err
	}
	return doc, nil
}

func authorizationToExport(a project.Authorization) *userv1.ExportedAuthorization {
	return &userv1.ExportedAuthorization{Id: a.ID, ProjectId: a.ProjectID, GrantId: a.GrantID, Roles: a.Roles, GroupId: a.GroupID}
}
