package authreq

import (
	"time"

	"github.com/castellan-iam/castellan/internal/session"
)

// GrantOf is what a signed-in session grants an authorization request:
// its user, and the time and methods of its checks.
func GrantOf(s session.Session) Grant {
	return Grant{SessionID: s.ID, UserID: s.UserID, OrgID: s.OrgID, AuthTime: s.AuthTime(), AMR: s.Status.AMR}
}

// Fresh reports whether a session satisfies the request's max_age.
func Fresh(r Request, s session.Session, now time.Time) bool {
	return r.MaxAge < 0 || now.Sub(s.AuthTime()) <= time.Duration(r.MaxAge)*time.Second
}
