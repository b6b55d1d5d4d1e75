package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"connectrpc.com/connect"

	"github.com/castellan-iam/castellan/client"
	orgv1 "github.com/castellan-iam/castellan/gen/castellan/org/v1"
	systemv1 "github.com/castellan-iam/castellan/gen/castellan/system/v1"
)

// List the organizations of an instance, page by page.
func ExampleClient_listOrganizations() {
	// The server's URL and a personal access token of an administrator;
	// here a test server's.
	baseURL, token := server.URL, server.AdminToken

	c, err := client.New(baseURL, client.WithToken(token))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	req := &orgv1.ListOrganizationsRequest{PageSize: 100}
	for {
		resp, err := c.Organizations.ListOrganizations(ctx, connect.NewRequest(req))
		if err != nil {
			log.Fatal(err)
		}
		for _, o := range resp.Msg.GetOrganizations() {
			fmt.Println(o.GetName(), o.GetState())
		}
		if req.PageToken = resp.Msg.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	// Output:
	// First ORGANIZATION_STATE_ACTIVE
}

// A request the server refuses names the fields at fault.
func ExampleAsError() {
	c, err := client.New(server.URL, client.WithToken(server.AdminToken))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.Organizations.CreateOrganization(context.Background(), connect.NewRequest(&orgv1.CreateOrganizationRequest{Name: " "}))
	if e, ok := client.AsError(err); ok {
		fmt.Println(e.Code)
		for _, v := range e.FieldViolations {
			fmt.Printf("%s: %s\n", v.Field, v.Description)
		}
	}
	// Output:
	// invalid_argument
	// name: an organization name has 1 to 200 characters
}

// The server serves an instance by the host a request names; WithHost names
// another than the base URL's.
func ExampleWithHost() {
	c, err := client.New(server.URL, client.WithHost("auth.example.net"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.System.GetInstance(context.Background(), connect.NewRequest(&systemv1.GetInstanceRequest{}))
	if noInstance := (*client.NoInstanceError)(nil); errors.As(err, &noInstance) {
		fmt.Println(err)
		fmt.Println("host:", noInstance.Host)
	}
	// Output:
	// not_found: no instance serves auth.example.net
	// host: auth.example.net
}
