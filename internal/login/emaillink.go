package login

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Sign-in links ("magic links"), where the login settings allow them
// (settings.Login.MagicLinkAllowed, per instance with an organization's
// override). The password page offers "Email me a sign-in link" when the
// settings of the login's organization (the one whose verified domain
// ends the login name, else the instance) allow links. Asking for one
// always answers the same, in the same time (paced like recovery, by
// its own pacer): "if
// this account can sign in by email, we sent a link". A link goes only to
// an active person whose email address is verified and whose own
// organization allows links, at most selfServicePerAccount per
// selfServiceWindow per account here and credential.Policy.CodeSends per
// CodeWindow in its history, and asking counts against the client
// address's self-service limit. The link (credential.SendEmailLink: 256
// random bits, only the hash stored, valid 15 minutes, once) is the
// instance's issuer URL with /ui/login/link?user=…&token=…, mailed in the
// user's language and branding (mail.SignInLink).
//
// Opening the link does not sign in: it shows a button that posts the
// token (with the page's CSRF token). So a mail scanner that fetches
// links spends nothing, and a link opened in another browser signs that
// browser in only when its user confirms. The post makes a session with
// the user and the link as its checks (session.FactorEmailLink, amr "otp"
// and "email"); the login then asks for a second factor when the settings
// require one, as after a password — an email code is not one then, the
// link having proven the same mailbox.

// linkData is the data of the link page (link.html).
type linkData struct {
	UserID, Token string
}

const linkPath = "/ui/login/link"

func (s *selfService) linkRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /ui/login/link/send": http.HandlerFunc(s.postSendLink),
		"GET " + linkPath:          http.HandlerFunc(s.linkPage),
		"POST " + linkPath:         http.HandlerFunc(s.postLink),
	}
}

// linksOffered reports whether the settings of orgID ("" the instance)
// allow sign-in links and the server can send them.
func (h *Handler) linksOffered(ctx context.Context, instanceID, orgID string) bool {
	if h.d.Mail == nil {
		return false
	}
	sett, err := settings.Effective(ctx, h.d.DB, instanceID, orgID)
	return err == nil && sett.Login.MagicLinkAllowed
}

// linkRecipient is the user a sign-in link for the login name goes to,
// and whether there is one: an active person with a verified email
// address, whose organization allows links.
func (h *Handler) linkRecipient(ctx context.Context, instanceID, loginName, orgID string) (user.User, bool, error) {
	u, err := user.FindByLoginName(ctx, h.d.DB, instanceID, loginName, orgID)
	if failure.Is(err, failure.KindNotFound) {
		return user.User{}, false, nil
	}
	if err != nil {
		return user.User{}, false, err
	}
	if u.State != user.StateActive || u.Email == "" || !u.EmailVerified {
		return user.User{}, false, nil
	}
	if machine, err := user.IsMachine(ctx, h.d.DB, u); err != nil || machine {
		return user.User{}, false, err
	}
	return u, h.linksOffered(ctx, instanceID, u.OrgID), nil
}

