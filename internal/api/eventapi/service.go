// Package eventapi serves castellan.event.v1.EventService: the audit
// trail, read in commit order, with filters and pages.
//
// event.read on the instance lists every event; event.read on an
// organization lists the events of the objects it owns (the aggregate's
// owner). A page holds at most 1,000 events; its last position is where
// the next begins. Payloads are the events as stored, with the personal
// fields of users whose data was erased read as placeholders, and every
// field holding credential material — a hash, a seed, a code, a sealed
// secret, a private key (Sensitive) — read as "[redacted]", at any depth:
// the audit trail says that a password changed, never what it hashes to.
// Each event carries a description in the request's language (package
// eventtext), filled from the redacted payload.
//
// The events stream two ways over one loop (stream.go): server-sent events
// at GET /v1/events:stream and the StreamEvents server stream.
package eventapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"connectrpc.com/connect"
	"golang.org/x/text/language"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/gen/castellan/event/v1/eventv1connect"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/eventtext"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/history"
)

// Bounds of a request.
const (
	defaultLimit  = 100
	maxLimit      = 1000
	maxEventTypes = 50
	maxID         = 256
)

// Service implements eventv1connect.EventServiceHandler.
type Service struct {
	store   *eventstore.Store
	auth    *authn.Authenticator
	history *history.Replayer
}

var _ eventv1connect.EventServiceHandler = (*Service)(nil)

// NewService returns the event service.
func NewService(store *eventstore.Store, auth *authn.Authenticator) *Service {
	return &Service{store: store, auth: auth}
}

// Handler returns the Connect handler and its path, for api.NewHandler.
func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
	return eventv1connect.NewEventServiceHandler(s, opts...)
}

// parseAfter reads the position a client gives as after.
func parseAfter(s string) (eventstore.Position, error) {
	p, err := eventstore.ParsePosition(s)
	if err != nil {
		return eventstore.Position{}, failure.InvalidArgument("after", "is not a position ListEvents gave")
	}
	return p, nil
}

// filterOf checks a request and turns it into a filter of the caller's
// instance.
func filterOf(caller authz.Caller, m *eventv1.ListEventsRequest) (eventstore.Filter, error) {
	// Settled: a page ends before any event a transaction still in flight
	// could commit ahead of, so paging after its last position misses
	// nothing.
	f := eventstore.Filter{InstanceID: caller.InstanceID, Owner: m.GetOrganizationId(), EditorUserID: m.GetEditorUserId(),
		EditorClientID: m.GetEditorClientId(), EditorSessionID: m.GetEditorSessionId(), Limit: defaultLimit, Settled: true}
	if m.GetOrganizationId() != "" {
		if err := caller.Require(authz.EventRead, authz.Org(m.GetOrganizationId())); err != nil {
			return f, err
		}
	} else if err := caller.Require(authz.EventRead, authz.Instance()); err != nil {
		return f, err
	}
	for field, v := range map[string]string{"organizationId": m.GetOrganizationId(), "aggregateType": m.GetAggregateType(),
		"aggregateId": m.GetAggregateId(), "editorUserId": m.GetEditorUserId(), "editorClientId": m.GetEditorClientId(),
		"editorSessionId": m.GetEditorSessionId(), "editorNetwork": m.GetEditorNetwork()} {
		if len(v) > maxID {
			return f, failure.InvalidArgument(field, "at most %d bytes", maxID)
		}
	}
	if n := m.GetEditorNetwork(); n != "" {
		var err error
		if f.EditorNetwork, err = parseNetwork(n); err != nil {
			return f, err
		}
	}
	if t := m.GetAggregateType(); t != "" {
		f.AggregateTypes = []string{t}
	}
	if id := m.GetAggregateId(); id != "" {
		f.AggregateIDs = []string{id}
	}
	if len(m.GetEventTypes()) > maxEventTypes {
		return f, failure.InvalidArgument("eventTypes", "at most %d", maxEventTypes)
	}
	for _, t := range m.GetEventTypes() {
		if t == "" || len(t) > maxID {
			return f, failure.InvalidArgument("eventTypes", "each must be 1 to %d bytes", maxID)
		}
	}
	f.EventTypes = m.GetEventTypes()
	if len(m.GetEventTypePrefixes()) > maxEventTypes {
		return f, failure.InvalidArgument("eventTypePrefixes", "at most %d", maxEventTypes)
	}
	for _, p := range m.GetEventTypePrefixes() {
		if p == "" || len(p) > maxID {
			return f, failure.InvalidArgument("eventTypePrefixes", "each must be 1 to %d bytes", maxID)
		}
	}
	f.EventTypePrefixes = m.GetEventTypePrefixes()
	if m.From != nil {
		if err := m.GetFrom().CheckValid(); err != nil {
			return f, failure.InvalidArgument("from", "is not a valid time")
		}
		f.CreatedFrom = m.GetFrom().AsTime()
	}
	if m.Until != nil {
		if err := m.GetUntil().CheckValid(); err != nil {
			return f, failure.InvalidArgument("until", "is not a valid time")
		}
		f.CreatedBefore = m.GetUntil().AsTime()
	}
	if a := m.GetAfter(); a != "" {
		p, err := parseAfter(a)
		if err != nil {
			return f, err
		}
		f.After = p
	}
	switch l := m.GetLimit(); {
	case l < 0 || l > maxLimit:
		return f, failure.InvalidArgument("limit", "must be 1 to %d", maxLimit)
	case l > 0:
		f.Limit = int(l)
	}
	return f, nil
}

