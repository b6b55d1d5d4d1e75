package eventapi_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/gen/castellan/event/v1/eventv1connect"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/eventapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
)

func start(t testing.TB, src dbtest.Source) (*apitest.Env, eventv1connect.EventServiceClient) {
	env := apitest.StartOn(t, src, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{eventapi.NewService(a.Store, auth)}
	})
	return env, eventv1connect.NewEventServiceClient(env.Client, env.URL)
}

func as[T any](token string, msg *T, header ...string) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", apitest.Bearer(token))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header().Set(header[i], header[i+1])
	}
	return req
}

func createOrg(t testing.TB, env *apitest.Env, name string) string {
	t.Helper()
	id, err := org.NewCommands(env.App.Store, org.NewVerifier()).Create(context.Background(), eventstore.SystemEditor, env.InstanceID, name)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func createUser(t testing.TB, env *apitest.Env, orgID, login string) string {
	t.Helper()
	id, err := user.NewCommands(env.App.Store, env.App.Hasher).Create(context.Background(), eventstore.SystemEditor, env.InstanceID,
		user.New{OrgID: orgID, Type: "human", LoginName: login, Email: login + "@example.com", Password: "a good password 1"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestListEventsDescribesEvents: each event carries a description in the
// language the request asks for — the language field first, then
// Accept-Language, then English — and a malformed language is named.
func TestListEventsDescribesEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env, c := start(t, src)
		createUser(t, env, env.OrgID, "alice")
		env.WaitSettled(t)
		list := func(lang string, header ...string) string {
			t.Helper()
			r, err := c.ListEvents(context.Background(), as(env.AdminToken, &eventv1.ListEventsRequest{EventTypes: []string{"user.added"}, Language: lang}, header...))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range r.Msg.GetEvents() {
				if e.GetPayload().GetFields()["loginName"].GetStringValue() == "alice" {
					return e.GetDescription()
				}
			}
			t.Fatalf("alice's user.added not listed")
			return ""
		}
		if got := list(""); got != "User alice was created." {
			t.Errorf("default: %q", got)
		}
		if got := list("", "Accept-Language", "de-DE,de;q=0.9"); got != "Der Benutzer alice wurde angelegt." {
			t.Errorf("Accept-Language de: %q", got)
		}
		if got := list("en", "Accept-Language", "de"); got != "User alice was created." {
			t.Errorf("field before header: %q", got)
		}
		if got := list("fr"); got != "User alice was created." {
			t.Errorf("a language without descriptions: %q", got)
		}
		_, err := c.ListEvents(context.Background(), as(env.AdminToken, &eventv1.ListEventsRequest{Language: "¿"}))
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument || !strings.Contains(ce.Message(), "language") {
			t.Fatalf("bad language: %v", err)
		}
	})
}

// receive reads n events from a stream, failing after a while.
func receive(t *testing.T, s *connect.ServerStreamForClient[eventv1.StreamEventsResponse], n int) []*eventv1.Event {
	t.Helper()
	var out []*eventv1.Event
	for len(out) < n {
		if !s.Receive() {
			t.Fatalf("stream ended after %d of %d events: %v", len(out), n, s.Err())
		}
		out = append(out, s.Msg().GetEvent())
	}
	return out
}

// TestStreamEvents: a Connect server stream from a position sends the past
// events, then live ones as they commit; an organization's administrator
// sees only its organization's events and may not ask for the instance's;
// a stream resumed after the last position received goes on without a
// gap or a repeat.
func TestStreamEvents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, src dbtest.Source) {
		env, c := start(t, src)
		orgB := createOrg(t, env, "Globex")
		adminB := createUser(t, env, orgB, "admin-b")
		env.GrantOrg(t, orgB, adminB, "org.owner")
		bToken := env.Token(t, adminB, orgB)
		for i := range 3 {
			createUser(t, env, env.OrgID, fmt.Sprintf("past-a-%d", i))
			createUser(t, env, orgB, fmt.Sprintf("past-b-%d", i))
		}

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The instance owner from the start, user.added only, in German.
		all, err := c.StreamEvents(ctx, as(env.AdminToken, &eventv1.StreamEventsRequest{EventTypes: []string{"user.added"}, Language: "de"}))
		if err != nil {
			t.Fatal(err)
		}
		defer all.Close()
		// B's owner, its organization only.
		onlyB, err := c.StreamEvents(ctx, as(bToken, &eventv1.StreamEventsRequest{OrganizationId: orgB, EventTypes: []string{"user.added"}}))
		if err != nil {
			t.Fatal(err)
		}
		defer onlyB.Close()

		// admin, admin-b, 3 + 3 past users.
		past := receive(t, all, 8)
		if d := past[len(past)-1].GetDescription(); d != "Der Benutzer past-b-2 wurde angelegt." {
			t.Errorf("description %q", d)
		}
		pastB := receive(t, onlyB, 4) // admin-b and its three
		for _, e := range pastB {
			if e.GetOrganizationId() != orgB {
				t.Fatalf("B's owner received %s of %q", e.GetType(), e.GetOrganizationId())
			}
		}

		// Live: new users in both organizations, in order.
		for i := range 3 {
			createUser(t, env, env.OrgID, fmt.Sprintf("live-a-%d", i))
			createUser(t, env, orgB, fmt.Sprintf("live-b-%d", i))
		}
		live := receive(t, all, 6)
		for i, e := range live {
			org := "a"
			if i%2 == 1 {
				org = "b"
			}
			if want := fmt.Sprintf("live-%s-%d", org, i/2); e.GetPayload().GetFields()["loginName"].GetStringValue() != want {
				t.Fatalf("live event %d is %v, want %s", i, e.GetPayload(), want)
			}
		}
		liveB := receive(t, onlyB, 3)
		for i, e := range liveB {
			if e.GetOrganizationId() != orgB || e.GetPayload().GetFields()["loginName"].GetStringValue() != fmt.Sprintf("live-b-%d", i) {
				t.Fatalf("B's live event %d: %v", i, e)
			}
		}

		// Resume after the third past event: the rest, each once.
		seen := append(past, live...)
		resumed, err := c.StreamEvents(ctx, as(env.AdminToken, &eventv1.StreamEventsRequest{EventTypes: []string{"user.added"}, After: seen[2].GetPosition()}))
		if err != nil {
			t.Fatal(err)
		}
		defer resumed.Close()
		again := receive(t, resumed, len(seen)-3)
		for i, e := range again {
			if e.GetPosition() != seen[i+3].GetPosition() {
				t.Fatalf("resumed event %d at %s, want %s", i, e.GetPosition(), seen[i+3].GetPosition())
			}
		}
		// And a new event arrives once, after them.
		createUser(t, env, env.OrgID, "after-resume")
		next := receive(t, resumed, 1)[0]
		if next.GetPayload().GetFields()["loginName"].GetStringValue() != "after-resume" {
			t.Fatalf("after resuming: %v", next)
		}

		// B's owner may not stream the instance's events, nor A's.
		for _, req := range []*eventv1.StreamEventsRequest{{}, {OrganizationId: env.OrgID}} {
			s, err := c.StreamEvents(ctx, as(bToken, req))
			if err == nil {
				if s.Receive() {
					t.Fatalf("B's owner received %v with %v", s.Msg(), req)
				}
				err = s.Err()
				s.Close()
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodePermissionDenied {
				t.Fatalf("B's owner streaming %v: %v", req, err)
			}
		}
		// A bad position is named.
		s, err := c.StreamEvents(ctx, as(env.AdminToken, &eventv1.StreamEventsRequest{After: "nope"}))
		if err == nil {
			s.Receive()
			err = s.Err()
			s.Close()
		}
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument || !strings.Contains(ce.Message(), "after") {
			t.Fatalf("bad position: %v", err)
		}
	})
}

// TestStreamEventsOverGRPC streams with the gRPC protocol over cleartext
// HTTP/2, as SIEM collectors do.
func TestStreamEventsOverGRPC(t *testing.T) {
	env := apitest.Start(t, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{eventapi.NewService(a.Store, auth)}
	})
	c := eventv1connect.NewEventServiceClient(env.Client, env.URL, connect.WithGRPC())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.StreamEvents(ctx, as(env.AdminToken, &eventv1.StreamEventsRequest{EventTypes: []string{"user.added"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	receive(t, s, 1)
	createUser(t, env, env.OrgID, "grpc-live")
	if e := receive(t, s, 1)[0]; e.GetPayload().GetFields()["loginName"].GetStringValue() != "grpc-live" {
		t.Fatalf("live over gRPC: %v", e)
	}
}
