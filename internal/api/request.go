package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/castellan-iam/castellan/internal/failure"
)

// This file holds what every request passes before a service sees it: the
// body limit (413), the checks of REST paths and query strings that the
// transcoder would otherwise answer with 500, and the refusal of U+0000 in
// any string.

// textInterceptor refuses a request message with U+0000 (NUL) in any of its
// strings — a field, a list element, a map key or value, a key or string of
// a google.protobuf.Struct, at any depth. PostgreSQL cannot store NUL in
// TEXT (it fails the statement, which would surface as an internal error)
// and no identifier, name or trait needs it, so both backends refuse it
// alike, here, naming the field.
type textInterceptor struct{}

func (textInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if msg, ok := req.Any().(proto.Message); ok {
			if f := findNUL(msg.ProtoReflect(), ""); f != nil {
				return nil, f
			}
		}
		return next(ctx, req)
	}
}

func (textInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (textInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return next(ctx, textCheckedConn{conn})
	}
}

// textCheckedConn applies textInterceptor's check to each message received
// on a stream.
type textCheckedConn struct{ connect.StreamingHandlerConn }

func (c textCheckedConn) Receive(m any) error {
	if err := c.StreamingHandlerConn.Receive(m); err != nil {
		return err
	}
	if msg, ok := m.(proto.Message); ok {
		if f := findNUL(msg.ProtoReflect(), ""); f != nil {
			return connectError(f)
		}
	}
	return nil
}

const nulMessage = "must not contain the character U+0000 (NUL)"

// findNUL returns an InvalidArgument naming the first string of m that
// contains NUL, by its JSON path; the contents of a google.protobuf.Struct
// are named by a JSON pointer after the field ("traits/profile/name"), as
// trait errors are.
func findNUL(m protoreflect.Message, path string) *failure.Error {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Struct":
		var found *failure.Error
		fields := m.Descriptor().Fields().ByName("fields")
		m.Get(fields).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			if strings.IndexByte(k.String(), 0) >= 0 {
				found = failure.InvalidArgument(path, "has a key that %s", nulMessage)
			} else {
				found = findNUL(v.Message(), path+"/"+escapePointer(k.String()))
			}
			return found == nil
		})
		return found
	case "google.protobuf.ListValue":
		values := m.Get(m.Descriptor().Fields().ByName("values")).List()
		for i := range values.Len() {
			if f := findNUL(values.Get(i).Message(), path+"/"+strconv.Itoa(i)); f != nil {
				return f
			}
		}
		return nil
	case "google.protobuf.Value":
		var found *failure.Error
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			found = nulInValue(fd, v, path)
			return found == nil
		})
		return found
	}
	var found *failure.Error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := joinPath(path, fd.JSONName())
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapKey().Kind() == protoreflect.StringKind && strings.IndexByte(k.String(), 0) >= 0 {
					found = failure.InvalidArgument(p, "has a key that %s", nulMessage)
				} else {
					found = nulInValue(fd.MapValue(), mv, p+"["+strconv.Quote(k.String())+"]")
				}
				return found == nil
			})
		case fd.IsList():
			list := v.List()
			for i := 0; i < list.Len() && found == nil; i++ {
				found = nulInValue(fd, list.Get(i), fmt.Sprintf("%s[%d]", p, i))
			}
		default:
			found = nulInValue(fd, v, p)
		}
		return found == nil
	})
	return found
}

func nulInValue(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) *failure.Error {
	switch fd.Kind() {
	case protoreflect.StringKind:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return failure.InvalidArgument(path, nulMessage)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return findNUL(v.Message(), path)
	}
	return nil
}

// escapePointer escapes a JSON pointer token (RFC 6901 section 3).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// tooLarge is the error of a request body over maxMessageBytes.
func tooLarge() *connect.Error {
	return connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("the request body is larger than the limit of %d bytes", maxMessageBytes))
}

// bodySlack is how far past maxMessageBytes a body is read before the
// connection is given up: connect-go reads on after its limit to report the
// size and keep the connection; this stops a client that sends gigabytes.
const bodySlack = 64 << 10

// requestState is what the edge learns about one request while it runs.
type requestState struct {
	read    atomic.Int64 // body bytes read
	reached atomic.Bool  // the Connect handler got the request
	// answered is set when the Connect handler writes its response;
	// refused when an error was written before that, by the transcoder.
	answered, refused atomic.Bool
}

