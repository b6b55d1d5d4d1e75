// Package e2e tests Castellan as its users run it: the castellan binary is
// built once, started as a process with flags and environment variables,
// and exercised over HTTP (HTTP/1.1, h2c and TLS with HTTP/2), signals and
// its CLI — against the embedded SQLite default and against PostgreSQL.
package e2e
