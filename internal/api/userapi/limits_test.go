package userapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/api/apitest"
)

// TestVerificationCodesPerAddress: one client cannot have codes mailed to
// many users without limit; per user, the domain limits the sends.
func TestVerificationCodesPerAddress(t *testing.T) {
	env, _ := startWithOrgs(t)
	c := client(env)
	sentOK := 0
	var last error
	for u := 0; u < 10 && last == nil; u++ {
		id := createUser(t, env, env.OrgID, "human", fmt.Sprintf("recipient-%d", u))
		for range 5 {
			_, last = c.SendVerificationCode(ctx, as(env.AdminToken, &userv1.SendVerificationCodeRequest{UserId: id, Channel: "email"}))
			if last != nil {
				break
			}
			sentOK++
		}
	}
	wantCode(t, last, connect.CodeResourceExhausted)
	if sentOK != 30 {
		t.Fatalf("%d codes sent before the limit, want 30", sentOK)
	}

	// Over REST the limit is 429 Too Many Requests.
	id := createUser(t, env, env.OrgID, "human", "rest-recipient")
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/v1/users/"+id+"/contact/email:sendCode", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", apitest.Bearer(env.AdminToken))
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("REST status %s", resp.Status)
	}
}
