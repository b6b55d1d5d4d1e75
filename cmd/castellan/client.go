package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/castellan-iam/castellan/client"
	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
)

// The API client commands (castellan users …, orgs …, user-types …, me)
// call a running Castellan through its public API with the Go SDK (package
// client), like any other integration: the server is --url or CASTELLAN_URL
// (default http://localhost:8080), the instance the one serving --host or
// CASTELLAN_HOST (default the URL's host), and the caller is authenticated
// by the personal access token in CASTELLAN_TOKEN. Every command parses
// its arguments before it needs the token, so --help and mistakes are
// answered without one.

const (
	defaultURL   = "http://localhost:8080"
	apiCallsHelp = `Calls the API at --url or CASTELLAN_URL (default ` + defaultURL + `) with the personal
access token in CASTELLAN_TOKEN (from "castellan tokens create LOGIN_NAME" on the server).
`
)

// streams are a command's standard input and output.
type streams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// apiCommand is one API client command: its flags, its positional
// arguments and the connection settings every such command takes.
type apiCommand struct {
	path     string // "users create"
	synopsis string // positional arguments and required flags: "USER_ID", "--org ID --login-name NAME"
	summary  string
	fs       *flag.FlagSet
	url      *string
	host     *string
	// badValue is the explanation of the last flag value that did not
	// parse, in our words (the flag package's are "-name: parse error").
	badValue error
	streams
}

func (s streams) command(path, synopsis, summary string) *apiCommand {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // mistakes are reported as errors, help by usage
	fs.Usage = func() {}
	c := &apiCommand{path: path, synopsis: synopsis, summary: summary, fs: fs, streams: s}
	c.url = fs.String("url", "", "`URL` of the server (CASTELLAN_URL; default "+defaultURL+")")
	c.host = fs.String("host", "", "send `HOST` (the instance's domain) instead of the URL's host (CASTELLAN_HOST)")
	return c
}

// duration defines a duration flag whose errors say what a duration looks
// like.
func (c *apiCommand) duration(name string, value time.Duration, usage string) *time.Duration {
	v := &durationValue{name: name, d: value, bad: &c.badValue}
	c.fs.Var(v, name, usage)
	return &v.d
}

type durationValue struct {
	name string
	d    time.Duration
	bad  *error
}

func (v *durationValue) String() string { return v.d.String() }

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		*v.bad = fmt.Errorf("--%s: %q is not %s", v.name, s, aDuration)
		return *v.bad
	}
	v.d = d
	return nil
}

// aDuration says what a duration looks like, in every error about one.
const aDuration = "a duration such as 30s, 15m or 720h"

// parse parses args — flags may come before, between and after the
// positional arguments, "--" ends the flags — and returns the positional
// arguments, of which there must be at least fewest and at most most (-1:
// any number). With -h or --help it prints the command's usage on
// standard output and returns flag.ErrHelp.
func (c *apiCommand) parse(args []string, fewest, most int) ([]string, error) {
	positional, err := parseInterleaved(c.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.printUsage()
		return nil, err
	}
	if err != nil {
		if c.badValue != nil {
			err = c.badValue
		}
		return nil, flagMistake(c.path, err)
	}
	if len(positional) < fewest || (most >= 0 && len(positional) > most) {
		want := "no arguments"
		if c.synopsis != "" {
			want = c.synopsis
		}
		return nil, fmt.Errorf("%s: want %s, got %s; see castellan %s --help", c.path, want, describeArgs(positional), c.path)
	}
	return positional, nil
}

func describeArgs(args []string) string {
	if len(args) == 0 {
		return "none"
	}
	return fmt.Sprintf("%q", args)
}

// parseInterleaved is fs.Parse for flags anywhere among the positional
// arguments (the flag package stops at the first positional argument).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// flagMistake rewrites the flag package's error about an argument of the
// command castellan path ("flag provided but not defined: -x") in the
// words of the CLI, pointing to the command's --help.
func flagMistake(path string, err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: -"):
		msg = "unknown flag --" + strings.TrimPrefix(msg, "flag provided but not defined: -")
	case strings.HasPrefix(msg, "flag needs an argument: -"):
		msg = "--" + strings.TrimPrefix(msg, "flag needs an argument: -") + " needs a value"
	case strings.HasPrefix(msg, "invalid boolean value "):
		// invalid boolean value "x" for -name: parse error
		value, name, _ := strings.Cut(strings.TrimPrefix(msg, "invalid boolean value "), " for -")
		name, _, _ = strings.Cut(name, ":")
		msg = fmt.Sprintf("--%s: %s is neither true nor false", name, value)
	case strings.HasPrefix(msg, "invalid value "):
		// invalid value "x" for flag -name: parse error
		value, name, _ := strings.Cut(strings.TrimPrefix(msg, "invalid value "), " for flag -")
		name, _, _ = strings.Cut(name, ":")
		msg = fmt.Sprintf("--%s: invalid value %s", name, value)
	}
	return fmt.Errorf("%s; see castellan %s --help", msg, path)
}

