package api

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/castellan-iam/castellan/internal/failure"
)

// The REST checks: the vanguard transcoder maps REST paths and query
// strings onto request messages, and answers what it cannot map with 500
// (an unknown query parameter, invalid UTF-8 in the path) or with protobuf
// names (`invalid parameter "page_size"`). restEdge finds the route a
// request takes from the same google.api.http annotations and checks the
// request first, naming fields by their JSON names.

// restEdge checks REST requests before the transcoder reads them: the body
// size, the path, the query string and the body's presence, by the route
// the request takes.
type restEdge struct {
	routes     []restRoute
	transcoder http.Handler
}

func (e *restEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > maxMessageBytes {
		writeRESTError(w, http.StatusRequestEntityTooLarge, tooLarge())
		return
	}
	if f := e.check(r); f != nil {
		writeRESTError(w, http.StatusBadRequest, connectError(f))
		return
	}
	r, state := limitBody(w, r)
	e.transcoder.ServeHTTP(&edgeWriter{ResponseWriter: w, state: state, rest: true}, r)
}

// check finds what the transcoder would fail on without naming the field,
// or with a 500: invalid UTF-8 in the path or the query, unknown query
// parameters, query values of the wrong type, a body for a method that
// takes none.
func (e *restEdge) check(r *http.Request) *failure.Error {
	route, vars := e.route(r)
	if route == nil {
		if !utf8.ValidString(r.URL.Path) {
			return failure.InvalidArgument("", "the path must be valid UTF-8 text")
		}
	} else {
		for i, v := range vars {
			if !utf8.ValidString(v) {
				return failure.InvalidArgument(jsonPath(route.vars[i]), "must be valid UTF-8 text")
			}
		}
		if !route.hasBody && r.ContentLength > 0 {
			return failure.InvalidArgument("", "%s %s takes no request body", r.Method, r.URL.Path)
		}
	}
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return failure.InvalidArgument("", "the query string is malformed")
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range query {
			if !yield(k) {
				return
			}
		}
	})
	for _, key := range keys {
		values := query[key]
		if !utf8.ValidString(key) {
			return failure.InvalidArgument("", "query parameter names must be valid UTF-8 text")
		}
		if route == nil {
			for _, v := range values {
				if !utf8.ValidString(v) {
					return failure.InvalidArgument(key, "must be valid UTF-8 text")
				}
			}
			continue
		}
		fields, ok := queryField(route.input, key)
		if !ok {
			return failure.InvalidArgument(key, "unknown query parameter")
		}
		leaf, path := fields[len(fields)-1], jsonPath(fields)
		if len(values) > 1 && !leaf.IsList() {
			return failure.InvalidArgument(path, "is given more than once")
		}
		for _, v := range values {
			if !utf8.ValidString(v) {
				return failure.InvalidArgument(path, "must be valid UTF-8 text")
			}
			if !queryValueOK(leaf, v) {
				return failure.InvalidArgument(path, "%s", expectation(leaf))
			}
		}
	}
	return nil
}

// route returns the one route r takes and the values of its path
// variables, or nil when no route or more than one matches (the transcoder
// then decides alone).
func (e *restEdge) route(r *http.Request) (*restRoute, []string) {
	type match struct {
		route *restRoute
		vars  []string
	}
	var matches []match
	for i := range e.routes {
		if vars, ok := e.routes[i].match(r); ok {
			matches = append(matches, match{&e.routes[i], vars})
		}
	}
	// "/v1/users/u1:lock" also fits "/v1/users/{user_id}"; the custom verb
	// is the better match.
	if slices.ContainsFunc(matches, func(m match) bool { return m.route.verb != "" }) {
		matches = slices.DeleteFunc(matches, func(m match) bool { return m.route.verb == "" })
	}
	if len(matches) != 1 {
		return nil, nil
	}
	return matches[0].route, matches[0].vars
}

// restRoute is one google.api.http binding, as far as the edge checks need
// it. Templates with multi-segment variables ({name=shelves/*}, **) are not
// checked here.
type restRoute struct {
	method   string
	segments []string // a literal, or "" for a variable
	vars     [][]protoreflect.FieldDescriptor
	verb     string
	input    protoreflect.MessageDescriptor
	hasBody  bool
}

// restRoutes returns the routes of svc's methods.
func restRoutes(svc protoreflect.ServiceDescriptor) []restRoute {
	var routes []restRoute
	for m, r := range httpRules(svc) {
		if rt, ok := parseRoute(r, m.Input()); ok {
			routes = append(routes, rt)
		}
	}
	return routes
}

