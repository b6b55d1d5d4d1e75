package login

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/instance"
	"github.com/castellan-iam/castellan/internal/mail"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/settings"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// Registration and recovery (self-service). The decisions:
//
//   - Registration is per organization: /ui/login/register?organization=ID,
//     allowed when that organization's settings in force say
//     Login.SelfRegistration and allow passwords. Without the parameter it
//     is the instance's only active organization; an instance with several
//     needs the link that names one (the organization publishes it).
//   - The new user is of type "human" (the type every instance has; a
//     registrant cannot pick another type, which an administrator may have
//     made for privileged accounts). The form is generated from the
//     fields its latest revision lets the user write (form.go).
//   - The email address is the login name: then an address that already
//     has an account is the only thing uniqueness could reveal, and it is
//     not revealed. Such a registration answers as any other ("we sent a
//     message"), and the message sent is "you already have an account"
//     instead of a code; no user is created, and the code page refuses
//     every code. The only answers that name a taken value are a trait
//     the schema makes unique and, for organization sign-up, the
//     organization's name.
//   - A registration creates the user (active, its email unverified) and
//     a session with its password, which the browser gets only once the
//     code sent to the address is entered; the pending state lives in a
//     sealed cookie (register_pending.go).
//   - Organization sign-up (/ui/login/register/organization) is allowed
//     when the instance's settings say Login.OrgRegistration: it creates
//     the organization, the user in it, and makes the user its org.owner,
//     then verifies the email address like a registration. Should the
//     user not be created, the organization is removed again.
//   - Messages are sent after the answer (selfService.later), and answers
//     about an account and about nobody are paced alike (pace).

// registerRoutes lists the routes of this part of the login.
func (h *Handler) registerRoutes() map[string]http.Handler {
	s := newSelfService(h)
	f := func(fn func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(fn) }
	routes := s.linkRoutes()
	for p, h := range map[string]http.Handler{
		"GET /ui/login/register":               f(s.registerPage),
		"POST /ui/login/register":              f(s.postRegister),
		"GET /ui/login/register/organization":  f(s.registerPage),
		"POST /ui/login/register/organization": f(s.postRegister),
		"GET /ui/login/register/verify":        f(s.verifyPage),
		"POST /ui/login/register/verify":       f(s.postVerify),
		"POST /ui/login/register/resend":       f(s.postResend),
		"GET /ui/login/recover":                f(s.recoverPage),
		"POST /ui/login/recover":               f(s.postRecover),
		"GET /ui/login/recover/code":           f(s.recoverCodePage),
		"POST /ui/login/recover/code":          f(s.postRecoverCode),
	} {
		routes[p] = h
	}
	return routes
}

// registerType is the user type of registrations; orgOwner the role of
// the user who signs an organization up (authz's catalogue).
const (
	registerType = "human"
	orgOwner     = "org.owner"
)

// registerData is the data of the registration page (register.html).
type registerData struct {
	Action string
	// WithOrg is organization sign-up: the organization's name comes
	// first.
	WithOrg         bool
	OrgName, Email  string
	Form            traitForm
	OrgError        string
	EmailError      string
	PasswordError   string // a catalogue key
	PasswordProblem string // the password policy's own words
}

// registration is what a registration needs to know before its form.
type registration struct {
	orgID  string // "" for organization sign-up
	schema *userschema.Schema
}

// registration resolves the organization, its settings and the user type
// of a registration request, or renders the refusal itself.
func (s *selfService) registration(w http.ResponseWriter, r *http.Request) (registration, bool) {
	ctx, inst := r.Context(), instanceID(r)
	withOrg := strings.HasSuffix(r.URL.Path, "/organization")
	refuse := func(err error) (registration, bool) {
		if err != nil {
			s.h.d.Log.Error("login: registration", "err", err)
			s.h.render(w, r, http.StatusServiceUnavailable, "message", view{Title: "Create an account", Error: "Something went wrong. Please try again."})
			return registration{}, false
		}
		s.h.render(w, r, http.StatusForbidden, "message", view{Title: "Create an account", Notice: "Registration is not open here."})
		return registration{}, false
	}
	var reg registration
	if !withOrg {
		reg.orgID = r.URL.Query().Get("organization")
		if reg.orgID == "" {
			page, err := org.List(ctx, s.h.d.DB, inst, org.ListQuery{State: org.StateActive, PageSize: 2})
			if err != nil {
				return refuse(err)
			}
			if page.TotalSize != 1 {
				return refuse(nil)
			}
			reg.orgID = page.Orgs[0].ID
		}
		if len(reg.orgID) > 64 {
			return refuse(nil)
		}
		switch st, err := org.StateOf(ctx, s.h.d.DB, inst, reg.orgID); {
		case failure.Is(err, failure.KindNotFound):
			return refuse(nil)
		case err != nil:
			return refuse(err)
		case st != org.StateActive:
			return refuse(nil)
		}
	}
	set, err := settings.Effective(ctx, s.h.d.DB, inst, reg.orgID)
	if err != nil {
		return refuse(err)
	}
	open := set.Login.SelfRegistration
	if withOrg {
		open = set.Login.OrgRegistration
	}
	if !open || len(set.Login.AllowedAuthenticators) > 0 && !slices.Contains(set.Login.AllowedAuthenticators, settings.AuthPassword) {
		return refuse(nil)
	}
	t, err := usertype.ByName(ctx, s.h.d.DB, inst, registerType)
	if failure.Is(err, failure.KindNotFound) || err == nil && t.State != usertype.StateActive {
		return refuse(nil)
	}
	if err != nil {
		return refuse(err)
	}
	if reg.schema, err = t.Schema(); err != nil {
		return refuse(err)
	}
	if !slices.Contains(reg.schema.Authenticators(), credential.AuthPassword) {
		return refuse(nil)
	}
	return reg, true
}

