// Package orgapi serves castellan.org.v1.OrganizationService: organizations,
// their domains and metadata, and their members.
//
// Each RPC authenticates the caller (api.Authenticator), checks the
// permission it names on the organization it touches (authz.Caller.Require;
// org.create on the instance for CreateOrganization), and calls package org
// for organizations, domains and metadata, or package authz for members.
// Domain errors pass through unchanged; package api maps them.
//
// A caller without org.read on an organization gets PermissionDenied for it
// whether or not it exists, so organization ids cannot be probed; and
// ListOrganizations shows such a caller only the organizations it may read.
package orgapi
