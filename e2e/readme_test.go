package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlock returns the shell block of README.md between the HTML comments
// <!-- name… --> and <!-- /name -->.
func readmeBlock(t *testing.T, name string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "<!-- "+name)
	if !ok {
		t.Fatalf("README.md has no <!-- %s --> marker", name)
	}
	section, _, ok := strings.Cut(after, "<!-- /"+name+" -->")
	if !ok {
		t.Fatalf("README.md does not close <!-- %s --> with <!-- /%s -->", name, name)
	}
	_, code, ok := strings.Cut(section, "```sh\n")
	if !ok {
		t.Fatalf("no ```sh block after <!-- %s -->", name)
	}
	code, _, ok = strings.Cut(code, "```")
	if !ok {
		t.Fatalf("the block after <!-- %s --> does not end", name)
	}
	return code
}

// The README's first session, pasted into bash as one block, works on a
// fresh data directory: the server is ready before the token is created, and
// every step succeeds. The block runs as written except for its port
// (8080 becomes a free one, also through CASTELLAN_LISTEN and CASTELLAN_URL)
// and its first line, which builds the binary this test already built.
func TestCLIReadmeFirstSession(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the README's session needs curl")
	}
	script := readmeBlock(t, "first-session")
	const build = "go build -o castellan ./cmd/castellan"
	if !strings.HasPrefix(script, build) {
		t.Fatalf("the session no longer starts with %q:\n%s", build, script)
	}
	script = "cp '" + binary + "' castellan" + strings.TrimPrefix(script, build)
	port := freePort(t)
	script = strings.ReplaceAll(script, "localhost:8080", fmt.Sprintf("localhost:%d", port))

	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), fmt.Sprintf("CASTELLAN_LISTEN=127.0.0.1:%d", port), fmt.Sprintf("CASTELLAN_URL=http://localhost:%d", port))
	// Files, not pipes: the server started in the background keeps running
	// after bash exits and would hold a pipe open. Its process group is
	// stopped at the end.
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	runErr := cmd.Wait()
	out, _ := os.ReadFile(stdout.Name())
	errs, _ := os.ReadFile(stderr.Name())
	if runErr != nil {
		t.Fatalf("bash: %v\nstdout:\n%s\nstderr:\n%s", runErr, out, errs)
	}
	for _, want := range []string{"Castellan created its first instance", "Password:", "PRIMARY DOMAIN", `"loginName":"grace"`, `"family_name":"Hopper"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the session printed no %q\nstdout:\n%s\nstderr:\n%s", want, out, errs)
		}
	}
	if strings.Contains(string(out), "no token") || strings.Contains(string(errs), "castellan: ") {
		t.Errorf("a step failed\nstdout:\n%s\nstderr:\n%s", out, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "castellan-data", "castellan.db")); err != nil {
		t.Errorf("the server kept no data in the session's directory: %v", err)
	}
}