func registerView(r *http.Request, reg registration) (view, *registerData) {
	d := &registerData{Action: r.URL.Path, WithOrg: reg.orgID == "", Form: newTraitForm(reg.schema, userschema.Self, nil)}
	if reg.orgID != "" && r.URL.Query().Get("organization") != "" {
		d.Action += "?" + url.Values{"organization": {reg.orgID}}.Encode()
	}
	title := "Create an account"
	if d.WithOrg {
		title = "Register your organization"
	}
	return view{Title: title, Page: d}, d
}

func (s *selfService) registerPage(w http.ResponseWriter, r *http.Request) {
	reg, ok := s.registration(w, r)
	if !ok {
		return
	}
	v, _ := registerView(r, reg)
	s.h.render(w, r, http.StatusOK, "register", v)
}

// validEmail is the shape package user accepts for an email address.
func validEmail(email string) bool {
	local, domain, ok := strings.Cut(email, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".") &&
		!strings.ContainsAny(email, " \t\r\n<>,;\"") && len(email) <= 254
}

func (s *selfService) postRegister(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reg, ok := s.registration(w, r)
	if !ok {
		return
	}
	v, d := registerView(r, reg)
	if !s.h.form(w, r, "register", v) {
		return
	}
	ctx, inst := r.Context(), instanceID(r)
	d.OrgName = strings.TrimSpace(r.PostFormValue("organizationName"))
	d.Email = strings.TrimSpace(r.PostFormValue("email"))
	pw := r.PostFormValue("password")
	traits, err := d.Form.read(r)
	if err != nil {
		s.h.failed(w, r, "register", v, err, "Something went wrong. Please try again.")
		return
	}
	// Everything the form can say about itself, at once.
	bad := false
	if d.WithOrg && (d.OrgName == "" || len(d.OrgName) > 200) {
		d.OrgError, bad = "Enter the name of your organization.", true
	}
	if !validEmail(d.Email) {
		d.EmailError, bad = "Enter a valid email address.", true
	}
	switch {
	case pw == "":
		d.PasswordError, bad = "Enter the password.", true
	case pw != r.PostFormValue("repeat"):
		d.PasswordError, bad = "The passwords differ.", true
	default:
		if err := s.h.d.Users.Credentials().CheckNewPassword(ctx, inst, reg.orgID, pw); err != nil {
			var fe *failure.Error
			if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument {
				s.h.failed(w, r, "register", v, err, "Something went wrong. Please try again.")
				return
			}
			d.PasswordProblem, bad = fe.Message, true
		}
	}
	if err := reg.schema.Validate(traits); err != nil {
		if !d.Form.show(err) {
			s.h.failed(w, r, "register", v, err, "Something went wrong. Please try again.")
			return
		}
		bad = true
	}
	if bad {
		v.Error = "Check the marked fields."
		s.h.render(w, r, http.StatusBadRequest, "register", v)
		return
	}
	if !s.perAddress.Allow(client(r).Address) || !s.perAccount.Allow(inst+"/email/"+strings.ToLower(d.Email)) {
		v.Error = "Too many attempts. Wait a moment and try again."
		s.h.render(w, r, http.StatusTooManyRequests, "register", v)
		return
	}

	editor := eventstore.Editor{ClientID: "login"}
	orgID := reg.orgID
	// undo removes an organization signed up by a registration that did
	// not create its user.
	undo := func() {}
	if d.WithOrg {
		if orgID, err = s.h.d.Orgs.Create(ctx, editor, inst, d.OrgName); err != nil {
			if failure.Is(err, failure.KindAlreadyExists) || failure.Is(err, failure.KindInvalidArgument) {
				d.OrgError, v.Error = "This name is taken. Choose another.", "Check the marked fields."
				s.h.render(w, r, http.StatusBadRequest, "register", v)
				return
			}
			s.h.failed(w, r, "register", v, err, "Something went wrong. Please try again.")
			return
		}
		undo = func() {
			if err := s.h.d.Orgs.Remove(context.WithoutCancel(ctx), editor, inst, orgID); err != nil {
				s.h.d.Log.Error("login: remove the organization of a failed sign-up", "org", orgID, "err", err)
			}
		}
	}
	userID, err := s.h.d.Users.Create(ctx, editor, inst, user.New{OrgID: orgID, Type: registerType, LoginName: d.Email, Email: d.Email, Password: pw, Traits: traits})
	var fe *failure.Error
	switch {
	case err == nil:
	case errors.As(err, &fe) && fe.Kind == failure.KindAlreadyExists && fe.Field == "loginName":
		// An account has this address: answer as for a new one, and tell
		// the address's owner instead.
		undo()
		if err := s.h.d.Users.Credentials().EqualizeTiming(ctx, pw); err != nil {
			s.h.d.Log.Warn("login: registration", "err", err)
		}
		p := nobody("register", inst, credential.ChannelEmail, d.Email)
		s.sendAccountExists(r, d.Email)
		s.registerPace.Answer(ctx, start, false)
		s.showVerify(w, r, p)
		return
	case d.Form.show(err):
		undo()
		v.Error = "Check the marked fields."
		s.h.render(w, r, http.StatusBadRequest, "register", v)
		return
	case errors.As(err, &fe) && fe.Kind == failure.KindInvalidArgument && (fe.Field == "loginName" || fe.Field == "email"):
		// The organization's domain policy, or a name the login name
		// rules refuse.
		undo()
		d.EmailError, v.Error = "This email address cannot be used here.", "Check the marked fields."
		s.h.render(w, r, http.StatusBadRequest, "register", v)
		return
	default:
		undo()
		s.h.failed(w, r, "register", v, err, "Something went wrong. Please try again.")
		return
	}
	editor.UserID = userID
	if d.WithOrg {
		if err := s.h.d.Members.AddOrgMember(ctx, editor, inst, orgID, userID, []string{orgOwner}); err != nil {
			if derr := s.h.d.Users.Delete(context.WithoutCancel(ctx), editor, inst, userID); derr != nil {
				s.h.d.Log.Error("login: remove the user of a failed sign-up", "user", userID, "err", derr)
			}
			undo()
			s.h.failed(w, r, "register", v, err, "Something went wrong. Please try again.")
			return
		}
	}
	sess, token, _, err := s.h.d.Sessions.Create(ctx, inst, client(r), session.Checks{User: &session.UserCheck{UserID: userID}, Password: &pw}, session.Challenges{})
	if err != nil {
		s.h.failed(w, r, "register", v, err, "Something went wrong. Please try again.")
		return
	}
	p := pending{Kind: "register", Instance: inst, Known: true, UserID: userID, Channel: credential.ChannelEmail, Email: d.Email,
		Session: held{ID: sess.ID, Token: token}}
	s.sendCode(p)
	s.registerPace.Answer(ctx, start, true)
	s.showVerify(w, r, p)
}

