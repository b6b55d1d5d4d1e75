// Package api serves Castellan's RPC services, defined in proto/ and generated
// into gen/, on the server's one HTTP port in four protocols: gRPC, gRPC-Web,
// Connect, and REST/JSON on the resource paths of each method's
// google.api.http annotation. It also serves the generated OpenAPI document
// at GET /openapi.json.
//
// A request flows
//
//	HTTP ─▶ server.Server ─▶ Handler ─┬─ /v1/… (REST/JSON) ─▶ vanguard transcoder ─┐
//	                                  │                       (JSON ⇄ Connect)       ▼
//	                                  └─ /castellan.<pkg>.<Service>/… ──────▶ connect handler ─▶ service ─▶ domain
//	                                     (gRPC, gRPC-Web, Connect)           (generated, with
//	                                                                          the error interceptor)
//
// The Connect handlers speak gRPC, gRPC-Web and Connect themselves; vanguard
// (connectrpc.com/vanguard) turns a REST request into a Connect call by the
// method's google.api.http rule, and the Connect response back into JSON.
//
// internal/server resolves the instance from the Host header before Handler
// runs, so services read it with instance.FromContext. Service packages (such
// as internal/api/system) translate between wire messages and domain calls and
// nothing else. Adding a service: write its .proto under proto/, run
// `make proto`, implement the generated handler interface in a package here,
// and pass it to NewHandler (docs/api.md).
//
// Errors: services return the domain's *failure.Error values unchanged. An
// interceptor maps them here, once, to a Connect code (connectError); an
// error naming a field carries a google.rpc.BadRequest detail with a
// FieldViolation for it. Connect renders the code in each protocol: a gRPC
// status, a Connect error body, or for REST an HTTP status with a
// google.rpc.Status JSON body. Internal errors reach the caller as
// "internal error"; their detail goes to the log.
//
// Authentication: castellan.system.v1.SystemService needs none. Every other
// service will authenticate the caller with Castellan's own tokens and check
// a named permission in each RPC.
package api
