package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
)

// importBatch is how many users one ImportUsers request carries.
const importBatch = 500

// progress draws a progress bar on a terminal, or prints a line per step
// elsewhere (a log, CI).
type progress struct {
	w        io.Writer
	terminal bool
	total    int
	started  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, started: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) update(done, failed int) {
	rate := float64(done) / max(time.Since(p.started).Seconds(), 0.001)
	const width = 30
	filled := width * done / max(p.total, 1)
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	line := fmt.Sprintf("[%s] %d/%d users, %d failed, %.0f/s", bar, done, p.total, failed, rate)
	if p.terminal {
		fmt.Fprintf(p.w, "\r%s", line)
		if done == p.total {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, line)
}

// importUsers reads users as JSON lines (the fields of ImportedUser in the
// API's JSON form) and imports them in batches.
func importUsers(ctx context.Context, args []string, s streams) error {
	cmd := s.command("users import", "FILE", "Imports users from FILE (- for standard input): one ImportedUser per line, in the API's JSON form,\n"+
		"such as {\"loginName\": \"ada\", \"email\": \"ada@example.com\", \"passwordHash\": \"$2a$10$…\"}. Prints a line per failed user.")
	org := cmd.fs.String("org", "", "organization `ID` of users that name none")
	typ := cmd.fs.String("type", "human", "user `TYPE` of users that name none")
	files, err := cmd.parse(args, 1, 1)
	if err != nil {
		return err
	}
	api, err := cmd.client()
	if err != nil {
		return err
	}
	in := s.stdin
	if name := files[0]; name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	var users []*userv1.ImportedUser
	var lines []int
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		u := &userv1.ImportedUser{}
		if err := protojson.Unmarshal([]byte(text), u); err != nil {
			return fmt.Errorf("users import: line %d: %w", n, err)
		}
		if u.OrganizationId == "" {
			u.OrganizationId = *org
		}
		if u.Type == "" {
			u.Type = *typ
		}
		users = append(users, u)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(users) == 0 {
		return errors.New("users import: no users in the input")
	}
	bar := newProgress(s.stderr, len(users))
	var imported, failed int
	var report []string
	for start := 0; start < len(users); start += importBatch {
		end := min(start+importBatch, len(users))
		resp, err := api.Users.ImportUsers(ctx, connect.NewRequest(&userv1.ImportUsersRequest{Users: users[start:end]}))
		if err != nil {
			return fmt.Errorf("users import: after %d users: %w", start, err)
		}
		imported += int(resp.Msg.GetImported())
		for _, f := range resp.Msg.GetFailures() {
			failed++
			report = append(report, fmt.Sprintf("line %d (%s): %s: %s", lines[start+int(f.GetIndex())], f.GetLoginName(), f.GetField(), f.GetMessage()))
		}
		bar.update(end, failed)
	}
	for _, r := range report {
		fmt.Fprintln(s.stderr, r)
	}
	fmt.Fprintf(s.stdout, "imported %d users, %d failed\n", imported, failed)
	if failed > 0 {
		return fmt.Errorf("%d users were not imported", failed)
	}
	return nil
}
