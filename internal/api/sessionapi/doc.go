// Package sessionapi serves the Session API (castellan.session.v1): it
// authenticates the caller, checks its permission, translates the request
// and calls package session, which decides everything else.
//
// The client address recorded with each check is the connection's peer;
// behind a reverse proxy that is the proxy's address until trusted proxies
// can be configured.
package sessionapi