func (s *requestState) overLimit() bool { return s.read.Load() > maxMessageBytes }

type requestStateKey struct{}

// countingBody counts what the handlers read of a body.
type countingBody struct {
	io.ReadCloser
	state *requestState
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.state.read.Add(int64(n))
	return n, err
}

// limitBody bounds r's body and counts it into a new requestState, which the
// request's context carries.
func limitBody(w http.ResponseWriter, r *http.Request) (*http.Request, *requestState) {
	state := new(requestState)
	r = r.WithContext(context.WithValue(r.Context(), requestStateKey{}, state))
	r.Body = countingBody{http.MaxBytesReader(w, r.Body, maxMessageBytes+bodySlack), state}
	return r, state
}

// markReached sits between the transcoder and a Connect handler. It records
// that the request reached the handler and when the handler answers, for
// edgeWriter; and it keeps a refused request from the service. The
// transcoder calls the handler before it has decoded the REST body; when the
// body then fails to decode, it answers the caller with the error but ends
// the handler's body early as if it were empty — which connect-go would
// decode as an empty request message and pass to the service.
func markReached(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		state, ok := r.Context().Value(requestStateKey{}).(*requestState)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		state.reached.Store(true)
		r.Body = refusableBody{r.Body, state}
		h.ServeHTTP(answerWriter{w, state}, r)
	})
}

var errRefused = errors.New("the request was refused before it was read")

// refusableBody ends in errRefused rather than io.EOF when the transcoder
// refused the request.
type refusableBody struct {
	io.ReadCloser
	state *requestState
}

func (b refusableBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && b.state.refused.Load() {
		return n, errRefused
	}
	return n, err
}

// answerWriter marks its requestState answered at the handler's first write.
type answerWriter struct {
	http.ResponseWriter
	state *requestState
}

func (w answerWriter) WriteHeader(code int) {
	w.state.answered.Store(true)
	w.ResponseWriter.WriteHeader(code)
}

func (w answerWriter) Write(b []byte) (int, error) {
	w.state.answered.Store(true)
	return w.ResponseWriter.Write(b)
}

func (w answerWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// edgeWriter corrects two answers of connect-go and vanguard on their way
// out:
//
//   - A body over the limit is "resource exhausted" to both, which they
//     answer 429 Too Many Requests; it is 413 Content Too Large (RFC 9110
//     section 15.5.14). Rate limits keep 429.
//   - On REST, a server error (5xx) of the transcoder itself, before the
//     request reached a service, comes from a request it could not map onto
//     the method (the REST checks catch the known cases first); the caller
//     gets 400 instead of 500 with the transcoder's internals.
type edgeWriter struct {
	http.ResponseWriter
	state    *requestState
	rest     bool
	wrote    bool
	replaced bool
}

func (w *edgeWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code >= 400 && !w.state.answered.Load() {
		w.state.refused.Store(true)
	}
	switch {
	case code == http.StatusTooManyRequests && w.state.overLimit() && w.rest:
		w.replaced = true
		writeRESTError(w.ResponseWriter, http.StatusRequestEntityTooLarge, tooLarge())
		return
	case code == http.StatusTooManyRequests && w.state.overLimit():
		code = http.StatusRequestEntityTooLarge
	case w.rest && code >= 500 && !w.state.reached.Load():
		w.replaced = true
		writeRESTError(w.ResponseWriter, http.StatusBadRequest,
			connectError(failure.InvalidArgument("", "the request does not match the method's path, query or body")))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *edgeWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets vanguard and server streams through; vanguard requires it.
func (w *edgeWriter) Flush() {
	if w.replaced {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *edgeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// connectEdge bounds the body of Connect requests. gRPC and gRPC-Web frame
// each message with its length, which connect-go checks before reading, and
// answer "resource exhausted" in their own status, so they pass untouched.
func connectEdge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			next.ServeHTTP(w, r)
			return
		}
		r, state := limitBody(w, r)
		ew := &edgeWriter{ResponseWriter: w, state: state}
		if r.ContentLength > maxMessageBytes {
			state.read.Store(r.ContentLength) // refused unread
			_ = connect.NewErrorWriter().Write(ew, r, tooLarge())
			return
		}
		next.ServeHTTP(ew, r)
	})
}