func parseRoute(rule *annotations.HttpRule, input protoreflect.MessageDescriptor) (restRoute, bool) {
	rt := restRoute{input: input, hasBody: rule.GetBody() != ""}
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		rt.method = http.MethodGet
	case *annotations.HttpRule_Put:
		rt.method = http.MethodPut
	case *annotations.HttpRule_Post:
		rt.method = http.MethodPost
	case *annotations.HttpRule_Delete:
		rt.method = http.MethodDelete
	case *annotations.HttpRule_Patch:
		rt.method = http.MethodPatch
	case *annotations.HttpRule_Custom:
		rt.method = p.Custom.GetKind()
	default:
		return rt, false
	}
	parts := strings.Split(strings.TrimPrefix(httpRulePath(rule), "/"), "/")
	last := parts[len(parts)-1]
	if colon := strings.LastIndex(last, ":"); colon > strings.LastIndex(last, "}") {
		rt.verb, parts[len(parts)-1] = last[colon+1:], last[:colon]
	}
	for _, part := range parts {
		if !strings.HasPrefix(part, "{") {
			if part == "" || strings.ContainsAny(part, "*{}") {
				return rt, false
			}
			rt.segments = append(rt.segments, part)
			continue
		}
		name, pattern, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(part, "{"), "}"), "=")
		if pattern != "" && pattern != "*" {
			return rt, false
		}
		var fields []protoreflect.FieldDescriptor
		md := input
		for _, n := range strings.Split(name, ".") {
			if md == nil {
				return rt, false
			}
			fd := md.Fields().ByName(protoreflect.Name(n))
			if fd == nil {
				return rt, false
			}
			fields, md = append(fields, fd), fd.Message()
		}
		rt.segments = append(rt.segments, "")
		rt.vars = append(rt.vars, fields)
	}
	return rt, true
}

// match reports whether r takes rt, with the unescaped values of its path
// variables.
func (rt *restRoute) match(r *http.Request) ([]string, bool) {
	if r.Method != rt.method {
		return nil, false
	}
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/")
	if rt.verb != "" {
		var ok bool
		if path, ok = strings.CutSuffix(path, ":"+rt.verb); !ok {
			return nil, false
		}
	}
	parts := strings.Split(path, "/")
	if len(parts) != len(rt.segments) {
		return nil, false
	}
	var vars []string
	for i, part := range parts {
		v, err := url.PathUnescape(part)
		if err != nil {
			return nil, false
		}
		if rt.segments[i] == "" {
			vars = append(vars, v)
		} else if v != rt.segments[i] {
			return nil, false
		}
	}
	return vars, true
}

// queryField resolves a query parameter ("pageSize", "page_size",
// "filter.name") to its fields, as the transcoder does: by JSON or proto
// name, through singular messages, to a field that a query can set.
func queryField(md protoreflect.MessageDescriptor, key string) ([]protoreflect.FieldDescriptor, bool) {
	var fields []protoreflect.FieldDescriptor
	for _, name := range strings.Split(key, ".") {
		if md == nil {
			return nil, false
		}
		fd := md.Fields().ByJSONName(name)
		if fd == nil {
			fd = md.Fields().ByTextName(name)
		}
		if fd == nil || fd.IsMap() || (fd.IsList() && fd.Message() != nil) {
			return nil, false
		}
		fields = append(fields, fd)
		md = nil
		if isPlainMessage(fd) {
			md = fd.Message()
		}
	}
	leaf := fields[len(fields)-1]
	return fields, leaf.Message() == nil || !isPlainMessage(leaf)
}

// queryValueOK reports whether the transcoder can read v as a value of fd.
func queryValueOK(fd protoreflect.FieldDescriptor, v string) bool {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return true
	case protoreflect.BoolKind:
		return v == "true" || v == "false"
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		_, err := strconv.ParseInt(v, 10, 32)
		return err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		_, err := strconv.ParseInt(v, 10, 64)
		return err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		_, err := strconv.ParseUint(v, 10, 32)
		return err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		_, err := strconv.ParseUint(v, 10, 64)
		return err == nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		_, err := strconv.ParseFloat(v, 64)
		return err == nil || v == "NaN" || v == "Infinity" || v == "-Infinity"
	case protoreflect.BytesKind:
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if _, err := enc.DecodeString(v); err == nil {
				return true
			}
		}
		return false
	case protoreflect.EnumKind:
		if _, err := strconv.ParseInt(v, 10, 32); err == nil {
			return true
		}
		return fd.Enum().Values().ByName(protoreflect.Name(v)) != nil
	case protoreflect.MessageKind:
		if inner := fd.Message().Fields().ByName("value"); inner != nil && strings.HasSuffix(string(fd.Message().FullName()), "Value") {
			return queryValueOK(inner, v) // a wrapper
		}
		msg := newMessage(fd.Message())
		return protojson.Unmarshal([]byte(strconv.Quote(v)), msg) == nil || protojson.Unmarshal([]byte(v), msg) == nil
	}
	return false
}

// jsonPath names fields by their JSON names, as in errors about a body.
func jsonPath(fields []protoreflect.FieldDescriptor) string {
	var path string
	for _, fd := range fields {
		path = joinPath(path, fd.JSONName())
	}
	return path
}

// writeRESTError answers a REST request with ce as the transcoder would:
// a google.rpc.Status in JSON.
func writeRESTError(w http.ResponseWriter, code int, ce *connect.Error) {
	st := &status.Status{Code: int32(ce.Code()), Message: ce.Message()}
	for _, d := range ce.Details() {
		st.Details = append(st.Details, &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type(), Value: d.Bytes()})
	}
	body, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(st)
	if err != nil {
		body = []byte(`{"code":13,"message":"internal error","details":[]}`)
		code = http.StatusInternalServerError
	}
	for k, v := range ce.Meta() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}