// ListEvents lists events in commit order.
func (s *Service) ListEvents(ctx context.Context, req *connect.Request[eventv1.ListEventsRequest]) (*connect.Response[eventv1.ListEventsResponse], error) {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return nil, err
	}
	f, err := filterOf(caller, req.Msg)
	if err != nil {
		return nil, err
	}
	lang, err := LanguageOf(req.Msg.GetLanguage(), req.Header())
	if err != nil {
		return nil, err
	}
	events, err := s.store.Query(ctx, f)
	if err != nil {
		return nil, err
	}
	resp := &eventv1.ListEventsResponse{}
	for _, e := range events {
		out, err := eventOf(e, lang)
		if err != nil {
			return nil, err
		}
		resp.Events = append(resp.Events, out)
	}
	if len(events) == f.Limit {
		resp.Next = events[len(events)-1].Position.String()
	}
	return connect.NewResponse(resp), nil
}

// EventOf is an event as the API shows it: its payload redacted (see the
// package comment), described in lang. Other services that show events (a
// user's data export) show them through it.
func EventOf(e eventstore.Event, lang language.Tag) (*eventv1.Event, error) {
	return eventOf(e, lang)
}

// LanguageOf picks the language of the descriptions: the request's
// language field, then its Accept-Language header (eventtext.Match).
func LanguageOf(field string, h http.Header) (language.Tag, error) {
	t, err := eventtext.Match(field, h.Get("Accept-Language"))
	if err != nil {
		return t, failure.InvalidArgument("language", "%s", err.Error())
	}
	return t, nil
}

func eventOf(e eventstore.Event, lang language.Tag) (*eventv1.Event, error) {
	b, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("eventapi: payload of %s: %w", e.Type, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("eventapi: payload of %s: %w", e.Type, err)
	}
	redacted := redact(m).(map[string]any)
	payload, err := structpb.NewStruct(redacted)
	if err != nil {
		return nil, fmt.Errorf("eventapi: payload of %s: %w", e.Type, err)
	}
	return &eventv1.Event{Description: eventtext.Describe(lang, e.Type, redacted), Position: e.Position.String(), AggregateType: e.Aggregate.Type, AggregateId: e.Aggregate.ID,
		OrganizationId: e.Aggregate.Owner, Sequence: e.Sequence, Type: e.Type, Payload: payload, EditorUserId: e.Editor.UserID,
		EditorClientId: e.Editor.ClientID, EditorSessionId: e.Editor.SessionID, EditorAddress: e.Editor.Address,
		CreateTime: timestamppb.New(e.CreatedAt)}, nil
}

// parseNetwork reads an editor network: an address (a network of one) or
// a network in CIDR notation. IPv4-mapped IPv6 spellings mean their IPv4
// address, as stored.
func parseNetwork(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, failure.InvalidArgument("editorNetwork", "must be an IP address or a network in CIDR notation such as 192.0.2.0/24, got %.64q", s)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// sensitiveSuffixes end the names of payload fields that hold credential
// material.
var sensitiveSuffixes = []string{"hash", "hashes", "secret", "sealed", "privatekey", "seed", "code", "password"}

// Sensitive reports whether a payload field of that JSON name holds
// credential material, which the audit trail never shows.
func Sensitive(name string) bool {
	n := strings.ToLower(name)
	for _, s := range sensitiveSuffixes {
		if strings.HasSuffix(n, s) {
			return true
		}
	}
	return false
}

// redact replaces the values of sensitive fields, at any depth.
func redact(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if Sensitive(k) {
				v[k] = "[redacted]"
			} else {
				v[k] = redact(x)
			}
		}
	case []any:
		for i, x := range v {
			v[i] = redact(x)
		}
	}
	return v
}
