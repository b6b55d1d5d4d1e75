package eventapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/text/language"
	"google.golang.org/protobuf/encoding/protojson"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Streaming the audit trail to a SIEM (Splunk, Elasticsearch, …), two
// ways over one loop (follow):
//
//   - GET /v1/events:stream is a server-sent events stream
//     (text/event-stream) of the events ListEvents would list — same
//     filters as query parameters (organizationId, eventTypes, repeated),
//     same permission, same redaction — from the position after (or the
//     Last-Event-ID header a reconnecting client sends), then live. Each
//     event is one message: id the position, event the type, data the
//     event as ListEvents' JSON.
//   - StreamEvents is the same as a Connect/gRPC server stream, with every
//     filter of ListEvents; each message carries one event, whose position
//     is where a reconnecting client resumes (after).
//
// Only settled events are sent, so a client that resumes after the last
// position it saw misses none and gets none twice. New events are noticed
// at once on the replica that wrote them and within streamPoll of
// another's; the SSE stream sends a comment line every streamHeartbeat so
// that proxies do not close an idle stream (gRPC and Connect streams rely
// on HTTP/2 pings).
const (
	streamPoll      = time.Second
	streamHeartbeat = 15 * time.Second
	streamBatch     = 500
)

// sink receives what follow reads.
type sink struct {
	// send writes one event.
	send func(e eventstore.Event, out *eventv1.Event) error
	// flush ends a batch; nil when send delivers at once.
	flush func() error
	// idle is called every streamHeartbeat without events; nil for none.
	idle func() error
}

// follow sends the events f selects after f.After, then each new one as
// it settles, until ctx ends (nil) or the sink or the store fails. It is
// the loop of both streams.
func (s *Service) follow(ctx context.Context, f eventstore.Filter, lang language.Tag, out sink) error {
	f.Limit, f.Settled = streamBatch, true
	heartbeat := time.NewTicker(streamHeartbeat)
	defer heartbeat.Stop()
	poll := time.NewTimer(streamPoll)
	defer poll.Stop()
	for {
		changed := s.store.Changed()
		events, err := s.store.Query(ctx, f)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range events {
			pe, err := eventOf(e, lang)
			if err != nil {
				return err
			}
			if err := out.send(e, pe); err != nil {
				return err
			}
			f.After = e.Position
		}
		if len(events) > 0 && out.flush != nil {
			if err := out.flush(); err != nil {
				return err
			}
		}
		if len(events) == streamBatch {
			continue
		}
		poll.Reset(streamPoll)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-poll.C:
		case <-heartbeat.C:
			if out.idle != nil {
				if err := out.idle(); err != nil {
					return err
				}
			}
		}
	}
}

// StreamEvents sends the events ListEvents would list after a position,
// then live ones.
func (s *Service) StreamEvents(ctx context.Context, req *connect.Request[eventv1.StreamEventsRequest], stream *connect.ServerStream[eventv1.StreamEventsResponse]) error {
	caller, err := s.auth.Caller(ctx, req.Header())
	if err != nil {
		return err
	}
	m := req.Msg
	f, err := filterOf(caller, &eventv1.ListEventsRequest{OrganizationId: m.GetOrganizationId(), AggregateType: m.GetAggregateType(),
		AggregateId: m.GetAggregateId(), EventTypes: m.GetEventTypes(), EventTypePrefixes: m.GetEventTypePrefixes(),
		EditorUserId: m.GetEditorUserId(), EditorClientId: m.GetEditorClientId(), EditorSessionId: m.GetEditorSessionId(),
		EditorNetwork: m.GetEditorNetwork(), After: m.GetAfter()})
	if err != nil {
		return err
	}
	lang, err := LanguageOf(m.GetLanguage(), req.Header())
	if err != nil {
		return err
	}
	return s.follow(ctx, f, lang, sink{send: func(_ eventstore.Event, out *eventv1.Event) error {
		return stream.Send(&eventv1.StreamEventsResponse{Event: out})
	}})
}

// StreamHandler serves GET /v1/events:stream.
func (s *Service) StreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		caller, err := s.auth.Caller(ctx, r.Header)
		if err != nil {
			streamError(w, err)
			return
		}
		q := r.URL.Query()
		after := q.Get("after")
		if id := r.Header.Get("Last-Event-ID"); id != "" {
			after = id
		}
		f, err := filterOf(caller, &eventv1.ListEventsRequest{OrganizationId: q.Get("organizationId"), AggregateType: q.Get("aggregateType"),
			AggregateId: q.Get("aggregateId"), EventTypes: q["eventTypes"], EventTypePrefixes: q["eventTypePrefixes"],
			EditorUserId: q.Get("editorUserId"), EditorClientId: q.Get("editorClientId"), EditorSessionId: q.Get("editorSessionId"),
			EditorNetwork: q.Get("editorNetwork"), After: after})
		if err != nil {
			streamError(w, err)
			return
		}
		lang, err := LanguageOf(q.Get("language"), r.Header)
		if err != nil {
			streamError(w, err)
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			streamError(w, failure.FailedPrecondition("this connection cannot stream"))
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		flusher.Flush()
		marshal := protojson.MarshalOptions{}
		err = s.follow(ctx, f, lang, sink{
			send: func(e eventstore.Event, out *eventv1.Event) error {
				b, err := marshal.Marshal(out)
				if err != nil {
					return err
				}
				var compact json.RawMessage = b
				if b, err = json.Marshal(compact); err != nil {
					return err
				}
				_, err = fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", out.GetPosition(), e.Type, b)
				return err
			},
			flush: func() error { flusher.Flush(); return nil },
			idle: func() error {
				_, err := fmt.Fprint(w, ": keep-alive\n\n")
				flusher.Flush()
				return err
			},
		})
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(w, "event: error\ndata: %q\n\n", "the event store failed; reconnect with Last-Event-ID")
			flusher.Flush()
		}
	})
}

// streamError answers a stream that cannot start with its error as JSON.
func streamError(w http.ResponseWriter, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	if fe := (*failure.Error)(nil); errors.As(err, &fe) && fe.Kind != failure.KindInternal {
		status, msg = fe.Kind.HTTPStatus(), fe.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
