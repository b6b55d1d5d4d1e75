package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"

	"github.com/castellan-iam/castellan/gen/castellan/access/v1/accessv1connect"
	"github.com/castellan-iam/castellan/gen/castellan/event/v1/eventv1connect"
	"github.com/castellan-iam/castellan/gen/castellan/instance/v1/instancev1connect"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	"github.com/castellan-iam/castellan/gen/castellan/project/v1/projectv1connect"
	"github.com/castellan-iam/castellan/gen/castellan/system/v1/systemv1connect"
	"github.com/castellan-iam/castellan/gen/castellan/trustset/v1/trustsetv1connect"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
	"github.com/castellan-iam/castellan/gen/castellan/usertype/v1/usertypev1connect"
)

// Client calls the API of one Castellan instance. Its fields are the
// generated Connect clients of the services; they are safe for concurrent
// use.
type Client struct {
	// System answers which instance is being called and the server's
	// version; it needs no credential.
	System systemv1connect.SystemServiceClient
	// Instance manages the instance's administrators.
	Instance instancev1connect.InstanceServiceClient
	// Organizations manages organizations, their domains, metadata and
	// members.
	Organizations orgv1connect.OrganizationServiceClient
	// Users manages user accounts, and the caller's own (GetMyUser, …).
	Users userv1connect.UserServiceClient
	// UserTypes manages the JSON Schemas of user types.
	UserTypes usertypev1connect.UserTypeServiceClient
	// Projects manages projects and their applications (OAuth clients).
	Projects projectv1connect.ProjectServiceClient
	// Access manages project roles, project grants, authorizations and
	// groups.
	Access accessv1connect.AccessServiceClient
	// Events reads the audit trail and objects as they were.
	Events eventv1connect.EventServiceClient
	// TrustSets manages the instance's trust sets: the CA certificates
	// and CRLs TLS client certificates are verified against (RFC 8705).
	TrustSets trustsetv1connect.TrustSetServiceClient

	baseURL string
	host    string
}

// Protocol is the wire protocol a Client speaks.
type Protocol int

const (
	// ProtocolConnect is the Connect protocol over HTTP/1.1 or HTTP/2, the
	// default.
	ProtocolConnect Protocol = iota
	// ProtocolGRPC is gRPC. It needs HTTP/2: over TLS, or cleartext HTTP/2
	// (h2c) for an http:// base URL, which the default HTTP client speaks.
	ProtocolGRPC
	// ProtocolGRPCWeb is gRPC-Web, over HTTP/1.1 or HTTP/2.
	ProtocolGRPCWeb
)

func (p Protocol) String() string {
	switch p {
	case ProtocolConnect:
		return "connect"
	case ProtocolGRPC:
		return "grpc"
	case ProtocolGRPCWeb:
		return "grpcweb"
	default:
		return fmt.Sprintf("Protocol(%d)", int(p))
	}
}

// An Option configures a Client.
type Option func(*options)

type options struct {
	token      func(context.Context) (string, error)
	host       string
	protocol   Protocol
	httpClient *http.Client
	connect    []connect.ClientOption
}

// WithToken authenticates every request with token as a bearer token (the
// Authorization header), such as a personal access token.
func WithToken(token string) Option {
	return WithTokenFunc(func(context.Context) (string, error) { return token, nil })
}

// WithTokenFunc authenticates every request with the bearer token token
// returns at the time of the request, for credentials that expire and are
// renewed. An error from token fails the request with code unauthenticated
// before it is sent; an empty token sends the request without credential.
func WithTokenFunc(token func(ctx context.Context) (string, error)) Option {
	return func(o *options) { o.token = token }
}

// WithHost sends host (a domain, optionally with a port) as the requests'
// Host instead of the host of the base URL; an empty host changes nothing.
// The server serves the instance that has host as a domain; use it when the
// base URL reaches the server by another name or address.
func WithHost(host string) Option {
	return func(o *options) { o.host = host }
}

// WithProtocol chooses the wire protocol; the default is [ProtocolConnect].
func WithProtocol(p Protocol) Option {
	return func(o *options) { o.protocol = p }
}

// WithHTTPClient sends requests through hc instead of a default client
// (which has no overall timeout: bound calls with their context). The client
// is not modified; for [ProtocolGRPC] over an http:// base URL its transport
// must speak cleartext HTTP/2.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.httpClient = hc }
}