// sendCode sends a code for a pending registration or recovery of an
// account, after the answer; a recovery's says it resets the password.
func (s *selfService) sendCode(p pending) {
	send := s.h.d.SendCode
	if p.Kind == "recover" {
		send = passwordResetCode(send)
	}
	s.later("send a code", func(ctx context.Context) error {
		return s.h.d.Users.SendContactCode(ctx, eventstore.Editor{UserID: p.UserID, ClientID: "login"}, p.Instance, p.UserID, p.Channel, s.h.d.Keys, send)
	})
}

// sendAccountExists tells the owner of an address that registered again
// that it has an account, after the answer.
func (s *selfService) sendAccountExists(r *http.Request, email string) {
	inst, _ := instance.FromContext(r.Context())
	s.later("tell of an existing account", func(ctx context.Context) error {
		if s.h.d.Mail == nil {
			return nil
		}
		return s.h.d.Mail(ctx, mail.Recipient{InstanceID: inst.ID, To: email}, mail.Message{Kind: mail.AccountExists})
	})
}

// verifyData is the data of the code page of a registration
// (register_verify.html).
type verifyData struct{ Email string }

func (s *selfService) showVerify(w http.ResponseWriter, r *http.Request, p pending) {
	if err := s.keepPending(w, r, p); err != nil {
		s.h.failed(w, r, "message", view{Title: "Confirm your email address"}, err, "Something went wrong. Please try again.")
		return
	}
	s.h.render(w, r, http.StatusOK, "register_verify", view{Title: "Confirm your email address", Page: &verifyData{Email: p.Email}})
}

