// Package usertypeapi serves castellan.usertype.v1.UserTypeService: it
// authenticates the caller, checks schema.read or schema.write on the
// instance (user types belong to no organization), and translates between
// the wire messages and package usertype.
//
// Schemas and traits travel as google.protobuf.Struct and are handed to the
// domain as the JSON protojson writes for them; the domain compiles and
// compacts them, and its errors pass through unchanged, so a mistake in a
// schema comes back as InvalidArgument naming its JSON pointer in the
// schema. The claims, SAML attributes, unique fields and authenticators of a
// type are read from its compiled latest revision (package userschema).
//
// Every RPC that takes a user_type_id also takes the type's name there: the
// id is tried first, then the name.
package usertypeapi
