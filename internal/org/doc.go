// Package org owns organizations: the part of an instance that owns users,
// projects, identity providers and policies.
//
// Events: org.added. Read model: orgs, kept inline. Organization names are
// unique per instance, compared case-insensitively.
package org
