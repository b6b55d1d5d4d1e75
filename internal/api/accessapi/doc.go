// Package accessapi serves castellan.access.v1.AccessService: the roles and
// access settings of projects, project grants (a project's roles
// delegated to another organization) and authorizations (which user holds
// which roles of a project), over package project.
//
// Who may do what. Roles and settings are the project's: project.read to
// read, project.write to change, on the project (an organization's roles
// hold on its projects). Grants are changed with project.grant.write on
// the project. The organization a project was granted to reads the grant
// — the project's name and the granted roles — with project.read on the
// grant (its administrators hold it there), and nothing else of the
// owner. Authorizations are administered on the project for its owner's
// users and on the grant for the granted organization's users
// (authorization.read, authorization.write): the project's owner does not
// see or change who in a granted organization holds what.
//
// Nothing a caller may not read can be probed: a project, grant or
// authorization it may not read is NotFound with the message of one that
// does not exist, and listings leave out what it may not read.
package accessapi
