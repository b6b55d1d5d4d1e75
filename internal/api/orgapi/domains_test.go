package orgapi_test

import (
	"net/url"
	"testing"

	"connectrpc.com/connect"

	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
)

func TestDomainIsVerifiedOverHTTPAtTheURLTheAPIGives(t *testing.T) {
	f := start(t)
	tok, id := f.AdminToken, f.create(t, "Acme")
	if _, err := f.c.AddOrganizationDomain(ctx, as(tok, &orgv1.AddOrganizationDomainRequest{OrganizationId: id, Domain: "Acme.Example."})); err != nil {
		t.Fatal(err)
	}
	_, err := f.c.VerifyDomain(ctx, as(tok, &orgv1.VerifyDomainRequest{OrganizationId: id, Domain: "acme.example"}))
	wantCode(t, err, connect.CodeFailedPrecondition) // no challenge requested yet

	resp, err := f.c.RequestDomainVerification(ctx, as(tok, &orgv1.RequestDomainVerificationRequest{
		OrganizationId: id, Domain: "acme.example", Method: orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_HTTP,
	}))
	if err != nil {
		t.Fatal(err)
	}
	token, challenge := resp.Msg.GetToken(), resp.Msg.GetHttpUrl()
	if token == "" || challenge != "http://acme.example/.well-known/castellan-challenge/"+token || resp.Msg.GetTxtRecordName() != "" {
		t.Fatalf("challenge: %v", resp.Msg)
	}
	u, err := url.Parse(challenge)
	if err != nil {
		t.Fatal(err)
	}

	_, err = f.c.VerifyDomain(ctx, as(tok, &orgv1.VerifyDomainRequest{OrganizationId: id, Domain: "acme.example"}))
	wantCode(t, err, connect.CodeFailedPrecondition) // nothing published
	f.net.publishFile(u.Host+u.Path, "wrong")
	_, err = f.c.VerifyDomain(ctx, as(tok, &orgv1.VerifyDomainRequest{OrganizationId: id, Domain: "acme.example"}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	f.net.publishFile(u.Host+u.Path, token+"\n")
	if _, err := f.c.VerifyDomain(ctx, as(tok, &orgv1.VerifyDomainRequest{OrganizationId: id, Domain: "acme.example"})); err != nil {
		t.Fatal(err)
	}
	if _, err := f.c.SetPrimaryDomain(ctx, as(tok, &orgv1.SetPrimaryDomainRequest{OrganizationId: id, Domain: "acme.example"})); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.RemoveDomain(ctx, as(tok, &orgv1.RemoveDomainRequest{OrganizationId: id, Domain: "acme.example"}))
	wantCode(t, err, connect.CodeFailedPrecondition) // the primary domain stays

	// The domain policy can now be turned on.
	on := true
	if _, err := f.c.UpdateOrganization(ctx, as(tok, &orgv1.UpdateOrganizationRequest{OrganizationId: id, LoginNameMustBeDomain: &on})); err != nil {
		t.Fatal(err)
	}
	if o := f.get(t, tok, id); !o.GetLoginNameMustBeDomain() || o.GetName() != "Acme" {
		t.Fatalf("domain policy: %v", o)
	}
	noDomain := f.create(t, "Initech")
	_, err = f.c.UpdateOrganization(ctx, as(tok, &orgv1.UpdateOrganizationRequest{OrganizationId: noDomain, LoginNameMustBeDomain: &on}))
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = f.c.UpdateOrganization(ctx, as(tok, &orgv1.UpdateOrganizationRequest{OrganizationId: noDomain}))
	wantCode(t, err, connect.CodeInvalidArgument)

	o := f.get(t, tok, id)
	if o.GetPrimaryDomain() != "acme.example" || len(o.GetDomains()) != 1 {
		t.Fatalf("organization: %v", o)
	}
	d := o.GetDomains()[0]
	if d.GetDomain() != "acme.example" || !d.GetVerified() || !d.GetPrimary() || d.GetVerificationMethod() != orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_HTTP {
		t.Fatalf("domain: %v", d)
	}

	// Another organization may claim the domain, but not prove it as well.
	other := f.create(t, "Globex")
	if _, err := f.c.AddOrganizationDomain(ctx, as(tok, &orgv1.AddOrganizationDomainRequest{OrganizationId: other, Domain: "acme.example"})); err != nil {
		t.Fatal(err)
	}
	resp, err = f.c.RequestDomainVerification(ctx, as(tok, &orgv1.RequestDomainVerificationRequest{
		OrganizationId: other, Domain: "acme.example", Method: orgv1.DomainVerificationMethod_DOMAIN_VERIFICATION_METHOD_DNS,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Msg.GetTxtRecordName() != "_castellan-challenge.acme.example" || resp.Msg.GetHttpUrl() != "" {
		t.Fatalf("DNS challenge: %v", resp.Msg)
	}
	f.net.publishTXT(resp.Msg.GetTxtRecordName(), resp.Msg.GetToken())
	_, err = f.c.VerifyDomain(ctx, as(tok, &orgv1.VerifyDomainRequest{OrganizationId: other, Domain: "acme.example"}))
	wantField(t, err, connect.CodeAlreadyExists, "domain")
	if _, err := f.c.RemoveDomain(ctx, as(tok, &orgv1.RemoveDomainRequest{OrganizationId: other, Domain: "acme.example"})); err != nil {
		t.Fatal(err)
	}
	_, err = f.c.RemoveDomain(ctx, as(tok, &orgv1.RemoveDomainRequest{OrganizationId: other, Domain: "acme.example"}))
	wantCode(t, err, connect.CodeNotFound)
}
