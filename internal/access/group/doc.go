// Package group owns the groups of users of an organization: named sets
// of the organization's users and, nested, of its other groups.
// Authorizations (package project) can be given to a group; its members —
// directly or through nested groups — hold the roles as if each had been
// authorized.
//
// Rules: a group belongs to one organization, and its members are users
// and groups of that organization only; a group holds at most
// MaxMembers direct members; nesting is at most MaxDepth levels and a
// cycle (a group inside itself, however deep) is refused.
//
// Events (aggregate "group", owner its organization): group.added {name},
// group.renamed {name}, group.removed, group.member.added {userId |
// groupId}, group.member.removed {userId | groupId}. Names are unique in
// the organization, case-insensitively.
//
// Read models: groups, group_members (direct), and group_users: every
// user of each group, through nesting, flattened by the projection when
// a membership changes (for the group and its ancestors), so that "is this
// user in a group holding role R of project P" is an indexed read. A
// deleted user leaves every group; a removed organization takes its
// groups.
package group
