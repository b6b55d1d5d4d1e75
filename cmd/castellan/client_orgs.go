package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/types/known/structpb"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	"github.com/castellan-iam/castellan/gen/castellan/org/v1/orgv1connect"
	usertypev1 "github.com/castellan-iam/castellan/gen/castellan/usertype/v1"
	"github.com/castellan-iam/castellan/gen/castellan/usertype/v1/usertypev1connect"
)

const orgsUsage = `Usage: castellan orgs COMMAND (through the API: CASTELLAN_URL, CASTELLAN_TOKEN)

  list [--name-prefix P]
  get ORG_ID
  create NAME
  rename ORG_ID NAME
  deactivate | reactivate | delete ORG_ID
  add-domain ORG_ID DOMAIN
  request-verification ORG_ID DOMAIN dns|http   (prints what to publish)
  verify-domain ORG_ID DOMAIN
  set-primary-domain ORG_ID DOMAIN
  add-member ORG_ID USER_ID ROLE [ROLE…]      (roles: org.owner, org.user_manager, org.viewer)
`

func wantArgs(cmd string, args []string, n int, what string) error {
	if len(args) != n {
		return fmt.Errorf("%s: want %s", cmd, what)
	}
	return nil
}

func orgsCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, orgsUsage)
		return errors.New("orgs: no command given")
	}
	c, err := newClient(stdin, stdout)
	if err != nil {
		return err
	}
	orgs := orgv1connect.NewOrganizationServiceClient(c.http, c.url)
	cmd, rest := "orgs "+args[0], args[1:]
	switch args[0] {
	case "list":
		fs := flagSet(cmd, stderr)
		prefix := fs.String("name-prefix", "", "name prefix")
		if err := fs.Parse(rest); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPRIMARY DOMAIN")
		req := &orgv1.ListOrganizationsRequest{NamePrefix: *prefix, PageSize: 100}
		for {
			resp, err := orgs.ListOrganizations(ctx, withToken(c, req))
			if err != nil {
				return err
			}
			for _, o := range resp.Msg.GetOrganizations() {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.GetId(), o.GetName(),
					strings.ToLower(strings.TrimPrefix(o.GetState().String(), "ORGANIZATION_STATE_")), o.GetPrimaryDomain())
			}
			if resp.Msg.GetNextPageToken() == "" {
				return tw.Flush()
			}
			req.PageToken = resp.Msg.GetNextPageToken()
		}
	case "get":
		if err := wantArgs(cmd, rest, 1, "ORG_ID"); err != nil {
			return err
		}
		resp, err := orgs.GetOrganization(ctx, withToken(c, &orgv1.GetOrganizationRequest{OrganizationId: rest[0]}))
		if err != nil {
			return err
		}
		return c.printJSON(resp.Msg.GetOrganization())
	case "create":
		if err := wantArgs(cmd, rest, 1, "NAME"); err != nil {
			return err
		}
		resp, err := orgs.CreateOrganization(ctx, withToken(c, &orgv1.CreateOrganizationRequest{Name: rest[0]}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, resp.Msg.GetOrganizationId())
		return err
	case "rename":
		if err := wantArgs(cmd, rest, 2, "ORG_ID NAME"); err != nil {
			return err
		}
		_, err := orgs.UpdateOrganization(ctx, withToken(c, &orgv1.UpdateOrganizationRequest{OrganizationId: rest[0], Name: rest[1]}))
		return err
	case "deactivate", "reactivate", "delete":
		if err := wantArgs(cmd, rest, 1, "ORG_ID"); err != nil {
			return err
		}
		switch args[0] {
		case "deactivate":
			_, err = orgs.DeactivateOrganization(ctx, withToken(c, &orgv1.DeactivateOrganizationRequest{OrganizationId: rest[0]}))
		case "reactivate":
			_, err = orgs.ReactivateOrganization(ctx, withToken(c, &orgv1.ReactivateOrganizationRequest{OrganizationId: rest[0]}))
		default:
			_, err = orgs.DeleteOrganization(ctx, withToken(c, &orgv1.DeleteOrganizationRequest{OrganizationId: rest[0]}))
		}
		return err
	case "add-domain", "verify-domain", "set-primary-domain":
		if err := wantArgs(cmd, rest, 2, "ORG_ID DOMAIN"); err != nil {
			return err
		}
		switch args[0] {
		case "add-domain":
			_, err = orgs.AddOrganizationDomain(ctx, withToken(c, &orgv1.AddOrganizationDomainRequest{OrganizationId: rest[0], Domain: rest[1]}))
		case "verify-domain":
			_, err = orgs.VerifyDomain(ctx, withToken(c, &orgv1.VerifyDomainRequest{OrganizationId: rest[0], Domain: rest[1]}))
		default:
			_, err = orgs.SetPrimaryDomain(ctx, withToken(c, &orgv1.SetPrimaryDomainRequest{OrganizationId: rest[0], Domain: rest[1]}))
		}
		return err
	case "request-verification":
		if err := wantArgs(cmd, rest, 3, "ORG_ID DOMAIN dns|http"); err != nil {
			return err
		}
		method := map[string]orgv1.DomainVerificationMethod{"dns": orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_DNS,
			"http": orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_HTTP}[rest[2]]
		if method == orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_UNSPECIFIED {
			return fmt.Errorf("%s: method must be dns or http, got %q", cmd, rest[2])
		}
		resp, err := orgs.RequestDomainVerification(ctx, withToken(c, &orgv1.RequestDomainVerificationRequest{OrganizationId: rest[0], Domain: rest[1], Method: method}))
		if err != nil {
			return err
		}
		if name := resp.Msg.GetTxtRecordName(); name != "" {
			_, err = fmt.Fprintf(stdout, "Publish a TXT record at %s with the value %s, then run: castellan orgs verify-domain %s %s\n", name, resp.Msg.GetToken(), rest[0], rest[1])
		} else {
			_, err = fmt.Fprintf(stdout, "Serve %s with the body %s, then run: castellan orgs verify-domain %s %s\n", resp.Msg.GetHttpUrl(), resp.Msg.GetToken(), rest[0], rest[1])
		}
		return err
	case "add-member":
		if len(rest) < 3 {
			return fmt.Errorf("%s: want ORG_ID USER_ID ROLE [ROLE…]", cmd)
		}
		_, err := orgs.AddOrganizationMember(ctx, withToken(c, &orgv1.AddOrganizationMemberRequest{OrganizationId: rest[0], UserId: rest[1], Roles: rest[2:]}))
		return err
	default:
		fmt.Fprint(stderr, orgsUsage)
		return fmt.Errorf("orgs: unknown command %q", args[0])
	}
}

