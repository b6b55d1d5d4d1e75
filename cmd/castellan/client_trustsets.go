package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"connectrpc.com/connect"

	trustsetv1 "github.com/castellan-iam/castellan/gen/castellan/trustset/v1"
)

const trustSetsUsage = `Usage: castellan trust-sets COMMAND [flags]

  list
  get ID                                        (as JSON, with the PEM certificates and CRLs)
  create NAME CA_FILE [--crls FILE] [--default] (PEM CA certificates that client certificates chain to)
  update ID [--name N] [--certificates FILE] [--crls FILE] [--no-crls] [--default=true|false]
                                                (what is not given stays; e.g. publish a new CRL)
  delete ID

"castellan trust-sets COMMAND --help" describes a command.
` + apiCallsHelp

func trustSetsCommand(ctx context.Context, args []string, s streams) error {
	return s.group("trust-sets", trustSetsUsage, args, func(name string, rest []string) error {
		return trustSetsSubcommand(ctx, name, rest, s)
	})
}

// readPEMFile reads a file of PEM blocks named by a flag or argument.
func readPEMFile(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return string(b), nil
}

func printTrustSets(s streams, sets ...*trustsetv1.TrustSet) error {
	tw := tabwriter.NewWriter(s.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tDEFAULT\tCERTIFICATES\tCRLS")
	for _, t := range sets {
		fmt.Fprintf(tw, "%s\t%s\t%t\t%d\t%d\n", t.GetId(), t.GetName(), t.GetDefault(),
			strings.Count(t.GetCertificates(), "-----BEGIN CERTIFICATE-----"), strings.Count(t.GetCrls(), "-----BEGIN X509 CRL-----"))
	}
	return tw.Flush()
}

func trustSetsSubcommand(ctx context.Context, name string, args []string, s streams) error {
	path := "trust-sets " + name
	switch name {
	case "list":
		cmd := s.command(path, "", "Lists the instance's trust sets (CA certificates of tls_client_auth clients and machine users).")
		if _, err := cmd.parse(args, 0, 0); err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.TrustSets.ListTrustSets(ctx, connect.NewRequest(&trustsetv1.ListTrustSetsRequest{}))
		if err != nil {
			return err
		}
		return printTrustSets(s, resp.Msg.GetTrustSets()...)
	case "get":
		cmd := s.command(path, "ID", "Prints a trust set as JSON, with its PEM certificates and CRLs.")
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.TrustSets.GetTrustSet(ctx, connect.NewRequest(&trustsetv1.GetTrustSetRequest{TrustSetId: a[0]}))
		if err != nil {
			return err
		}
		return s.printJSON(resp.Msg.GetTrustSet())
	case "create":
		cmd := s.command(path, "NAME CA_FILE", "Creates a trust set of the PEM CA certificates in CA_FILE (at most 50); needs instance.write.")
		crls := cmd.fs.String("crls", "", "`FILE` of PEM CRLs, each signed by a certificate of the set")
		def := cmd.fs.Bool("default", false, "make it the instance's default set")
		a, err := cmd.parse(args, 2, 2)
		if err != nil {
			return err
		}
		req := &trustsetv1.CreateTrustSetRequest{Name: a[0], Default: *def}
		if req.Certificates, err = readPEMFile("CA_FILE", a[1]); err != nil {
			return err
		}
		if *crls != "" {
			if req.Crls, err = readPEMFile("--crls", *crls); err != nil {
				return err
			}
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		resp, err := api.TrustSets.CreateTrustSet(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		return printTrustSets(s, resp.Msg.GetTrustSet())
	case "update":
		cmd := s.command(path, "ID", "Changes a trust set: each flag given replaces its part, the rest stays; every replica uses the change within a second.")
		newName := cmd.fs.String("name", "", "the new `NAME`")
		certs := cmd.fs.String("certificates", "", "`FILE` of the PEM CA certificates replacing the set's")
		crls := cmd.fs.String("crls", "", "`FILE` of the PEM CRLs replacing the set's")
		noCRLs := cmd.fs.Bool("no-crls", false, "remove the set's CRLs")
		def := cmd.fs.String("default", "", "`true` to make it the default set, false to make it not")
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		if *crls != "" && *noCRLs {
			return fmt.Errorf("%s: --crls and --no-crls exclude each other", path)
		}
		if *def != "" && *def != "true" && *def != "false" {
			return fmt.Errorf("%s: --default must be true or false, not %q", path, *def)
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		current, err := api.TrustSets.GetTrustSet(ctx, connect.NewRequest(&trustsetv1.GetTrustSetRequest{TrustSetId: a[0]}))
		if err != nil {
			return err
		}
		t := current.Msg.GetTrustSet()
		req := &trustsetv1.UpdateTrustSetRequest{TrustSetId: t.GetId(), Name: t.GetName(), Certificates: t.GetCertificates(), Crls: t.GetCrls(), Default: t.GetDefault()}
		if *newName != "" {
			req.Name = *newName
		}
		if *certs != "" {
			if req.Certificates, err = readPEMFile("--certificates", *certs); err != nil {
				return err
			}
		}
		switch {
		case *crls != "":
			if req.Crls, err = readPEMFile("--crls", *crls); err != nil {
				return err
			}
		case *noCRLs:
			req.Crls = ""
		}
		if *def != "" {
			req.Default = *def == "true"
		}
		resp, err := api.TrustSets.UpdateTrustSet(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		return printTrustSets(s, resp.Msg.GetTrustSet())
	case "delete":
		cmd := s.command(path, "ID", "Deletes a trust set; clients that name it can no longer authenticate with a certificate.")
		a, err := cmd.parse(args, 1, 1)
		if err != nil {
			return err
		}
		api, err := cmd.client()
		if err != nil {
			return err
		}
		_, err = api.TrustSets.DeleteTrustSet(ctx, connect.NewRequest(&trustsetv1.DeleteTrustSetRequest{TrustSetId: a[0]}))
		return err
	default:
		return errUnknownCommand
	}
}
