package login

import (
	"net/http"

	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

// The profile page edits the traits the user's schema lets the user
// write (userschema.Self), as a form generated from the latest revision
// of its type (traitForm), saved as a merge patch with the user's own
// role: what UpdateMyUser allows, no more. Fields the user may not write
// are not inputs, and posted values of other names are ignored.

// profileForm is the form of the user's writable traits, as the user has
// them.
func (h *Handler) profileForm(r *http.Request, me signedIn) (*traitForm, error) {
	t, err := usertype.Get(r.Context(), h.d.DB, me.user.InstanceID, me.user.SchemaID)
	if err != nil {
		return nil, err
	}
	schema, err := t.Schema()
	if err != nil {
		return nil, err
	}
	f := newTraitForm(schema, userschema.Self, me.user.Traits)
	return &f, nil
}

func (h *Handler) profilePage(w http.ResponseWriter, r *http.Request) {
	me, ok := h.signedIn(w, r)
	if !ok {
		return
	}
	v, p := h.accountView(me, "profile", "Profile")
	var err error
	if p.Profile, err = h.profileForm(r, me); err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	if r.URL.Query().Get("saved") == "1" {
		v.Notice = "Your profile is saved."
	}
	h.render(w, r, http.StatusOK, "account_profile", v)
}

func (h *Handler) postProfile(w http.ResponseWriter, r *http.Request) {
	me, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	v, p := h.accountView(me, "profile", "Profile")
	f, err := h.profileForm(r, me)
	if err != nil {
		h.failed(w, r, "message", view{Title: "Your account"}, err, "Something went wrong. Please try again.")
		return
	}
	p.Profile = f
	if len(f.Fields) == 0 {
		http.Redirect(w, r, "/ui/account/profile", http.StatusSeeOther)
		return
	}
	patch, err := f.readPatch(r)
	if err == nil {
		err = h.d.Users.Update(r.Context(), me.editor(), me.user.InstanceID, me.user.ID, userschema.Self, user.Patch{Traits: patch})
	}
	if err != nil {
		if f.show(err) {
			v.Error = "Check the marked fields."
			h.render(w, r, http.StatusBadRequest, "account_profile", v)
			return
		}
		h.failed(w, r, "account_profile", v, err, "Check the marked fields.")
		return
	}
	http.Redirect(w, r, "/ui/account/profile?saved=1", http.StatusSeeOther)
}
