package userapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	userv1 "github.com/castellan-iam/castellan/gen/castellan/user/v1"
	"github.com/castellan-iam/castellan/internal/api"
	"github.com/castellan-iam/castellan/internal/api/apitest"
	"github.com/castellan-iam/castellan/internal/api/userapi"
	"github.com/castellan-iam/castellan/internal/app"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/authn"
	"github.com/castellan-iam/castellan/internal/database/dbtest"
	"github.com/castellan-iam/castellan/internal/eventstore"
	"github.com/castellan-iam/castellan/internal/org"
	"github.com/castellan-iam/castellan/internal/user"
	"github.com/castellan-iam/castellan/internal/userschema"
	"github.com/castellan-iam/castellan/internal/usertype"
)

func pngOf(t *testing.T, side int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, side, side))
	for x := range side {
		for y := range side {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// avatarOf reads the user's avatar_url trait as an administrator sees it.
func avatarOf(t *testing.T, env *apitest.Env, userID string) string {
	t.Helper()
	u, err := user.Get(ctx, env.App.DB, env.InstanceID, userID, userschema.Admin)
	if err != nil {
		t.Fatal(err)
	}
	var traits struct {
		Profile struct {
			AvatarURL string `json:"avatar_url"`
		} `json:"profile"`
	}
	if len(u.Traits) > 0 {
		if err := json.Unmarshal(u.Traits, &traits); err != nil {
			t.Fatal(err)
		}
	}
	return traits.Profile.AvatarURL
}

func TestAvatars(t *testing.T) { dbtest.Each(t, testAvatars) }

func testAvatars(t *testing.T, src dbtest.Source) {
	env := apitest.StartOn(t, src, func(a *app.App, auth *authn.Authenticator) []api.Service {
		return []api.Service{userapi.NewService(a.Store, a.UserCommands(), auth, a.Keys, sent.send).WithAssets(a.Assets(), a.Config.ExternalURL)}
	})
	c := client(env)
	alice := createUser(t, env, env.OrgID, "human", "alice")
	pic := pngOf(t, 16, color.RGBA{R: 200, A: 255})

	// An administrator uploads Alice's avatar: stored, and her picture
	// field holds its URL on the instance's own host.
	set, err := c.SetUserAvatar(ctx, as(env.AdminToken, &userv1.SetUserAvatarRequest{UserId: alice, Data: pic}))
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "http://localhost/ui/assets/" + asset.IDOf(pic)
	if set.Msg.GetAssetId() != asset.IDOf(pic) || set.Msg.GetContentType() != asset.TypePNG || set.Msg.GetUrl() != wantURL {
		t.Fatalf("SetUserAvatar: %v", set.Msg)
	}
	if got := avatarOf(t, env, alice); got != wantURL {
		t.Fatalf("avatar_url = %q, want %q", got, wantURL)
	}
	stored, err := env.App.Assets().Get(ctx, env.InstanceID, set.Msg.GetAssetId())
	if err != nil || !bytes.Equal(stored.Data, pic) || stored.ContentType != asset.TypePNG {
		t.Fatalf("stored asset: %v %v", stored.ContentType, err)
	}
	// The change is the traits update, recorded as an event by the admin.
	events, err := env.App.Store.Query(ctx, eventstore.Filter{InstanceID: env.InstanceID, AggregateIDs: []string{alice}, EventTypes: []string{"user.traits.updated"}})
	if err != nil || len(events) != 1 || events[0].Editor.UserID != env.AdminID {
		t.Fatalf("traits events: %+v %v", events, err)
	}
	if p, ok := events[0].Payload.(*user.TraitsUpdated); !ok || !strings.Contains(string(p.Traits), wantURL) {
		t.Fatalf("traits event payload: %#v", events[0].Payload)
	}

	// Through REST: PUT with base64 data, then GetUser shows the URL.
	pic2 := pngOf(t, 8, color.RGBA{B: 200, A: 255})
	body, _ := json.Marshal(map[string]string{"data": base64.StdEncoding.EncodeToString(pic2)})
	req, _ := http.NewRequest(http.MethodPut, env.URL+"/v1/users/"+alice+"/avatar", bytes.NewReader(body))
	req.Header.Set("Authorization", apitest.Bearer(env.AdminToken))
	req.Header.Set("Content-Type", "application/json")
	resp, err := env.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var restSet struct {
		URL string `json:"url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&restSet)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || restSet.URL != "http://localhost/ui/assets/"+asset.IDOf(pic2) {
		t.Fatalf("REST PUT avatar: %d %+v %v", resp.StatusCode, restSet, err)
	}
	got, err := c.GetUser(ctx, as(env.AdminToken, &userv1.GetUserRequest{UserId: alice}))
	if err != nil || got.Msg.GetUser().GetTraits().GetFields()["profile"].GetStructValue().GetFields()["avatar_url"].GetStringValue() != restSet.URL {
		t.Fatalf("GetUser after REST PUT: %v %v", got, err)
	}

	// Refusals name data and store nothing.
	oversize := append(pngOf(t, 4, color.White), make([]byte, asset.MaxImageBytes)...)
	for name, data := range map[string][]byte{
		"svg":      []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`),
		"oversize": oversize,
		"garbage":  []byte("not an image at all"),
		"empty":    nil,
		"font":     append([]byte("wOF2"), make([]byte, 100)...),
	} {
		t.Run("fail/"+name, func(t *testing.T) {
			_, err := c.SetUserAvatar(ctx, as(env.AdminToken, &userv1.SetUserAvatarRequest{UserId: alice, Data: data}))
			wantField(t, err, "data")
			if _, err := env.App.Assets().Get(ctx, env.InstanceID, asset.IDOf(data)); err == nil {
				t.Fatal("a refused upload was stored")
			}
		})
	}
	if got := avatarOf(t, env, alice); got != restSet.URL {
		t.Fatalf("refusals changed the avatar to %q", got)
	}

	// Another organization's administrator sees no such user; a user
	// without user.write in Alice's organization may not set it.
	orgB, err := org.NewCommands(env.App.Store, org.NewVerifier()).Create(ctx, eventstore.SystemEditor, env.InstanceID, "Globex")
	if err != nil {
		t.Fatal(err)
	}
	bAdmin := createUser(t, env, orgB, "human", "globex-admin")
	env.GrantOrg(t, orgB, bAdmin, "org.owner")
	bTok := env.Token(t, bAdmin, orgB)
	_, err = c.SetUserAvatar(ctx, as(bTok, &userv1.SetUserAvatarRequest{UserId: alice, Data: pic}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = c.RemoveUserAvatar(ctx, as(bTok, &userv1.RemoveUserAvatarRequest{UserId: alice}))
	wantCode(t, err, connect.CodeNotFound)
	bob := createUser(t, env, env.OrgID, "human", "bob")
	bobTok := env.Token(t, bob, env.OrgID)
	_, err = c.SetUserAvatar(ctx, as(bobTok, &userv1.SetUserAvatarRequest{UserId: alice, Data: pic}))
	if code := connect.CodeOf(err); code != connect.CodeNotFound && code != connect.CodePermissionDenied {
		t.Fatalf("a plain user setting another's avatar: %v", err)
	}
	_, err = c.SetUserAvatar(ctx, as("", &userv1.SetUserAvatarRequest{UserId: alice, Data: pic}))
	wantCode(t, err, connect.CodeUnauthenticated)
	if got := avatarOf(t, env, alice); got != restSet.URL {
		t.Fatalf("refused callers changed the avatar to %q", got)
	}

	// Bob sets and removes his own: the human type lets self write it.
	mine, err := c.SetMyAvatar(ctx, as(bobTok, &userv1.SetMyAvatarRequest{Data: pic}))
	if err != nil || avatarOf(t, env, bob) != wantURL || mine.Msg.GetUrl() != wantURL {
		t.Fatalf("SetMyAvatar: %v %v", mine, err)
	}
	if _, err := c.RemoveMyAvatar(ctx, as(bobTok, &userv1.RemoveMyAvatarRequest{})); err != nil || avatarOf(t, env, bob) != "" {
		t.Fatalf("RemoveMyAvatar: %v, avatar %q", err, avatarOf(t, env, bob))
	}
	// The administrator removes Alice's; her other traits stay.
	if _, err := c.UpdateUser(ctx, as(env.AdminToken, &userv1.UpdateUserRequest{UserId: alice,
		Traits: traits(t, map[string]any{"profile": map[string]any{"given_name": "Alice"}})})); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveUserAvatar(ctx, as(env.AdminToken, &userv1.RemoveUserAvatarRequest{UserId: alice})); err != nil {
		t.Fatal(err)
	}
	u, err := user.Get(ctx, env.App.DB, env.InstanceID, alice, userschema.Admin)
	if err != nil || avatarOf(t, env, alice) != "" || !strings.Contains(string(u.Traits), `"given_name":"Alice"`) {
		t.Fatalf("after RemoveUserAvatar: %s %v", u.Traits, err)
	}

	// A type whose picture field self may only read: self is refused
	// before anything is stored, the administrator is not.
	readOnly := `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
  "permission": {"self": "r", "admin": "rw"}, "properties": {"photo": {"type": "string", "format": "uri", "oidcClaim": "picture"}}}`
	if _, err := usertype.NewCommands(env.App.Store).Create(ctx, eventstore.SystemEditor, env.InstanceID, "badge", []byte(readOnly)); err != nil {
		t.Fatal(err)
	}
	badge, err := user.NewCommands(env.App.Store, env.App.Hasher).Create(ctx, eventstore.SystemEditor, env.InstanceID,
		user.New{OrgID: env.OrgID, Type: "badge", LoginName: "badge-1", Password: "a good password 1"})
	if err != nil {
		t.Fatal(err)
	}
	pic3 := pngOf(t, 5, color.RGBA{G: 200, A: 255})
	_, err = c.SetMyAvatar(ctx, as(env.Token(t, badge, env.OrgID), &userv1.SetMyAvatarRequest{Data: pic3}))
	wantCode(t, err, connect.CodePermissionDenied)
	if _, err := env.App.Assets().Get(ctx, env.InstanceID, asset.IDOf(pic3)); err == nil {
		t.Fatal("a refused self upload was stored")
	}
	if _, err := c.SetUserAvatar(ctx, as(env.AdminToken, &userv1.SetUserAvatarRequest{UserId: badge, Data: pic3})); err != nil {
		t.Fatal(err)
	}
	b, err := user.Get(ctx, env.App.DB, env.InstanceID, badge, userschema.Admin)
	if err != nil || string(b.Traits) != `{"photo":"http://localhost/ui/assets/`+asset.IDOf(pic3)+`"}` {
		t.Fatalf("badge traits: %s %v", b.Traits, err)
	}

	// A type without a picture field: FailedPrecondition naming the claim.
	robot := createUser(t, env, env.OrgID, "machine", "robot")
	_, err = c.SetUserAvatar(ctx, as(env.AdminToken, &userv1.SetUserAvatarRequest{UserId: robot, Data: pic}))
	ce := wantCode(t, err, connect.CodeFailedPrecondition)
	if !strings.Contains(ce.Message(), `"picture"`) || !strings.Contains(ce.Message(), `"machine"`) {
		t.Fatalf("message %q names neither the claim nor the type", ce.Message())
	}
	_, err = c.RemoveUserAvatar(ctx, as(env.AdminToken, &userv1.RemoveUserAvatarRequest{UserId: robot}))
	wantCode(t, err, connect.CodeFailedPrecondition)
}
