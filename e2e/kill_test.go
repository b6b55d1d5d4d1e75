package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
)

// Every organization the server acknowledged creating is still there after
// the server is killed with SIGKILL in the middle of writing, and the
// server starts again on the same data.
func TestAcknowledgedWritesSurviveKillingTheServer(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		token, _, err := castellan(t, b.env, "tokens", "create", "admin")
		if err != nil {
			t.Fatal(err)
		}
		token = strings.TrimSpace(token)
		c := orgv1connect.NewOrganizationServiceClient(http.DefaultClient, p.url)
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		acked := map[string]string{} // id -> name
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					name := fmt.Sprintf("org-%d-%d", w, i)
					resp, err := c.CreateOrganization(ctx, authed(token, &orgv1.CreateOrganizationRequest{Name: name}))
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					acked[resp.Msg.GetOrganizationId()] = name
					mu.Unlock()
				}
			})
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 100 || time.Now().After(deadline) {
				break
			}
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-p.done
		p.done <- nil
		cancel()
		wg.Wait()
		if len(acked) < 20 {
			t.Fatalf("only %d organizations were acknowledged before the kill", len(acked))
		}

		again := start(t, b.env)
		c = orgv1connect.NewOrganizationServiceClient(http.DefaultClient, again.url)
		for id, name := range acked {
			resp, err := c.GetOrganization(context.Background(), authed(token, &orgv1.GetOrganizationRequest{OrganizationId: id}))
			if err != nil || resp.Msg.GetOrganization().GetName() != name {
				t.Fatalf("acknowledged organization %s (%s) after the kill: %v %v", id, name, resp, connect.CodeOf(err))
			}
		}
		t.Logf("%d acknowledged organizations survived", len(acked))
	})
}
