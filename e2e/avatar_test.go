package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A user uploads its avatar through the REST API; its picture field names
// the asset, which the login serves to anyone with the sniffed type.
func TestAvatarUploadIsServedByTheLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		p := start(t, b.env)
		token, stderr, err := castellan(t, b.env, "tokens", "create", "admin", "1h")
		token = strings.TrimSpace(token)
		if err != nil || !strings.HasPrefix(token, "cst_") {
			t.Fatalf("tokens create: %q %v\n%s", token, err, stderr)
		}
		img := image.NewRGBA(image.Rect(0, 0, 12, 12))
		for i := range 12 {
			img.Set(i, i, color.RGBA{R: 255, A: 255})
		}
		var pic bytes.Buffer
		if err := png.Encode(&pic, img); err != nil {
			t.Fatal(err)
		}
		call := func(method, path string, body any) *http.Response {
			t.Helper()
			var r io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				r = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, p.url+path, r)
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		resp := call(http.MethodPut, "/v1/me/avatar", map[string]string{"data": base64.StdEncoding.EncodeToString(pic.Bytes())})
		var set struct {
			AssetID     string `json:"assetId"`
			ContentType string `json:"contentType"`
			URL         string `json:"url"`
		}
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || set.ContentType != "image/png" || !strings.HasSuffix(set.URL, "/ui/assets/"+set.AssetID) {
			t.Fatalf("PUT /v1/me/avatar: %d %+v %v", resp.StatusCode, set, err)
		}
		resp = call(http.MethodGet, "/v1/me", nil)
		var me struct {
			User struct {
				Traits struct {
					Profile struct {
						AvatarURL string `json:"avatar_url"`
					} `json:"profile"`
				} `json:"traits"`
			} `json:"user"`
		}
		err = json.NewDecoder(resp.Body).Decode(&me)
		resp.Body.Close()
		if err != nil || me.User.Traits.Profile.AvatarURL != set.URL {
			t.Fatalf("GET /v1/me: avatar_url %q, want %q (%v)", me.User.Traits.Profile.AvatarURL, set.URL, err)
		}

		// The URL, on the instance's own host, is served without
		// credentials, as admitted.
		if !strings.HasPrefix(set.URL, p.url+"/") {
			t.Fatalf("avatar URL %q is not on %s", set.URL, p.url)
		}
		got, err := http.Get(set.URL)
		if err != nil {
			t.Fatal(err)
		}
		served, _ := io.ReadAll(got.Body)
		got.Body.Close()
		if got.StatusCode != http.StatusOK || got.Header.Get("Content-Type") != "image/png" || got.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!bytes.Equal(served, pic.Bytes()) {
			t.Fatalf("GET %s: %d %v, %d bytes", set.URL, got.StatusCode, got.Header, len(served))
		}

		// An SVG is refused, naming data.
		resp = call(http.MethodPut, "/v1/me/avatar", map[string]string{"data": base64.StdEncoding.EncodeToString([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`))})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"data"`) {
			t.Fatalf("PUT an SVG: %d %s", resp.StatusCode, body)
		}
		// The CLI sets and clears an administered user's picture.
		file := filepath.Join(t.TempDir(), "me.png")
		if err := os.WriteFile(file, pic.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		client := []string{"CASTELLAN_URL=" + p.url, "CASTELLAN_TOKEN=" + token}
		resp = call(http.MethodGet, "/v1/me", nil)
		var meID struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		}
		err = json.NewDecoder(resp.Body).Decode(&meID)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, stderr, err := castellan(t, client, "users", "set-avatar", meID.User.ID, file)
		if err != nil || strings.TrimSpace(out) != set.URL {
			t.Fatalf("users set-avatar: %q %v\n%s", out, err, stderr)
		}
		if _, stderr, err := castellan(t, client, "users", "set-avatar", meID.User.ID, "/dev/null"); err == nil || !strings.Contains(stderr, "data") {
			t.Fatalf("users set-avatar of an empty file: %v\n%s", err, stderr)
		}
		if _, stderr, err := castellan(t, client, "users", "remove-avatar", meID.User.ID); err != nil {
			t.Fatalf("users remove-avatar: %v\n%s", err, stderr)
		}
		resp = call(http.MethodGet, "/v1/me", nil)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "avatar_url") {
			t.Fatalf("after users remove-avatar: %s", body)
		}
		if _, stderr, err := castellan(t, client, "users", "set-avatar", meID.User.ID, file); err != nil {
			t.Fatalf("users set-avatar again: %v\n%s", err, stderr)
		}

		// Removing it clears the field.
		resp = call(http.MethodDelete, "/v1/me/avatar", nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE /v1/me/avatar: %d", resp.StatusCode)
		}
		resp = call(http.MethodGet, "/v1/me", nil)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "avatar_url") {
			t.Fatalf("after DELETE: %s", body)
		}
	})
}
