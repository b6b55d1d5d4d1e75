package sessionapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/session"
)

// Admission is what a storm of sign-ins meets first. While the password
// hasher's queue is full (session.Commands.PasswordChecksFull), a session
// creation or update whose checks hold a password is refused here, as
// the service would refuse it (503, Retry-After, the connection closed),
// before the transcoder, Connect and the service decode it: a refusal
// then allocates a few hundred bytes instead of about 12 KB, which in a
// storm of 1,000 is the difference between the server's heap growing by
// 11 MB and by 3 MB (docs/benchmarks.md). While the queue has room it
// only passes requests on; the service reserves the place, and refuses
// what arrived between the two.
//
// It reads the body only when the queue is full, at most the API's
// message limit (a longer body is passed on whole, for the API to refuse),
// and looks for the password check alone: in JSON (REST, and Connect
// with application/json) the checks.password member; in binary protobuf
// (Connect with application/proto) field 2 of the checks field (1 in
// CreateSessionRequest, 3 in SetSessionRequest). Anything it cannot read
// so — a compressed body, gRPC, input that is not JSON or protobuf — is
// passed on, and the service answers it as before. A body the service
// would refuse for another reason (an unknown field beside the password
// check, say) is answered 503 while the queue is full; retried, it gets
// its 400.
type Admission struct {
	sessions *session.Commands
	next     http.Handler
}

// NewAdmission returns the Admission in front of next, the API's handler.
func NewAdmission(sessions *session.Commands, next http.Handler) *Admission {
	return &Admission{sessions: sessions, next: next}
}

// Patterns are the routes an Admission stands in front of, for the
// server's mux: more specific than the API's own, so that they reach it
// first.
func (a *Admission) Patterns() []string {
	return []string{
		"POST /v1/sessions",
		"PATCH /v1/sessions/{session_id}",
		"POST /castellan.session.v1.SessionService/CreateSession",
		"POST /castellan.session.v1.SessionService/SetSession",
	}
}

func (a *Admission) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !a.sessions.PasswordChecksFull() || r.Header.Get("Content-Encoding") != "" || r.Header.Get("Connect-Content-Encoding") != "" ||
		!readable(r.Header.Get("Content-Type")) {
		a.next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, api.MaxMessageBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || len(body) > api.MaxMessageBytes || !hasPasswordCheck(r.Header.Get("Content-Type"), r.URL.Path, body) {
		a.next.ServeHTTP(w, r)
		return
	}
	ctx, done, err := a.sessions.Reserve(r.Context(), session.Checks{Password: new(string)})
	if err != nil {
		api.WriteError(w, r, err)
		return
	}
	defer done() // the service's Reserve takes this place
	a.next.ServeHTTP(w, r.WithContext(ctx))
}

// mediaType is contentType without its parameters.
func mediaType(contentType string) string {
	t, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(t)
}

// readable reports whether hasPasswordCheck reads bodies of contentType.
func readable(contentType string) bool {
	switch mediaType(contentType) {
	case "application/proto", "application/json", "":
		return true
	}
	return false
}

// hasPasswordCheck reports whether body, of contentType on path, holds a
// password check; false when it cannot tell.
func hasPasswordCheck(contentType, path string, body []byte) bool {
	switch mediaType(contentType) {
	case "application/proto":
		checks := protowire.Number(1)
		if strings.HasSuffix(path, "/SetSession") {
			checks = 3
		}
		return protoField(body, checks, func(m []byte) bool { return protoField(m, 2, nil) })
	case "application/json", "":
		// Keys as written: encoding/json's struct fields would also match
		// "Checks" or "PASSWORD", which the service's decoder refuses.
		var top, checks map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil || json.Unmarshal(top["checks"], &checks) != nil {
			return false
		}
		pw, ok := checks["password"]
		return ok && string(pw) != "null"
	}
	return false
}

// protoField reports whether the message b has the length-delimited field
// n (and, when inner is set, one whose bytes inner accepts); false when b
// does not parse.
func protoField(b []byte, n protowire.Number, inner func([]byte) bool) bool {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return false
		}
		b = b[l:]
		if num == n && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return false
			}
			if inner == nil || inner(v) {
				return true
			}
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return false
		}
		b = b[l:]
	}
	return false
}