// printUsage prints the command's usage: synopsis, summary, its own flags
// and then the connection flags.
func (c *apiCommand) printUsage() {
	w := c.stdout
	fmt.Fprintf(w, "Usage: castellan %s", c.path)
	if c.synopsis != "" {
		fmt.Fprintf(w, " %s", c.synopsis)
	}
	fmt.Fprintf(w, " [flags]\n\n%s\n", c.summary)
	var own, connection []*flag.Flag
	c.fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "url" || f.Name == "host" {
			connection = append(connection, f)
		} else {
			own = append(own, f)
		}
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(own) > 0 {
		fmt.Fprintln(tw, "\nFlags:")
		printFlags(tw, own)
	}
	fmt.Fprintln(tw, "\nConnection:")
	printFlags(tw, connection)
	tw.Flush()
	fmt.Fprintf(w, "\n%s", apiCallsHelp)
}

func printFlags(w io.Writer, flags []*flag.Flag) {
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	for _, f := range flags {
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  --%s%s\t%s\n", f.Name, name, usage)
	}
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// client returns the SDK client the command's connection settings name.
func (c *apiCommand) client() (*client.Client, error) {
	url := firstNonEmpty(*c.url, os.Getenv("CASTELLAN_URL"), defaultURL)
	host := firstNonEmpty(*c.host, os.Getenv("CASTELLAN_HOST"))
	token := os.Getenv("CASTELLAN_TOKEN")
	if token == "" {
		return nil, errors.New("CASTELLAN_TOKEN is not set: create a token with `castellan tokens create LOGIN_NAME` on the server, or through the API (castellan users token)")
	}
	return client.New(url, client.WithToken(token), client.WithHost(host),
		client.WithHTTPClient(&http.Client{Timeout: time.Minute}))
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// describeAPIError returns the message of an API call's error for the
// terminal: the SDK's wording, each field violation on its own line when
// there are several, and how to reach another instance when none serves
// the host. It returns false for other errors.
func describeAPIError(err error) (string, bool) {
	if noInstance := (*client.NoInstanceError)(nil); errors.As(err, &noInstance) {
		return fmt.Sprintf("no instance serves %s; name the instance's domain with --host or CASTELLAN_HOST, or use its URL (--url, CASTELLAN_URL)", noInstance.Host), true
	}
	e, ok := client.AsError(err)
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString(e.Error())
	if len(e.FieldViolations) > 1 {
		for _, v := range e.FieldViolations {
			fmt.Fprintf(&b, "\n  %s: %s", v.Field, v.Description)
		}
	}
	if e.Code == connect.CodeUnavailable && strings.Contains(e.Message, "connection refused") {
		b.WriteString("\n(is the server running? --url and CASTELLAN_URL name it)")
	}
	return b.String(), true
}

func (s streams) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(s.stdout, string(b))
	return err
}

// readSecret reads one line (a password) from standard input.
func (s streams) readSecret() (string, error) {
	line, err := bufio.NewReader(s.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("expected the password on standard input")
	}
	return line, nil
}

func parseTraits(s string) (*structpb.Struct, error) {
	if s == "" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("--traits: not a JSON object: %w", err)
	}
	return structpb.NewStruct(m)
}

// group runs the command name of a group of API client commands (castellan
// users, orgs, user-types): its usage for no command (an error) or --help.
func (s streams) group(group, usage string, args []string, run func(name string, rest []string) error) error {
	if len(args) == 0 {
		fmt.Fprint(s.stderr, usage)
		return errors.New(group + ": no command given")
	}
	if isHelp(args[0]) || args[0] == "help" {
		fmt.Fprint(s.stdout, usage)
		return nil
	}
	if err := run(args[0], args[1:]); !errors.Is(err, errUnknownCommand) {
		return err
	}
	fmt.Fprint(s.stderr, usage)
	return fmt.Errorf("%s: unknown command %q; see castellan %s --help", group, args[0], group)
}

var errUnknownCommand = errors.New("unknown command")