// registrationEnded answers a code page without a pending registration.
func (s *selfService) registrationEnded(w http.ResponseWriter, r *http.Request) {
	dropPending(w, r, "register")
	s.h.render(w, r, http.StatusOK, "message", view{Title: "Confirm your email address", Notice: "Your registration has ended. Please start again."})
}

func (s *selfService) verifyPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pendingOf(r, "register")
	if !ok {
		s.registrationEnded(w, r)
		return
	}
	s.h.render(w, r, http.StatusOK, "register_verify", view{Title: "Confirm your email address", Page: &verifyData{Email: p.Email}})
}

func (s *selfService) postVerify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, ok := s.pendingOf(r, "register")
	if !ok {
		s.registrationEnded(w, r)
		return
	}
	v := view{Title: "Confirm your email address", Page: &verifyData{Email: p.Email}}
	if !s.h.form(w, r, "register_verify", v) {
		return
	}
	code := strings.TrimSpace(r.PostFormValue("code"))
	if code == "" || len(code) > 64 {
		v.Error = "Enter the code."
		s.h.render(w, r, http.StatusBadRequest, "register_verify", v)
		return
	}
	if err := s.checkCode(r, p, code); err != nil {
		s.registerPace.Answer(r.Context(), start, p.Known)
		s.codeFailed(w, r, "register_verify", v, err)
		return
	}
	s.registerPace.Answer(r.Context(), start, true)
	dropPending(w, r, "register")
	sess, err := s.h.d.Sessions.Get(r.Context(), p.Instance, p.Session.ID, p.Session.Token)
	if err != nil {
		// The address is verified; the session ended meanwhile.
		s.h.render(w, r, http.StatusOK, "message", view{Title: "Confirm your email address", Notice: "Your email address is confirmed. Please sign in."})
		return
	}
	keepSessions(w, r, withFirst(sessionsOf(r), p.Session))
	s.h.proceed(w, r, sess)
}

// errCodeSpent is the answer once a pending registration or recovery has
// had its wrong codes.
var errCodeSpent = failure.FailedPrecondition("no valid code: start again")

// checkCode checks a code of a pending registration or recovery: the
// account's contact code, or nothing for nobody — which fails like a
// wrong code, and after as many wrong codes as a real code takes, like a
// spent one.
func (s *selfService) checkCode(r *http.Request, p pending, code string) error {
	if !s.wrongCodes.Allow(p.Kind + "/" + p.Instance + "/" + p.UserID) {
		return errCodeSpent
	}
	if !p.Known {
		return failure.InvalidArgument("code", "the code is wrong")
	}
	return s.h.d.Users.VerifyContact(r.Context(), eventstore.Editor{UserID: p.UserID, ClientID: "login"}, p.Instance, p.UserID, p.Channel, code, s.h.d.Keys)
}

// codeFailed renders the answer to a code that did not verify.
func (s *selfService) codeFailed(w http.ResponseWriter, r *http.Request, page string, v view, err error) {
	switch {
	case failure.Is(err, failure.KindInvalidArgument):
		v.Error = "The code is wrong."
		s.h.render(w, r, http.StatusBadRequest, page, v)
	case failure.Is(err, failure.KindFailedPrecondition):
		v.Error = "The code is no longer valid. Ask for a new one."
		s.h.render(w, r, http.StatusBadRequest, page, v)
	default:
		s.h.failed(w, r, page, v, err, "The code is wrong.")
	}
}

// postResend sends the code of a pending registration again (or, for an
// address that has an account, the message saying so).
func (s *selfService) postResend(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pendingOf(r, "register")
	if !ok {
		s.registrationEnded(w, r)
		return
	}
	v := view{Title: "Confirm your email address", Page: &verifyData{Email: p.Email}}
	if !s.h.form(w, r, "register_verify", v) {
		return
	}
	if !s.perAddress.Allow(client(r).Address) || !s.perAccount.Allow(p.Instance+"/email/"+strings.ToLower(p.Email)) {
		v.Error = "Too many attempts. Wait a moment and try again."
		s.h.render(w, r, http.StatusTooManyRequests, "register_verify", v)
		return
	}
	if p.Known {
		s.sendCode(p)
	} else {
		s.sendAccountExists(r, p.Email)
	}
	v.Notice = "We sent a new message."
	s.h.render(w, r, http.StatusOK, "register_verify", v)
}
