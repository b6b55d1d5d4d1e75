package api

import (
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"github.com/klauspost/compress/gzip"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/castellan-iam/castellan/gen/openapi"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/server"
)

// maxMessageBytes bounds a request message, in every protocol, so a client
// cannot make the server buffer an arbitrarily large body. A REST or Connect
// body over it is answered 413; gRPC and gRPC-Web report resource_exhausted
// in their own status.
const maxMessageBytes = 4 << 20

// MaxMessageBytes is the limit of a request message, for handlers in
// front of the API that read a body (sessionapi.Admission).
const MaxMessageBytes = maxMessageBytes

// openAPIPath is where the OpenAPI document is served.
const openAPIPath = "/openapi.json"

// Service is one RPC service to serve. Handler returns the generated Connect
// handler bound to the service's implementation, with opts passed on, and the
// path it serves:
//
//	func (s *Service) Handler(opts ...connect.HandlerOption) (string, http.Handler) {
//		return systemv1connect.NewSystemServiceHandler(s, opts...)
//	}
type Service interface {
	Handler(opts ...connect.HandlerOption) (path string, h http.Handler)
}

// Handler serves a set of services in all four protocols, and the OpenAPI
// document.
type Handler struct {
	mux      *http.ServeMux
	patterns []string
}

// minCompressBytes is the size under which responses go uncompressed.
const minCompressBytes = 1024

// NewHandler returns a Handler for services. Internal errors of the services
// are logged to log. It fails when a service's schema is not registered (its
// generated package is not linked in) or its HTTP annotations are invalid.
//
// gRPC, gRPC-Web and Connect requests, on the service's path, go straight to
// its Connect handler, which speaks all three. REST requests, on the paths of
// the google.api.http annotations, go to the vanguard transcoder, which calls
// the same handler. (Vanguard alone would also route the RPC protocols, but it
// takes a Connect POST without a Connect-Protocol-Version header for REST and
// answers 404, while connect-go accepts it.)
//
// Before a service runs, every request passes the edge of request.go: the
// body limit, the REST path and query checks, the strict codecs of codec.go
// (an unknown JSON field is an error) and the refusal of U+0000 in strings.
// Each failure is a failure.InvalidArgument naming the field by its JSON
// name, mapped to the caller's protocol by connectError like the services'
// own errors.
func NewHandler(log *slog.Logger, services ...Service) (*Handler, error) {
	opts := []connect.HandlerOption{
		// The error interceptor is outermost, so that it maps the text
		// check's error too.
		connect.WithInterceptors(errorInterceptor{log: log}, textInterceptor{}),
		connect.WithReadMaxBytes(maxMessageBytes),
		connect.WithCodec(jsonCodec{name: "json"}),
		connect.WithCodec(jsonCodec{name: "json; charset=utf-8"}),
		connect.WithCodec(protoCodec{}),
		// Responses a client accepts gzipped are compressed at gzip's
		// fastest level: a search page of 50 users took a tenth of its
		// API time to compress at the default level, for a few percent
		// fewer bytes than the fastest (docs/benchmarks.md). The
		// compressor is klauspost/compress's gzip, whose fastest level is
		// about twice as fast as the standard library's for the same
		// format; requests are read with the standard library's.
		connect.WithCompression("gzip",
			func() connect.Decompressor { return &stdgzip.Reader{} },
			func() connect.Compressor {
				w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
				return w
			}),
		// Below about a packet gzip saves no round trip, and costs a
		// deflate block's fixed work on both sides (7% of the CPU of an
		// exact login name lookup through the API, docs/benchmarks.md).
		connect.WithCompressMinBytes(minCompressBytes),
	}
	h := &Handler{mux: http.NewServeMux()}
	h.handle("GET "+openAPIPath, http.HandlerFunc(serveOpenAPI))
	var (
		vservices    []*vanguard.Service
		restPrefixes []string
		routes       []restRoute
	)
	for _, svc := range services {
		path, handler := svc.Handler(opts...)
		desc, err := serviceDescriptor(path)
		if err != nil {
			return nil, err
		}
		prefixes, err := restPatterns(desc)
		if err != nil {
			return nil, err
		}
		if slices.Contains(h.patterns, path) {
			return nil, fmt.Errorf("api: service %s given twice", desc.FullName())
		}
		h.handle(path, connectEdge(handler))
		if len(prefixes) > 0 {
			vservices = append(vservices, vanguard.NewServiceWithSchema(desc, markReached(handler)))
			restPrefixes = append(restPrefixes, prefixes...)
			routes = append(routes, restRoutes(desc)...)
		}
	}
	if len(vservices) > 0 {
		transcoder, err := vanguard.NewTranscoder(vservices,
			// Proto towards the services, so that the transcoder decodes
			// every REST body itself, with restCodec, rather than pass some
			// through to connect-go.
			// Nor compressed on the way: the hop to the service is in
			// process, and gzip there cost a compressor per response in
			// flight (a storm of sign-ins held hundreds) and CPU twice.
			vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(maxMessageBytes), vanguard.WithTargetCodecs(vanguard.CodecProto),
				vanguard.WithNoTargetCompression()),
			vanguard.WithCodec(newRESTCodec),
			vanguard.WithUnknownHandler(http.HandlerFunc(notFound)),
		)
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		rest := &restEdge{routes: routes, transcoder: transcoder}
		slices.Sort(restPrefixes)
		for _, p := range slices.Compact(restPrefixes) {
			h.handle(p, rest)
		}
	}
	slices.Sort(h.patterns)
	return h, nil
}

