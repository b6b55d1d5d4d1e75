package sessionapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	sessionv1 "github.com/castellan-iam/castellan/gen/castellan/session/v1"
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
// (Connect with application/proto) the same fields by their numbers, taken
// from the messages' descriptors, as the routes are from the methods'
// annotations (Routes). Anything it cannot read
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

// admitted are the methods an Admission stands in front of; each request
// message has a checks field of type Checks.
var admitted = []protoreflect.Name{"CreateSession", "SetSession"}

// Routes are the server's mux patterns of the methods an Admission stands
// in front of (api.MethodPatterns: more specific than the API's own, so
// that their requests reach it first), each with its handler.
func (a *Admission) Routes() map[string]http.Handler {
	svc := sessionv1.File_castellan_session_v1_session_proto.Services().ByName("SessionService")
	routes := map[string]http.Handler{}
	for _, name := range admitted {
		m := svc.Methods().ByName(name)
		checks := m.Input().Fields().ByName("checks")
		password := checks.Message().Fields().ByName("password")
		g := &gate{Admission: a, checks: checks, password: password}
		for _, p := range api.MethodPatterns(m) {
			routes[p] = g
		}
	}
	return routes
}

// gate is an Admission in front of one method, whose request's checks
// field, and that field's password field, it looks for.
type gate struct {
	*Admission
	checks, password protoreflect.FieldDescriptor
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a := g.Admission
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
	if err != nil || len(body) > api.MaxMessageBytes || !g.hasPasswordCheck(r.Header.Get("Content-Type"), body) {
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

// hasPasswordCheck reports whether body, of contentType, holds a password
// check; false when it cannot tell.
func (g *gate) hasPasswordCheck(contentType string, body []byte) bool {
	switch mediaType(contentType) {
	case "application/proto":
		return protoField(body, g.checks.Number(), func(m []byte) bool { return protoField(m, g.password.Number(), nil) })
	case "application/json", "":
		// Keys as written: encoding/json's struct fields would also match
		// "Checks" or "PASSWORD", which the service's decoder refuses. The
		// decoder takes a field's JSON name or its proto name.
		var top, checks map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil || json.Unmarshal(jsonMember(top, g.checks), &checks) != nil {
			return false
		}
		pw := jsonMember(checks, g.password)
		return pw != nil && string(pw) != "null"
	}
	return false
}

// jsonMember is the member of object that is fd, by its JSON name or its proto
// name; nil when there is none.
func jsonMember(object map[string]json.RawMessage, fd protoreflect.FieldDescriptor) json.RawMessage {
	if v, ok := object[fd.JSONName()]; ok {
		return v
	}
	return object[string(fd.Name())]
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
