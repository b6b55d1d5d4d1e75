package login

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/castellan-iam/castellan/internal/credential"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/session"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
)

// Recovery of a forgotten password (/ui/login/recover): the person names
// the account by its login name, or by an email address that exactly one
// account has verified. Whatever the name, the answer is the same — "if
// an account exists, we sent a code" — and takes the same time (the code
// is sent after the answer, and answers are paced). The code goes to the
// account's verified email address, or to its verified phone by SMS when
// it has no verified email; an account without either, or not active,
// gets none. The code is the account's contact code (package credential:
// six digits, its lifetime, its wrong-code and send limits), so entering
// it also proves the address once more. With the code comes the new
// password, which must meet the policy; then the person is signed in.

// recoverData is the data of the recovery pages (recover.html,
// recover_code.html).
type recoverData struct {
	LoginName       string
	PasswordError   string // a catalogue key
	PasswordProblem string // the password policy's own words
}

// passwordResetCode sends the contact code of a recovery through send as
// the code of a password reset, whose message says so.
func passwordResetCode(send credential.CodeSender) credential.CodeSender {
	return func(ctx context.Context, c credential.OutgoingCode) error {
		c.Purpose = credential.PurposePasswordReset
		return send(ctx, c)
	}
}

func (s *selfService) recoverPage(w http.ResponseWriter, r *http.Request) {
	s.h.render(w, r, http.StatusOK, "recover", view{Title: "Forgot your password?", Page: &recoverData{}})
}

// account finds the account a recovery names, and the channel its code
// goes to; ok is false for nobody (or an account that cannot recover).
func (s *selfService) account(ctx context.Context, instanceID, name string) (u user.User, channel string, ok bool, err error) {
	searcher := user.NewSearcher(s.h.d.DB, nil)
	page, err := searcher.Find(ctx, instanceID, user.Search{LoginName: name, Limit: 1}, userschema.Admin)
	if err != nil {
		return user.User{}, "", false, err
	}
	if len(page.Users) == 0 && strings.Contains(name, "@") {
		page, err = searcher.Find(ctx, instanceID, user.Search{Email: name, Limit: 2}, userschema.Admin)
		if err != nil {
			return user.User{}, "", false, err
		}
		if len(page.Users) != 1 || !page.Users[0].EmailVerified {
			return user.User{}, "", false, nil
		}
	}
	if len(page.Users) != 1 || page.Users[0].State != user.StateActive {
		return user.User{}, "", false, nil
	}
	u = page.Users[0]
	switch {
	case u.EmailVerified && u.Email != "":
		return u, credential.ChannelEmail, true, nil
	case u.PhoneVerified && u.Phone != "":
		return u, credential.ChannelPhone, true, nil
	}
	return user.User{}, "", false, nil
}

func (s *selfService) postRecover(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	d := &recoverData{}
	v := view{Title: "Forgot your password?", Page: d}
	if !s.h.form(w, r, "recover", v) {
		return
	}
	d.LoginName = strings.TrimSpace(r.PostFormValue("loginName"))
	if d.LoginName == "" || len(d.LoginName) > 256 {
		v.Error = "Enter a login name."
		s.h.render(w, r, http.StatusBadRequest, "recover", v)
		return
	}
	if !s.perAddress.Allow(client(r).Address) {
		v.Error = "Too many attempts. Wait a moment and try again."
		s.h.render(w, r, http.StatusTooManyRequests, "recover", v)
		return
	}
	ctx, inst := r.Context(), instanceID(r)
	u, channel, known, err := s.account(ctx, inst, d.LoginName)
	if err != nil {
		s.h.failed(w, r, "recover", v, err, "Something went wrong. Please try again.")
		return
	}
	p := nobody("recover", inst, credential.ChannelEmail, "")
	// An account asked for too often gets no more codes for a while, and
	// the same answer.
	if known && s.perAccount.Allow(inst+"/user/"+u.ID) {
		p = pending{Kind: "recover", Instance: inst, Known: true, UserID: u.ID, Channel: channel}
		s.sendCode(p)
	}
	s.recoverPace.Answer(ctx, start, known)
	if err := s.keepPending(w, r, p); err != nil {
		s.h.failed(w, r, "recover", v, err, "Something went wrong. Please try again.")
		return
	}
	s.h.render(w, r, http.StatusOK, "recover_code", view{Title: "Choose a new password", Page: &recoverData{},
		Notice: "If this account exists, we sent a code to its email address or phone. Enter it and choose a new password."})
}

