package login

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/castellan-iam/castellan/internal/session"
)

// The second-factor page completes a session that proved its user with a
// first factor but lacks a second one it now needs — after the user added
// its first second factor on the authenticators page, typically — with a
// code, and returns to the account. It adds a check to the session and
// nothing else, so it is open to a session that is not (yet)
// authenticated. A passkey needs the login's own passkey page, where the
// page sends the browser when nothing else would do.

// stepUp is the code form of the page.
type stepUp struct {
	Next   string
	Factor string
	Label  string
	// Send: the code is sent by email or SMS, on request.
	Send    bool
	Numeric bool
	Others  []link
}

// stepUpView is the page for factor (the first code factor next lists
// when factor is none of them); ok is false when next lists none.
func (h *Handler) stepUpView(me signedIn, factor, next string) (view, bool) {
	var factors []string
	for _, f := range me.session.Status.Next {
		if _, ok := codeFactors[f]; ok {
			factors = append(factors, f)
		}
	}
	v, p := h.accountView(me, "second-factor", "Confirm with a second factor")
	if len(factors) == 0 {
		return v, false
	}
	if !slices.Contains(factors, factor) {
		factor = factors[0]
	}
	f := codeFactors[factor]
	step := &stepUp{Next: accountNext(next), Factor: factor, Label: f.label, Numeric: f.numeric, Send: f.challenge.OTPEmail || f.challenge.OTPSMS}
	for _, o := range factors {
		if o != factor {
			step.Others = append(step.Others, link{Href: "/ui/account/second-factor?factor=" + url.QueryEscape(o) + "&next=" + url.QueryEscape(step.Next), Label: codeFactors[o].label})
		}
	}
	p.Step = step
	return v, true
}

// stepping is the session the page works on; done is whether it needs
// the page no more, and the browser was sent on.
func (h *Handler) stepping(w http.ResponseWriter, r *http.Request, next string) (me signedIn, done bool) {
	me, ok := h.proven(w, r)
	if !ok {
		return signedIn{}, true
	}
	if me.session.Status.Authenticated {
		http.Redirect(w, r, accountNext(next), http.StatusSeeOther)
		return signedIn{}, true
	}
	if !secondFactorsOnly(me.session.Status.Next) {
		http.Redirect(w, r, "/ui/login/", http.StatusSeeOther)
		return signedIn{}, true
	}
	return me, false
}

func (h *Handler) renderStepUp(w http.ResponseWriter, r *http.Request, me signedIn, status int, factor, next, notice, errMsg string) {
	v, ok := h.stepUpView(me, factor, next)
	if !ok {
		// Only a passkey would do: the login's passkey page asks for one
		// (and ends on the login's own page).
		if slices.Contains(me.session.Status.Next, string(session.FactorWebAuthn)) {
			http.Redirect(w, r, passkeyPath, http.StatusSeeOther)
			return
		}
		h.render(w, r, http.StatusOK, "message", view{Title: "Sign in", Notice: "Sign in again to continue."})
		return
	}
	v.Notice, v.Error = notice, errMsg
	h.render(w, r, status, "account_second_factor", v)
}

func (h *Handler) secondFactorPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	me, done := h.stepping(w, r, q.Get("next"))
	if done {
		return
	}
	h.renderStepUp(w, r, me, http.StatusOK, q.Get("factor"), q.Get("next"), "", "")
}

// postSendSecondFactor sends a sign-in code by email or SMS.
func (h *Handler) postSendSecondFactor(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "message", view{Title: "Your account"}) {
		return
	}
	me, done := h.stepping(w, r, r.PostFormValue("next"))
	if done {
		return
	}
	factor, next := r.PostFormValue("factor"), r.PostFormValue("next")
	f, ok := codeFactors[factor]
	if !ok || !slices.Contains(me.session.Status.Next, factor) || !(f.challenge.OTPEmail || f.challenge.OTPSMS) {
		h.renderStepUp(w, r, me, http.StatusBadRequest, factor, next, "", "Something went wrong. Please try again.")
		return
	}
	if _, _, err := h.d.Sessions.Update(r.Context(), instanceID(r), me.held.ID, me.held.Token, client(r), session.Checks{}, f.challenge); err != nil {
		v, _ := h.stepUpView(me, factor, next)
		h.failed(w, r, "account_second_factor", v, err, "Something went wrong. Please try again.")
		return
	}
	h.renderStepUp(w, r, me, http.StatusOK, factor, next, f.notice, "")
}

func (h *Handler) postSecondFactor(w http.ResponseWriter, r *http.Request) {
	if !h.form(w, r, "message", view{Title: "Your account"}) {
		return
	}
	me, done := h.stepping(w, r, r.PostFormValue("next"))
	if done {
		return
	}
	factor, next, code := r.PostFormValue("factor"), r.PostFormValue("next"), r.PostFormValue("code")
	if _, ok := codeFactors[factor]; !ok || !slices.Contains(me.session.Status.Next, factor) {
		h.renderStepUp(w, r, me, http.StatusBadRequest, factor, next, "", "Something went wrong. Please try again.")
		return
	}
	if code == "" {
		h.renderStepUp(w, r, me, http.StatusBadRequest, factor, next, "", "Enter the code.")
		return
	}
	var checks session.Checks
	switch session.Factor(factor) {
	case session.FactorTOTP:
		checks.TOTP = &code
	case session.FactorRecoveryCode:
		checks.RecoveryCode = &code
	case session.FactorOTPEmail:
		checks.OTPEmail = &code
	case session.FactorOTPSMS:
		checks.OTPSMS = &code
	}
	s, _, err := h.d.Sessions.Update(r.Context(), instanceID(r), me.held.ID, me.held.Token, client(r), checks, session.Challenges{})
	if err != nil {
		v, _ := h.stepUpView(me, factor, next)
		h.failed(w, r, "account_second_factor", v, err, "The code is wrong.")
		return
	}
	if !s.Status.Authenticated {
		http.Redirect(w, r, "/ui/login/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, accountNext(next), http.StatusSeeOther)
}