// WithClientOptions adds Connect client options, such as interceptors,
// compression or read limits, to every service client. Interceptors given
// here run inside the Client's own (which sets the credential).
func WithClientOptions(opts ...connect.ClientOption) Option {
	return func(o *options) { o.connect = append(o.connect, opts...) }
}

// New returns a Client for the API at baseURL, an absolute http or https URL
// of the server (https://login.example.com); a path prefix is kept, a
// trailing slash removed.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: the base URL must be an absolute http or https URL without query or fragment, got %q", baseURL)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if strings.ContainsAny(o.host, "/ \t\r\n") {
		return nil, fmt.Errorf("client: the host must be a domain, optionally with a port, got %q", o.host)
	}
	connectOpts := []connect.ClientOption{connect.WithInterceptors(credential{token: o.token})}
	switch o.protocol {
	case ProtocolConnect:
	case ProtocolGRPC:
		connectOpts = append(connectOpts, connect.WithGRPC())
	case ProtocolGRPCWeb:
		connectOpts = append(connectOpts, connect.WithGRPCWeb())
	default:
		return nil, fmt.Errorf("client: unknown protocol %v", o.protocol)
	}
	connectOpts = append(connectOpts, o.connect...)

	hc := o.httpClient
	if hc == nil {
		hc = defaultHTTPClient(o.protocol)
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	wrapped := *hc // the caller's client stays as it is
	wrapped.Transport = &transport{next: next, host: o.host}

	base := strings.TrimRight(u.String(), "/")
	c := &Client{
		System:        systemv1connect.NewSystemServiceClient(&wrapped, base, connectOpts...),
		Instance:      instancev1connect.NewInstanceServiceClient(&wrapped, base, connectOpts...),
		Organizations: orgv1connect.NewOrganizationServiceClient(&wrapped, base, connectOpts...),
		Users:         userv1connect.NewUserServiceClient(&wrapped, base, connectOpts...),
		UserTypes:     usertypev1connect.NewUserTypeServiceClient(&wrapped, base, connectOpts...),
		Projects:      projectv1connect.NewProjectServiceClient(&wrapped, base, connectOpts...),
		Access:        accessv1connect.NewAccessServiceClient(&wrapped, base, connectOpts...),
		Events:        eventv1connect.NewEventServiceClient(&wrapped, base, connectOpts...),
		TrustSets:     trustsetv1connect.NewTrustSetServiceClient(&wrapped, base, connectOpts...),
		baseURL:       base,
		host:          o.host,
	}
	if c.host == "" {
		c.host = u.Host
	}
	return c, nil
}

// BaseURL returns the base URL requests go to, without a trailing slash.
func (c *Client) BaseURL() string { return c.baseURL }

// Host returns the host requests ask for: the one of [WithHost], or else
// the host of the base URL.
func (c *Client) Host() string { return c.host }

// defaultHTTPClient speaks HTTP/1.1 and HTTP/2 over TLS; for gRPC, HTTP/2
// only, in cleartext (h2c) for http:// URLs.
func defaultHTTPClient(p Protocol) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if p == ProtocolGRPC {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetHTTP2(true)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: t}
}

// credential is the interceptor that sets the bearer token of every
// request.
type credential struct {
	token func(context.Context) (string, error)
}

func (c credential) authorize(ctx context.Context, h http.Header) error {
	if c.token == nil {
		return nil
	}
	token, err := c.token(ctx)
	if err != nil {
		return connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("client: no token: %w", err))
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return nil
}

func (c credential) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if err := c.authorize(ctx, req.Header()); err != nil {
			return nil, err
		}
		resp, err := next(ctx, req)
		return resp, unwrapTransportError(err)
	}
}

func (c credential) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if err := c.authorize(ctx, conn.RequestHeader()); err != nil {
			return &failedConn{StreamingClientConn: conn, err: err}
		}
		return conn
	}
}

func (credential) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// failedConn is a stream whose credential could not be obtained: it fails
// without sending anything.
type failedConn struct {
	connect.StreamingClientConn
	err error
}

func (f *failedConn) Send(any) error      { return f.err }
func (f *failedConn) Receive(any) error   { return f.err }
func (f *failedConn) CloseRequest() error { return f.err }
