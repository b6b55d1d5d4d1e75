// Package projectapi serves castellan.project.v1.ProjectService: projects
// and their applications and client secrets (package oauth/client).
//
// Every RPC authenticates the caller and checks project.read or
// project.write on the project's organization (an instance role covers
// them all). A project or application the caller may not read is
// NotFound, like one that does not exist, so that ids cannot be probed.
// A client secret is in the response that made it and nowhere else.
package projectapi
