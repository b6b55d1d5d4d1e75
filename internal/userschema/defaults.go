package userschema

import _ "embed"

// The ids of the default schemas.
const (
	HumanID   = "human"
	MachineID = "machine"
)

// Human is the default schema of people: a profile (given, family, nick and
// display name, preferred language, gender, avatar URL) feeding the OIDC
// standard claims, writable by the user and by administrators. Email and phone
// are contact data, kept outside the traits. Callers must not modify it.
//
//go:embed human.json
var Human []byte

// Machine is the default schema of service accounts: a required name and a
// description, readable by the machine and written by administrators. Callers
// must not modify it.
//
//go:embed machine.json
var Machine []byte