func (h *Handler) handle(pattern string, handler http.Handler) {
	h.mux.Handle(pattern, handler)
	h.patterns = append(h.patterns, pattern)
}

// Patterns are the http.ServeMux patterns h answers, each to be registered
// with h on the server: the OpenAPI document, one path prefix per service for
// gRPC, gRPC-Web and Connect ("/castellan.system.v1.SystemService/"), and
// the first segment of each REST path ("/v1/").
func (h *Handler) Patterns() []string { return slices.Clone(h.patterns) }

// ServeHTTP serves a request for one of h's patterns.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func serviceDescriptor(path string) (protoreflect.ServiceDescriptor, error) {
	name := strings.Trim(path, "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
	if err != nil {
		return nil, fmt.Errorf("api: service at %q: %w", path, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("api: %q names a %T, not a service", path, d)
	}
	return sd, nil
}

// restPatterns returns a ServeMux pattern for the first segment of each
// google.api.http path of svc's methods: "/v1/" for "/v1/users/{user_id}".
// The transcoder then routes the full path.
func restPatterns(svc protoreflect.ServiceDescriptor) ([]string, error) {
	var patterns []string
	for m, r := range httpRules(svc) {
		p, err := firstSegmentPattern(httpRulePath(r))
		if err != nil {
			return nil, fmt.Errorf("api: %s: %w", m.FullName(), err)
		}
		patterns = append(patterns, p)
	}
	return patterns, nil
}

// httpRules yields each google.api.http binding of svc's methods, the
// additional bindings included.
func httpRules(svc protoreflect.ServiceDescriptor) iter.Seq2[protoreflect.MethodDescriptor, *annotations.HttpRule] {
	return func(yield func(protoreflect.MethodDescriptor, *annotations.HttpRule) bool) {
		methods := svc.Methods()
		for i := range methods.Len() {
			m := methods.Get(i)
			rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
			if rule == nil {
				continue
			}
			for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				if !yield(m, r) {
					return
				}
			}
		}
	}
}

func httpRulePath(r *annotations.HttpRule) string {
	switch p := r.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		return p.Get
	case *annotations.HttpRule_Put:
		return p.Put
	case *annotations.HttpRule_Post:
		return p.Post
	case *annotations.HttpRule_Delete:
		return p.Delete
	case *annotations.HttpRule_Patch:
		return p.Patch
	case *annotations.HttpRule_Custom:
		return p.Custom.GetPath()
	}
	return ""
}

func firstSegmentPattern(path string) (string, error) {
	first, _, nested := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !strings.HasPrefix(path, "/") || first == "" || strings.ContainsAny(first, "{}*:") || !nested {
		return "", fmt.Errorf("REST path %q must start with a literal segment and go on after it (as /v1/users does)", path)
	}
	return "/" + first + "/", nil
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapi.JSON)
}

// notFound answers a path under one of the handler's prefixes that no method
// serves, like the server's own unmatched routes.
func notFound(w http.ResponseWriter, r *http.Request) {
	server.WriteError(w, r, failure.NotFound("no route for %s %s", r.Method, r.URL.Path))
}

// MethodPatterns are the http.ServeMux patterns on which the API serves
// the method m: its path for gRPC, gRPC-Web and Connect, and each REST
// binding of its google.api.http annotation whose path template a
// ServeMux pattern expresses ({field} segments; a binding with
// {field=…}, {nested.field}, * or a :verb is left out). For handlers in front of the API
// that must see a method's requests (sessionapi.Admission): the
// annotations stay the one place that says where a method is served.
func MethodPatterns(m protoreflect.MethodDescriptor) []string {
	svc := m.Parent().(protoreflect.ServiceDescriptor)
	patterns := []string{"POST /" + string(svc.FullName()) + "/" + string(m.Name())}
	for method, r := range httpRules(svc) {
		path := httpRulePath(r)
		if method.FullName() != m.FullName() || !muxExpresses(path) {
			continue
		}
		if rt, ok := parseRoute(r, m.Input()); ok {
			patterns = append(patterns, rt.method+" "+path)
		}
	}
	return patterns
}

// muxExpresses reports whether the path template is also an http.ServeMux
// pattern: literal segments and {field} wildcards named like identifiers.
func muxExpresses(path string) bool {
	if strings.ContainsAny(path, "*:=") {
		return false
	}
	for part := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		if name, ok := strings.CutPrefix(part, "{"); ok && strings.Contains(name, ".") {
			return false
		}
	}
	return true
}