const usersUsage = `Usage: castellan users COMMAND [flags]

  list [--org ID] [--type T] [--login-prefix P] [--email E] [--all] [--json]
  get USER_ID
  create --org ID --login-name NAME [--type TYPE] [--email E] [--phone P] [--traits JSON] [--password-stdin] [--change-required]
  update USER_ID [--login-name NAME] [--email E] [--phone P] [--traits JSON-MERGE-PATCH]
  lock | unlock | deactivate | reactivate | delete USER_ID
  set-password USER_ID [--change-required]     (password on standard input)
  token USER_ID [--expires-in 720h]            (prints a new personal access token)
  set-avatar USER_ID FILE                      (a PNG, JPEG, GIF, WebP or ICO; prints its URL)
  remove-avatar USER_ID
  import FILE [--org ID] [--type TYPE]         (JSON lines of ImportedUser; - for standard input)

"castellan users COMMAND --help" describes a command.
` + apiCallsHelp

func usersCommand(ctx context.Context, args []string, s streams) error {
	return s.group("users", usersUsage, args, func(name string, rest []string) error {
		return usersSubcommand(ctx, name, rest, s)
	})
}

func usersSubcommand(ctx context.Context, name string, args []string, s streams) error {
	switch name {
	case "list":
		cmd := s.command("users list", "", "Lists users, 100 at a time (--all: every page).")
		org := cmd.fs.String("org", "", "only users of the organization `ID`")
		typ := cmd.fs.String("type", "", "only users of the user `TYPE`")
		prefix := cmd.fs.String("login-prefix", "", "only users whose login name starts with `PREFIX`")
		email := cmd.fs.String("email", "", "only users with the email `ADDRESS`")
		all := cmd.fs.Bool("all", false, "fetch every page")
		asJSON := cmd.fs.Bool("json", false, "print each user as JSON")
		if _, err := cmd.parse(args, 0, 0); err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		req := &userv1.SearchUsersRequest{OrganizationId: *org, Type: *typ, LoginNamePrefix: *prefix, Email: *email, PageSize: 100}
		tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
		if !*asJSON {
			fmt.Fprintln(tw, "ID\tLOGIN NAME\tTYPE\tSTATE\tORGANIZATION")
		}
		for {
			resp, err := api.Users.SearchUsers(ctx, connect.NewRequest(req))
			if err != nil {
				return err
			}
			for _, u := range resp.Msg.GetUsers() {
				if *asJSON {
					if err := s.printJSON(u); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.GetId(), u.GetLoginName(), u.GetType(),
					strings.ToLower(strings.TrimPrefix(u.GetState().String(), "USER_STATE_")), u.GetOrganizationId())
			}
			if !*all || resp.Msg.GetNextPageToken() == "" {
				if !*asJSON {
					total := fmt.Sprint(resp.Msg.GetTotalSize())
					if resp.Msg.GetTotalSizeIsLowerBound() {
						total = "at least " + total
					}
					fmt.Fprintf(tw, "(%d of %s)\n", len(resp.Msg.GetUsers()), total)
				}
				return tw.Flush()
			}
			req.PageToken = resp.Msg.GetNextPageToken()
		}
	case "import":
		return importUsers(ctx, args, s)
	case "get":
		cmd := s.command("users get", "USER_ID", "Prints a user as JSON.")
		ids, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Users.GetUser(ctx, connect.NewRequest(&userv1.GetUserRequest{UserId: ids[0]}))
		if err != nil {
			return err
		}
		return s.printJSON(resp.Msg.GetUser())
	case "create":
		cmd := s.command("users create", "--org ID --login-name NAME", "Creates a user and prints its id.")
		org := cmd.fs.String("org", "", "the user's organization `ID` (required)")
		typ := cmd.fs.String("type", "human", "the user's `TYPE`")
		login := cmd.fs.String("login-name", "", "login `NAME` (required)")
		email := cmd.fs.String("email", "", "email `ADDRESS`")
		phone := cmd.fs.String("phone", "", "phone `NUMBER`, E.164")
		traitsJSON := cmd.fs.String("traits", "", "traits as a `JSON` object")
		pwStdin := cmd.fs.Bool("password-stdin", false, "read an initial password from standard input")
		changeRequired := cmd.fs.Bool("change-required", false, "the user must change the password at first sign-in")
		if _, err := cmd.parse(args, 0, 0); err != nil {
			return err
		}
		traits, err := parseTraits(*traitsJSON)
		if err != nil {
			return err
		}
		req := &userv1.CreateUserRequest{OrganizationId: *org, Type: *typ, LoginName: *login, Email: *email, Phone: *phone, Traits: traits,
			PasswordChangeRequired: *changeRequired}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		if *pwStdin {
			if req.Password, err = s.readSecret(); err != nil {
				return err
			}
		}
		resp, err := api.Users.CreateUser(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.stdout, resp.Msg.GetUserId())
		return err
	case "update":
		cmd := s.command("users update", "USER_ID", "Changes a user; only the flags given change.")
		login := cmd.fs.String("login-name", "", "new login `NAME`")
		email := cmd.fs.String("email", "", "new email `ADDRESS`")
		phone := cmd.fs.String("phone", "", "new phone `NUMBER`")
		traitsJSON := cmd.fs.String("traits", "", "`JSON` merge patch of the traits")
		ids, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		traits, err := parseTraits(*traitsJSON)
		if err != nil {
			return err
		}
		req := &userv1.UpdateUserRequest{UserId: ids[0], Traits: traits}
		cmd.fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "login-name":
				req.LoginName = login
			case "email":
				req.Email = email
			case "phone":
				req.Phone = phone
			}
		})
		api, err := cmd.client()
		if err != nil {
			return err
		}
		_, err = api.Users.UpdateUser(ctx, connect.NewRequest(req))
		return err
	case "lock", "unlock", "deactivate", "reactivate", "delete":
		cmd := s.command("users "+name, "USER_ID", map[string]string{
			"lock":       "Locks a user: blocks its sign-in until unlocked.",
			"unlock":     "Unlocks a locked user.",
			"deactivate": "Deactivates (suspends) a user.",
			"reactivate": "Reactivates a deactivated user.",
			"delete":     "Deletes a user for good, erasing its personal data.",
		}[name])
		ids, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		id := ids[0]
		switch name {
		case "lock":
			_, err = api.Users.LockUser(ctx, connect.NewRequest(&userv1.LockUserRequest{UserId: id}))
		case "unlock":
			_, err = api.Users.UnlockUser(ctx, connect.NewRequest(&userv1.UnlockUserRequest{UserId: id}))
		case "deactivate":
			_, err = api.Users.DeactivateUser(ctx, connect.NewRequest(&userv1.DeactivateUserRequest{UserId: id}))
		case "reactivate":
			_, err = api.Users.ReactivateUser(ctx, connect.NewRequest(&userv1.ReactivateUserRequest{UserId: id}))
		case "delete":
			_, err = api.Users.DeleteUser(ctx, connect.NewRequest(&userv1.DeleteUserRequest{UserId: id}))
		}
		return err
	case "set-password":
		cmd := s.command("users set-password", "USER_ID", "Sets a user's password, read from standard input.")
		changeRequired := cmd.fs.Bool("change-required", false, "the user must change it at next sign-in")
		ids, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		pw, err := s.readSecret()
		if err != nil {
			return err
		}
		_, err = api.Users.SetPassword(ctx, connect.NewRequest(&userv1.SetPasswordRequest{UserId: ids[0], Password: pw, ChangeRequired: *changeRequired}))
		return err
	case "set-avatar", "remove-avatar":
		return usersAvatarSubcommand(ctx, name, args, s)
	case "token":
		cmd := s.command("users token", "USER_ID", "Issues a personal access token for a user and prints it.")
		expiresIn := cmd.duration("expires-in", 30*24*time.Hour, "how long the token is valid: a `DURATION` such as 30s, 15m or 720h")
		ids, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		if *expiresIn <= 0 {
			return fmt.Errorf("users token: --expires-in must be positive, %s", aDuration)
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Users.AddPersonalAccessToken(ctx, connect.NewRequest(&userv1.AddPersonalAccessTokenRequest{UserId: ids[0],
			ExpireTime: timestamppb.New(time.Now().Add(*expiresIn))}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.stdout, resp.Msg.GetToken())
		return err
	default:
		return errUnknownCommand
	}
}

func meCommand(ctx context.Context, args []string, s streams) error {
	cmd := s.command("me", "", "Prints the calling user (the owner of CASTELLAN_TOKEN) as JSON.")
	if _, err := cmd.parse(args, 0, 0); err != nil {
		return err
	}
	api, err := cmd.client()
	if err != nil {
		return err
	}
	resp, err := api.Users.GetMyUser(ctx, connect.NewRequest(&userv1.GetMyUserRequest{}))
	if err != nil {
		return err
	}
	return s.printJSON(resp.Msg.GetUser())
}