func (s *selfService) postSendLink(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	_, sess, err := s.h.current(r)
	if err != nil || sess.Status.Authenticated || sess.LoginName == "" {
		s.h.ended(w, r)
		return
	}
	v := view{Title: "Sign in", LoginName: sess.LoginName, EmailLink: true}
	if !s.h.form(w, r, "password", v) {
		return
	}
	ctx, inst := r.Context(), instanceID(r)
	if !s.h.linksOffered(ctx, inst, sess.LoginOrgID) {
		v.Error = "Sign-in links are not available here."
		s.h.render(w, r, http.StatusForbidden, "password", v)
		return
	}
	if !s.perAddress.Allow(client(r).Address) {
		v.Error = "Too many attempts. Wait a moment and try again."
		s.h.render(w, r, http.StatusTooManyRequests, "password", v)
		return
	}
	u, known, err := s.h.linkRecipient(ctx, inst, sess.LoginName, sess.LoginOrgID)
	if err != nil {
		s.h.failed(w, r, "password", v, err, "Something went wrong. Please try again.")
		return
	}
	if known && s.perAccount.Allow(inst+"/link/"+u.ID) {
		base := s.h.issuer(ctx, inst)
		agg := eventstore.Aggregate{InstanceID: inst, Type: user.AggregateType, ID: u.ID, Owner: u.OrgID}
		s.later("sign-in link", func(ctx context.Context) error {
			return s.h.d.Users.Credentials().SendEmailLink(ctx, agg, func(ctx context.Context, token string) error {
				link := base + linkPath + "?" + url.Values{"user": {u.ID}, "token": {token}}.Encode()
				return s.h.d.Mail(ctx, mail.Recipient{InstanceID: inst, UserID: u.ID, OrgID: u.OrgID, To: u.Email},
					mail.Message{Kind: mail.SignInLink, Data: mail.Data{LoginName: u.LoginName, Link: link}})
			})
		})
	}
	s.linkPace.Answer(ctx, start, known)
	s.h.render(w, r, http.StatusOK, "message", view{Title: "Check your email",
		Notice: "If this account can sign in by email, we sent a sign-in link to its email address. It works once, within 15 minutes."})
}

// issuer is the base URL of the instance's links.
func (h *Handler) issuer(ctx context.Context, instanceID string) string {
	inst, err := instance.ByID(ctx, h.d.DB, instanceID)
	if err != nil {
		cur, _ := instance.FromContext(ctx)
		inst = cur
	}
	return inst.Issuer(h.d.ExternalURL)
}

// linkOf reads a link's user and token from the query or the form, and
// whether the user's settings allow links; "" for a malformed one.
func (h *Handler) linkOf(r *http.Request, values url.Values) (linkData, bool) {
	d := linkData{UserID: values.Get("user"), Token: values.Get("token")}
	if d.UserID == "" || len(d.UserID) > 64 || d.Token == "" || len(d.Token) > 128 {
		return linkData{}, false
	}
	u, err := user.Get(r.Context(), h.d.DB, instanceID(r), d.UserID, userschema.Admin)
	return d, err == nil && h.linksOffered(r.Context(), instanceID(r), u.OrgID)
}

func (h *Handler) linkRefused(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusForbidden, "message", view{Title: "Sign in", Notice: "This sign-in link is not valid. Ask for a new one."})
}

func (s *selfService) linkPage(w http.ResponseWriter, r *http.Request) {
	d, ok := s.h.linkOf(r, r.URL.Query())
	if !ok {
		s.h.linkRefused(w, r)
		return
	}
	s.h.render(w, r, http.StatusOK, "link", view{Title: "Sign in", Page: &d})
}

func (s *selfService) postLink(w http.ResponseWriter, r *http.Request) {
	v := view{Title: "Sign in", Page: &linkData{}}
	if !s.h.form(w, r, "link", v) {
		return
	}
	d, ok := s.h.linkOf(r, r.PostForm)
	if !ok {
		s.h.linkRefused(w, r)
		return
	}
	token := strings.TrimSpace(d.Token)
	sess, tok, _, err := s.h.d.Sessions.Create(r.Context(), instanceID(r), client(r),
		session.Checks{User: &session.UserCheck{UserID: d.UserID}, EmailLink: &token}, session.Challenges{})
	if err != nil {
		if failure.Is(err, failure.KindUnauthenticated) {
			s.h.linkRefused(w, r)
			return
		}
		s.h.failed(w, r, "message", view{Title: "Sign in"}, err, "Something went wrong. Please try again.")
		return
	}
	keepSessions(w, r, withFirst(sessionsOf(r), held{ID: sess.ID, Token: tok}))
	s.h.proceed(w, r, sess)
}

// linkOffered reports whether the password page of s offers a sign-in
// link.
func (h *Handler) linkOffered(r *http.Request, s session.Session) bool {
	return !s.Status.Authenticated && slices.Contains(s.Status.Next, string(session.FactorPassword)) &&
		h.linksOffered(r.Context(), instanceID(r), s.LoginOrgID)
}
