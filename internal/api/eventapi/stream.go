package eventapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	eventv1 "github.com/castellan-iam/castellan/gen/castellan/event/v1"
	"github.com/castellan-iam/castellan/internal/failure"
)

// Streaming the audit trail to a SIEM (Splunk, Elasticsearch, …):
// GET /v1/events:stream is a server-sent events stream (text/event-stream)
// of the events ListEvents would list — same filters as query parameters
// (organizationId, eventTypes, repeated), same permission, same
// redaction — from the position after (or the Last-Event-ID header a
// reconnecting client sends), then live. Each event is one message: id
// the position, event the type, data the event as ListEvents' JSON. Only
// settled events are sent, so a client that reconnects after the last id
// it saw misses none. New events are noticed at once on the replica that
// wrote them and within streamPoll of another's; a comment line every
// streamHeartbeat keeps proxies from closing an idle stream.
const (
	streamPoll      = time.Second
	streamHeartbeat = 15 * time.Second
	streamBatch     = 500
)

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
		f, err := filterOf(caller, &eventv1.ListEventsRequest{OrganizationId: q.Get("organizationId"), EventTypes: q["eventTypes"], After: after})
		if err != nil {
			streamError(w, err)
			return
		}
		flusher, ok := w.(http.Flusher)
		if !ok {
			streamError(w, failure.FailedPrecondition("this connection cannot stream"))
			return
		}
		f.Limit = streamBatch
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
		w.WriteHeader(http.StatusOK)
		flusher.Flush()
		heartbeat := time.NewTicker(streamHeartbeat)
		defer heartbeat.Stop()
		marshal := protojson.MarshalOptions{}
		for {
			changed := s.store.Changed()
			events, err := s.store.Query(ctx, f)
			if err != nil {
				if ctx.Err() == nil {
					fmt.Fprintf(w, "event: error\ndata: %q\n\n", "the event store failed; reconnect with Last-Event-ID")
					flusher.Flush()
				}
				return
			}
			for _, e := range events {
				out, err := eventOf(e)
				if err != nil {
					return
				}
				b, err := marshal.Marshal(out)
				if err != nil {
					return
				}
				var compact json.RawMessage = b
				if b, err = json.Marshal(compact); err != nil {
					return
				}
				fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", out.GetPosition(), e.Type, b)
				f.After = e.Position
			}
			if len(events) > 0 {
				flusher.Flush()
			}
			if len(events) == streamBatch {
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			case <-time.After(streamPoll):
			case <-heartbeat.C:
				fmt.Fprint(w, ": keep-alive\n\n")
				flusher.Flush()
			}
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
