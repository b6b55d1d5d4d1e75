// Package oauth holds the provider's wire types and error codes, without
// server logic: the JSON of token, introspection and discovery responses,
// and the RFC 6749 errors with the HTTP status each one is answered with.
//
// The domain lives below it: package client (projects, applications and
// their secrets) and package token (signing keys, minting and verifying
// access tokens, revocation). The endpoints that speak HTTP are package op;
// each grant of the token endpoint is a file of package op/grant.
package oauth