const userTypesUsage = `Usage: castellan user-types COMMAND (through the API: CASTELLAN_URL, CASTELLAN_TOKEN)

  list
  get ID_OR_NAME
  create NAME SCHEMA_FILE          (a JSON Schema with Castellan's annotations)
  update ID_OR_NAME SCHEMA_FILE    (adds a revision)
  validate ID_OR_NAME TRAITS_JSON
`

func readJSONObject(path string) (*structpb.Struct, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	return structpb.NewStruct(m)
}

func userTypesCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, userTypesUsage)
		return errors.New("user-types: no command given")
	}
	c, err := newClient(stdin, stdout)
	if err != nil {
		return err
	}
	types := usertypev1connect.NewUserTypeServiceClient(c.http, c.url)
	cmd, rest := "user-types "+args[0], args[1:]
	switch args[0] {
	case "list":
		resp, err := types.ListUserTypes(ctx, withToken(c, &usertypev1.ListUserTypesRequest{}))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tREVISION")
		for _, t := range resp.Msg.GetUserTypes() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.GetId(), t.GetName(), strings.ToLower(strings.TrimPrefix(t.GetState().String(), "USER_TYPE_STATE_")), t.GetRevision())
		}
		return tw.Flush()
	case "get":
		if err := wantArgs(cmd, rest, 1, "ID_OR_NAME"); err != nil {
			return err
		}
		resp, err := types.GetUserType(ctx, withToken(c, &usertypev1.GetUserTypeRequest{UserTypeId: rest[0]}))
		if err != nil {
			return err
		}
		return c.printJSON(resp.Msg.GetUserType())
	case "create", "update":
		if err := wantArgs(cmd, rest, 2, "NAME SCHEMA_FILE"); err != nil {
			return err
		}
		schema, err := readJSONObject(rest[1])
		if err != nil {
			return err
		}
		if args[0] == "create" {
			resp, err := types.CreateUserType(ctx, withToken(c, &usertypev1.CreateUserTypeRequest{Name: rest[0], Schema: schema}))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, resp.Msg.GetUserTypeId())
			return err
		}
		resp, err := types.UpdateUserType(ctx, withToken(c, &usertypev1.UpdateUserTypeRequest{UserTypeId: rest[0], Schema: schema}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "revision %d\n", resp.Msg.GetRevision())
		return err
	case "validate":
		if err := wantArgs(cmd, rest, 2, "ID_OR_NAME TRAITS_JSON"); err != nil {
			return err
		}
		traits, err := parseTraits(rest[1])
		if err != nil {
			return err
		}
		resp, err := types.ValidateTraits(ctx, withToken(c, &usertypev1.ValidateTraitsRequest{UserTypeId: rest[0], Traits: traits}))
		if err != nil {
			return err
		}
		if resp.Msg.GetValid() {
			_, err = fmt.Fprintf(stdout, "valid under revision %d\n", resp.Msg.GetRevision())
			return err
		}
		for _, v := range resp.Msg.GetViolations() {
			fmt.Fprintf(stdout, "%s: %s\n", v.GetPointer(), v.GetMessage())
		}
		return fmt.Errorf("traits are not valid under revision %d", resp.Msg.GetRevision())
	default:
		fmt.Fprint(stderr, userTypesUsage)
		return fmt.Errorf("user-types: unknown command %q", args[0])
	}
}
