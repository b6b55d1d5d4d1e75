package login_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/user"
)

// knownUser creates an active user with a verified email address.
func (b *browser) knownUser(login, email, pw string) string {
	b.t.Helper()
	id, err := user.NewCommands(b.app.Store, b.app.Hasher).Create(ctx, eventstore.SystemEditor, b.first.InstanceID,
		user.New{OrgID: b.first.OrgID, Type: "human", LoginName: login, Email: email, EmailVerified: true, Password: pw})
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

// Asking to recover a known and an unknown account gives the same page;
// only the known account's address gets a code.
func TestRecoveryLooksAlike(t *testing.T) {
	b, box := startWithMail(t)
	b.knownUser("dora", "dora@example.com", "a good password 1")
	strip := regexp.MustCompile(`nonce="[^"]+"|value="[^"]+"`)
	for _, name := range []string{"dora", "dora@example.com"} {
		status1, path1, known := b.post("/ui/login/recover", "/ui/login/recover", "loginName", name)
		status2, path2, unknown := b.post("/ui/login/recover", "/ui/login/recover", "loginName", "nobody-"+name)
		if status1 != 200 || status1 != status2 || path1 != path2 || strip.ReplaceAllString(known, "") != strip.ReplaceAllString(unknown, "") {
			t.Fatalf("known %s: %d %s\n%s\nunknown: %d %s\n%s", name, status1, path1, known, status2, path2, unknown)
		}
		if !strings.Contains(known, "If this account exists, we sent a code") {
			t.Fatalf("the answer:\n%s", known)
		}
	}
	box.code(t, "dora@example.com", 2)
	// Codes for nobody are wrong, like wrong codes for somebody.
	status, _, page := b.post("/ui/login/recover/code", "/ui/login/recover/code", "code", "123456", "newPassword", "a new password 2", "repeat", "a new password 2")
	if status != 400 || !strings.Contains(page, "The code is wrong.") {
		t.Fatalf("a code for nobody: %d\n%s", status, page)
	}
	if n := len(box.to("nobody-dora@example.com")); n != 0 {
		t.Fatalf("%d messages to nobody", n)
	}
}

// The code sent by email and a new password set the password and sign
// the user in; the old password no longer works.
func TestRecovery(t *testing.T) {
	b, box := startWithMail(t)
	b.knownUser("erin", "erin@example.com", "the old password 1")
	if status, _, page := b.get("/ui/login/recover"); status != 200 || !strings.Contains(page, `name="loginName"`) {
		t.Fatalf("recovery page: %d\n%s", status, page)
	}
	b.post("/ui/login/recover", "/ui/login/recover", "loginName", "erin")
	code := box.code(t, "erin@example.com", 1)
	if mail := box.wait(t, "erin@example.com", 1); !strings.Contains(mail, "Reset your password") || strings.Contains(mail, "verification code") {
		t.Fatalf("the recovery's mail does not say it resets the password:\n%s", mail)
	}
	// A password the policy refuses: its words next to the password.
	status, _, page := b.post("/ui/login/recover/code", "/ui/login/recover/code", "code", code, "newPassword", "short", "repeat", "short")
	if status != 400 || !strings.Contains(page, `id="password-error"`) {
		t.Fatalf("a weak password: %d\n%s", status, page)
	}
	status, path, page := b.post("/ui/login/recover/code", "/ui/login/recover/code", "code", code, "newPassword", "the new password 2", "repeat", "the new password 2")
	if status != 200 || path != "/ui/login/done" || !strings.Contains(page, "You are signed in as erin.") {
		t.Fatalf("recovered: %d %s\n%s", status, path, page)
	}
	users := user.NewCommands(b.app.Store, b.app.Hasher)
	if _, err := users.CheckPassword(ctx, b.first.InstanceID, "erin", "the new password 2"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := users.CheckPassword(ctx, b.first.InstanceID, "erin", "the old password 1"); err == nil {
		t.Fatal("the old password still works")
	}
	// The code is spent.
	b.post("/ui/login/recover", "/ui/login/recover", "loginName", "erin")
	if status, _, _ := b.post("/ui/login/recover/code", "/ui/login/recover/code", "code", code, "newPassword", "a third password 3", "repeat", "a third password 3"); status != 400 {
		t.Fatalf("a used code: %d", status)
	}
	box.code(t, "erin@example.com", 2)
}
