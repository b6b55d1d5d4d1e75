package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	usertypev1 "github.com/castellan-iam/castellan/gen/castellan/usertype/v1"
)

const orgsUsage = `Usage: castellan orgs COMMAND [flags]

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

"castellan orgs COMMAND --help" describes a command.
` + apiCallsHelp

func orgsCommand(ctx context.Context, args []string, s streams) error {
	return s.group("orgs", orgsUsage, args, func(name string, rest []string) error {
		return orgsSubcommand(ctx, name, rest, s)
	})
}

func orgsSubcommand(ctx context.Context, name string, args []string, s streams) error {
	path := "orgs " + name
	switch name {
	case "list":
		cmd := s.command(path, "", "Lists the organizations.")
		prefix := cmd.fs.String("name-prefix", "", "only organizations whose name starts with `PREFIX`")
		if _, err := cmd.parse(args, 0, 0); err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tPRIMARY DOMAIN")
		req := &orgv1.ListOrganizationsRequest{NamePrefix: *prefix, PageSize: 100}
		for {
			resp, err := api.Organizations.ListOrganizations(ctx, connect.NewRequest(req))
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
		cmd := s.command(path, "ORG_ID", "Prints an organization as JSON.")
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Organizations.GetOrganization(ctx, connect.NewRequest(&orgv1.GetOrganizationRequest{OrganizationId: a[0]}))
		if err != nil {
			return err
		}
		return s.printJSON(resp.Msg.GetOrganization())
	case "create":
		cmd := s.command(path, "NAME", "Creates an organization and prints its id.")
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Organizations.CreateOrganization(ctx, connect.NewRequest(&orgv1.CreateOrganizationRequest{Name: a[0]}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(s.stdout, resp.Msg.GetOrganizationId())
		return err
	case "rename":
		cmd := s.command(path, "ORG_ID NAME", "Renames an organization.")
		a, err := cmd.parse(args, 2, 2)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		_, err = api.Organizations.UpdateOrganization(ctx, connect.NewRequest(&orgv1.UpdateOrganizationRequest{OrganizationId: a[0], Name: a[1]}))
		return err
	case "deactivate", "reactivate", "delete":
		cmd := s.command(path, "ORG_ID", map[string]string{
			"deactivate": "Deactivates an organization: its users cannot sign in; its data stays.",
			"reactivate": "Reactivates a deactivated organization.",
			"delete":     "Deletes an organization for good and releases its name and domains.",
		}[name])
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		switch name {
		case "deactivate":
			_, err = api.Organizations.DeactivateOrganization(ctx, connect.NewRequest(&orgv1.DeactivateOrganizationRequest{OrganizationId: a[0]}))
		case "reactivate":
			_, err = api.Organizations.ReactivateOrganization(ctx, connect.NewRequest(&orgv1.ReactivateOrganizationRequest{OrganizationId: a[0]}))
		default:
			_, err = api.Organizations.DeleteOrganization(ctx, connect.NewRequest(&orgv1.DeleteOrganizationRequest{OrganizationId: a[0]}))
		}
		return err
	case "add-domain", "verify-domain", "set-primary-domain":
		cmd := s.command(path, "ORG_ID DOMAIN", map[string]string{
			"add-domain":         "Adds an unverified domain to an organization.",
			"verify-domain":      "Checks the challenge of request-verification and marks the domain verified.",
			"set-primary-domain": "Makes a verified domain the organization's primary domain.",
		}[name])
		a, err := cmd.parse(args, 2, 2)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		switch name {
		case "add-domain":
			_, err = api.Organizations.AddOrganizationDomain(ctx, connect.NewRequest(&orgv1.AddOrganizationDomainRequest{OrganizationId: a[0], Domain: a[1]}))
		case "verify-domain":
			_, err = api.Organizations.VerifyDomain(ctx, connect.NewRequest(&orgv1.VerifyDomainRequest{OrganizationId: a[0], Domain: a[1]}))
		default:
			_, err = api.Organizations.SetPrimaryDomain(ctx, connect.NewRequest(&orgv1.SetPrimaryDomainRequest{OrganizationId: a[0], Domain: a[1]}))
		}
		return err
	case "request-verification":
		cmd := s.command(path, "ORG_ID DOMAIN dns|http", "Starts proving a domain by a DNS TXT record or an HTTP file, and prints what to publish.")
		a, err := cmd.parse(args, 3, 3)
		if err != nil {
			return err
		}
		method := map[string]orgv1.DomainVerificationMethod{"dns": orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_DNS,
			"http": orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_HTTP}[a[2]]
		if method == orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_UNSPECIFIED {
			return fmt.Errorf("%s: method must be dns or http, got %q", path, a[2])
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.Organizations.RequestDomainVerification(ctx, connect.NewRequest(&orgv1.RequestDomainVerificationRequest{OrganizationId: a[0], Domain: a[1], Method: method}))
		if err != nil {
			return err
		}
		if name := resp.Msg.GetTxtRecordName(); name != "" {
			_, err = fmt.Fprintf(s.stdout, "Publish a TXT record at %s with the value %s, then run: castellan orgs verify-domain %s %s\n", name, resp.Msg.GetToken(), a[0], a[1])
		} else {
			_, err = fmt.Fprintf(s.stdout, "Serve %s with the body %s, then run: castellan orgs verify-domain %s %s\n", resp.Msg.GetHttpUrl(), resp.Msg.GetToken(), a[0], a[1])
		}
		return err
	case "add-member":
		cmd := s.command(path, "ORG_ID USER_ID ROLE [ROLE…]", "Makes a user an administrator of an organization with the roles org.owner, org.user_manager or org.viewer.")
		a, err := cmd.parse(args, 3, -1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		_, err = api.Organizations.AddOrganizationMember(ctx, connect.NewRequest(&orgv1.AddOrganizationMemberRequest{OrganizationId: a[0], UserId: a[1], Roles: a[2:]}))
		return err
	default:
		return errUnknownCommand
	}
}

const userTypesUsage = `Usage: castellan user-types COMMAND [flags]

  list
  get ID_OR_NAME
  create NAME SCHEMA_FILE          (a JSON Schema with Castellan's annotations)
  update ID_OR_NAME SCHEMA_FILE    (adds a revision)
  validate ID_OR_NAME TRAITS_JSON

"castellan user-types COMMAND --help" describes a command.
` + apiCallsHelp

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

func userTypesCommand(ctx context.Context, args []string, s streams) error {
	return s.group("user-types", userTypesUsage, args, func(name string, rest []string) error {
		return userTypesSubcommand(ctx, name, rest, s)
	})
}

func userTypesSubcommand(ctx context.Context, name string, args []string, s streams) error {
	path := "user-types " + name
	switch name {
	case "list":
		cmd := s.command(path, "", "Lists the user types.")
		if _, err := cmd.parse(args, 0, 0); err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.UserTypes.ListUserTypes(ctx, connect.NewRequest(&usertypev1.ListUserTypesRequest{}))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tREVISION")
		for _, t := range resp.Msg.GetUserTypes() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.GetId(), t.GetName(), strings.ToLower(strings.TrimPrefix(t.GetState().String(), "USER_TYPE_STATE_")), t.GetRevision())
		}
		return tw.Flush()
	case "get":
		cmd := s.command(path, "ID_OR_NAME", "Prints a user type with its current schema as JSON.")
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.UserTypes.GetUserType(ctx, connect.NewRequest(&usertypev1.GetUserTypeRequest{UserTypeId: a[0]}))
		if err != nil {
			return err
		}
		return s.printJSON(resp.Msg.GetUserType())
	case "create", "update":
		synopsis, summary := "NAME SCHEMA_FILE", "Creates a user type from a JSON Schema file with Castellan's annotations and prints its id."
		if name == "update" {
			synopsis, summary = "ID_OR_NAME SCHEMA_FILE", "Adds a revision with the JSON Schema of a file to a user type."
		}
		cmd := s.command(path, synopsis, summary)
		a, err := cmd.parse(args, 2, 2)
		if err != nil {
			return err
		}
		schema, err := readJSONObject(a[1])
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		if name == "create" {
			resp, err := api.UserTypes.CreateUserType(ctx, connect.NewRequest(&usertypev1.CreateUserTypeRequest{Name: a[0], Schema: schema}))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(s.stdout, resp.Msg.GetUserTypeId())
			return err
		}
		resp, err := api.UserTypes.UpdateUserType(ctx, connect.NewRequest(&usertypev1.UpdateUserTypeRequest{UserTypeId: a[0], Schema: schema}))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(s.stdout, "revision %d\n", resp.Msg.GetRevision())
		return err
	case "validate":
		cmd := s.command(path, "ID_OR_NAME TRAITS_JSON", "Checks traits (a JSON object) against a user type's current schema and prints what is wrong.")
		a, err := cmd.parse(args, 2, 2)
		if err != nil {
			return err
		}
		traits, err := parseTraits(a[1])
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.UserTypes.ValidateTraits(ctx, connect.NewRequest(&usertypev1.ValidateTraitsRequest{UserTypeId: a[0], Traits: traits}))
		if err != nil {
			return err
		}
		if resp.Msg.GetValid() {
			_, err = fmt.Fprintf(s.stdout, "valid under revision %d\n", resp.Msg.GetRevision())
			return err
		}
		for _, v := range resp.Msg.GetViolations() {
			fmt.Fprintf(s.stdout, "%s: %s\n", v.GetPointer(), v.GetMessage())
		}
		return fmt.Errorf("traits are not valid under revision %d", resp.Msg.GetRevision())
	default:
		return errUnknownCommand
	}
}
