package client_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/instanceapi"
	"github.com/castellan-iam/castellan/internal/api/orgapi"
	"github.com/castellan-iam/castellan/internal/api/system"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/api/usertypeapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/org"
)

// server is a real API (every service, on the real server with instance
// resolution) that the examples, which have no *testing.T, call.
var server *apitest.Env

func TestMain(m *testing.M) {
	t := &mainTB{}
	code := func() int {
		defer t.cleanup()
		server = apitest.Start(t, services)
		return m.Run()
	}()
	os.Exit(code)
}

// services are the services castellan start serves.
func services(a *app.App, auth *authn.Authenticator) []api.Service {
	return []api.Service{
		system.New("test"),
		userapi.NewService(a.Store, a.UserCommands(), auth, a.Keys, a.SendCode),
		usertypeapi.NewService(a.Store, auth),
		orgapi.NewService(a.Store, org.NewVerifier(), auth),
		instanceapi.NewService(a.Store, auth, a.Tokens().Keys()),
	}
}

// mainTB is the testing.TB that apitest.Start needs, for TestMain: it
// implements only the methods Start calls and panics on a failure.
type mainTB struct {
	testing.TB // nil: any other method panics
	cleanups   []func()
}

func (t *mainTB) Helper()                      {}
func (t *mainTB) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (t *mainTB) Fatal(args ...any)            { panic(fmt.Sprint(args...)) }
func (t *mainTB) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func (t *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "castellan-client-test")
	if err != nil {
		panic(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *mainTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