// recoveryEnded answers a code page without a pending recovery.
func (s *selfService) recoveryEnded(w http.ResponseWriter, r *http.Request) {
	dropPending(w, r, "recover")
	s.h.render(w, r, http.StatusOK, "recover", view{Title: "Forgot your password?", Page: &recoverData{},
		Notice: "Your recovery has ended. Please start again."})
}

func (s *selfService) recoverCodePage(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.pendingOf(r, "recover"); !ok {
		s.recoveryEnded(w, r)
		return
	}
	s.h.render(w, r, http.StatusOK, "recover_code", view{Title: "Choose a new password", Page: &recoverData{}})
}

func (s *selfService) postRecoverCode(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p, ok := s.pendingOf(r, "recover")
	if !ok {
		s.recoveryEnded(w, r)
		return
	}
	d := &recoverData{}
	v := view{Title: "Choose a new password", Page: d}
	if !s.h.form(w, r, "recover_code", v) {
		return
	}
	ctx := r.Context()
	code := strings.TrimSpace(r.PostFormValue("code"))
	pw := r.PostFormValue("newPassword")
	switch {
	case code == "" || len(code) > 64:
		v.Error = "Enter the code."
	case pw == "":
		d.PasswordError, v.Error = "Enter the password.", "Check the marked fields."
	case pw != r.PostFormValue("repeat"):
		d.PasswordError, v.Error = "The passwords differ.", "Check the marked fields."
	}
	if v.Error != "" {
		s.h.render(w, r, http.StatusBadRequest, "recover_code", v)
		return
	}
	// The policy of the account's organization; of the instance for
	// nobody.
	orgID := ""
	if p.Known {
		u, err := user.Get(ctx, s.h.d.DB, p.Instance, p.UserID, userschema.Admin)
		if err != nil {
			s.recoveryEnded(w, r)
			return
		}
		orgID = u.OrgID
	}
	if err := s.h.d.Users.Credentials().CheckNewPassword(ctx, p.Instance, orgID, pw); err != nil {
		var fe *failure.Error
		if !errors.As(err, &fe) || fe.Kind != failure.KindInvalidArgument {
			s.h.failed(w, r, "recover_code", v, err, "Something went wrong. Please try again.")
			return
		}
		d.PasswordProblem, v.Error = fe.Message, "Check the marked fields."
		s.h.render(w, r, http.StatusBadRequest, "recover_code", v)
		return
	}
	if err := s.checkCode(r, p, code); err != nil {
		s.recoverPace.Answer(ctx, start, p.Known)
		s.codeFailed(w, r, "recover_code", v, err)
		return
	}
	s.recoverPace.Answer(ctx, start, true)
	editor := eventstore.Editor{UserID: p.UserID, ClientID: "login"}
	if err := s.h.d.Users.SetPassword(ctx, editor, p.Instance, p.UserID, pw, false); err != nil {
		s.h.failed(w, r, "recover_code", v, err, "Something went wrong. Please try again.")
		return
	}
	dropPending(w, r, "recover")
	sess, token, _, err := s.h.d.Sessions.Create(ctx, p.Instance, client(r), session.Checks{User: &session.UserCheck{UserID: p.UserID}, Password: &pw}, session.Challenges{})
	if err != nil {
		// A locked account, say: the password is set all the same.
		s.h.d.Log.Info("login: sign-in after recovery", "err", err)
		s.h.render(w, r, http.StatusOK, "message", view{Title: "Choose a new password", Notice: "Your password is changed. Please sign in."})
		return
	}
	keepSessions(w, r, withFirst(sessionsOf(r), held{ID: sess.ID, Token: token}))
	s.h.proceed(w, r, sess)
}
