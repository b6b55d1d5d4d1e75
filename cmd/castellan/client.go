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
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/gen/castellan/user/v1/userv1connect"
)

// The API client commands (castellan users …, castellan me) call a running
// Castellan through its public API, like any other integration: the server
// is CASTELLAN_URL (default http://localhost:8080) and the caller is
// authenticated by the personal access token in CASTELLAN_TOKEN.

type client struct {
	url    string
	token  string
	http   *http.Client
	stdin  io.Reader
	stdout io.Writer
}

func newClient(stdin io.Reader, stdout io.Writer) (*client, error) {
	url := strings.TrimRight(os.Getenv("CASTELLAN_URL"), "/")
	if url == "" {
		url = "http://localhost:8080"
	}
	token := os.Getenv("CASTELLAN_TOKEN")
	if token == "" {
		return nil, errors.New("CASTELLAN_TOKEN is not set: create a token with `castellan tokens create LOGIN_NAME` on the server, or through the API")
	}
	return &client{url: url, token: token, http: &http.Client{Timeout: time.Minute}, stdin: stdin, stdout: stdout}, nil
}

func withToken[T any](c *client, msg *T) *connect.Request[T] {
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+c.token)
	return req
}

func (c *client) users() userv1connect.UserServiceClient {
	return userv1connect.NewUserServiceClient(c.http, c.url)
}

func (c *client) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.stdout, string(b))
	return err
}

// readSecret reads one line (a password) from standard input.
func (c *client) readSecret() (string, error) {
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
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

func flagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func oneID(fs *flag.FlagSet, what string) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("%s: want one %s", fs.Name(), what)
	}
	return fs.Arg(0), nil
}

const usersUsage = `Usage: castellan users COMMAND (through the API: CASTELLAN_URL, CASTELLAN_TOKEN)

  list [--org ID] [--type T] [--login-prefix P] [--email E] [--all] [--json]
  get USER_ID
  create --org ID --type TYPE --login-name NAME [--email E] [--phone P] [--traits JSON] [--password-stdin] [--change-required]
  update USER_ID [--login-name NAME] [--email E] [--phone P] [--traits JSON-MERGE-PATCH]
  lock | unlock | deactivate | reactivate | delete USER_ID
  set-password USER_ID [--change-required]     (password on standard input)
  token USER_ID [--expires-in 720h]            (prints a new personal access token)
`

func usersCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return errors.New("users: no command given")
	}
	c, err := newClient(stdin, stdout)
	if err != nil {
		return err
	}
	users := c.users()
	fs := flagSet("users "+args[0], stderr)
	switch args[0] {
	case "list":
		org := fs.String("org", "", "organization id")
		typ := fs.String("type", "", "user type")
		prefix := fs.String("login-prefix", "", "login name prefix")
		email := fs.String("email", "", "email address")
		all := fs.Bool("all", false, "fetch every page")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		req := &userv1.SearchUsersRequest{OrganizationId: *org, Type: *typ, LoginNamePrefix: *prefix, Email: *email, PageSize: 100}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if !*asJSON {
			fmt.Fprintln(tw, "ID\tLOGIN NAME\tTYPE\tSTATE\tORGANIZATION")
		}
		for {
			resp, err := users.SearchUsers(ctx, withToken(c, req))
			if err != nil {
				return err
			}
			for _, u := range resp.Msg.GetUsers() {
				if *asJSON {
					if err := c.printJSON(u); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.GetId(), u.GetLoginName(), u.GetType(),
					strings.ToLower(strings.TrimPrefix(u.GetState().String(), "USER_STATE_")), u.GetOrganizationId())
			}
			if !*all || resp.Msg.GetNextPageToken() == "" {
				if !*asJSON {
					fmt.Fprintf(tw, "(%d of %d)\n", len(resp.Msg.GetUsers()), resp.Msg.GetTotalSize())
				}
				return tw.Flush()
			}
			req.PageToken = resp.Msg.GetNextPageToken()
		}
	case "import":
		return importUsers(ctx, c, args[1:], stderr)
	case "get":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		id, err := oneID(fs, "user id")
		if err != nil {
			return err
		}
		resp, err := users.GetUser(ctx, withToken(c, &userv1.GetUserRequest{UserId: id}))
		if err != nil {
			return err
		}
		return c.printJSON(resp.Msg.GetUser())
	case "create":
		org := fs.String("org", "", "organization id (required)")
		typ := fs.String("type", "human", "user type")
		login := fs.String("login-name", "", "login name (required)")
		email := fs.String("email", "", "email address")
		phone := fs.String("phone", "", "phone number, E.164")
		traitsJSON := fs.String("traits", "", "traits as a JSON object")
		pwStdin := fs.Bool("password-stdin", false, "read an initial password from standard input")
		changeRequired := fs.Bool("change-required", false, "the user must change the password at first sign-in")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		traits, err := parseTraits(*traitsJSON)
		if err != nil {
			return err
		}
		req := &userv1.CreateUserRequest{OrganizationId: *org, Type: *typ, LoginName: *login, Email: *email, Phone: *phone, Traits: traits,
			PasswordChangeRequired: *changeRequired}
		if *pwStdin {
			if req.Password, err = c.readSecret(); err != nil {
				return err
			}
		}
		resp, err := users.CreateUser(ctx, withToken(c, req))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, resp.Msg.GetUserId())
		return err
	case "update":
		login := fs.String("login-name", "", "new login name")
		email := fs.String("email", "", "new email address")
		phone := fs.String("phone", "", "new phone number")
		traitsJSON := fs.String("traits", "", "JSON merge patch of the traits")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		id, err := oneID(fs, "user id")
		if err != nil {
			return err
		}
		traits, err := parseTraits(*traitsJSON)
		if err != nil {
			return err
		}
		req := &userv1.UpdateUserRequest{UserId: id, Traits: traits}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "login-name":
				req.LoginName = login
			case "email":
				req.Email = email
			case "phone":
				req.Phone = phone
			}
		})
		_, err = users.UpdateUser(ctx, withToken(c, req))
		return err
	case "lock", "unlock", "deactivate", "reactivate", "delete":
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		id, err := oneID(fs, "user id")
		if err != nil {
			return err
		}
		switch args[0] {
		case "lock":
			_, err = users.LockUser(ctx, withToken(c, &userv1.LockUserRequest{UserId: id}))
		case "unlock":
			_, err = users.UnlockUser(ctx, withToken(c, &userv1.UnlockUserRequest{UserId: id}))
		case "deactivate":
			_, err = users.DeactivateUser(ctx, withToken(c, &userv1.DeactivateUserRequest{UserId: id}))
		case "reactivate":
			_, err = users.ReactivateUser(ctx, withToken(c, &userv1.ReactivateUserRequest{UserId: id}))
		case "delete":
			_, err = users.DeleteUser(ctx, withToken(c, &userv1.DeleteUserRequest{UserId: id}))
		}
		return err
	case "set-password":
		changeRequired := fs.Bool("change-required", false, "the user must change it at next sign-in")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		id, err := oneID(fs, "user id")
		if err != nil {
			return err
		}
		pw, err := c.readSecret()
		if err != nil {
			return err
		}
		_, err = users.SetPassword(ctx, withToken(c, &userv1.SetPasswordRequest{UserId: id, Password: pw, ChangeRequired: *changeRequired}))
		return err
	case "token":
		expiresIn := fs.Duration("expires-in", 30*24*time.Hour, "lifetime of the token")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		id, err := oneID(fs, "user id")
		if err != nil {
			return err
		}
		resp, err := users.AddPersonalAccessToken(ctx, withToken(c, &userv1.AddPersonalAccessTokenRequest{UserId: id,
			ExpireTime: timestamppb.New(time.Now().Add(*expiresIn))}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, resp.Msg.GetToken())
		return err
	default:
		fmt.Fprint(stderr, usersUsage)
		return fmt.Errorf("users: unknown command %q", args[0])
	}
}

func meCommand(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	c, err := newClient(stdin, stdout)
	if err != nil {
		return err
	}
	resp, err := c.users().GetMyUser(ctx, withToken(c, &userv1.GetMyUserRequest{}))
	if err != nil {
		return err
	}
	return c.printJSON(resp.Msg.GetUser())
}
