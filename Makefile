# Castellan builds and tests with plain `go` commands (scripts/test runs every
# check). This Makefile holds what needs pinned tools beyond Go: generating
# the API code from proto/. See docs/api.md.
#
#   make proto       format and lint proto/, then regenerate gen/ from it
#   make tools       install the pinned generators into bin/tools
#   make googleapis  refresh the vendored proto/google/api files from npm
#   make screenshots regenerate docs/screenshots (the hosted login in
#                    Chromium; needs what the browser tests need, see README)

# Generator versions. protoc-gen-go and protoc-gen-connect-go must equal the
# google.golang.org/protobuf and connectrpc.com/connect versions in go.mod;
# `make proto` checks that.
BUF_VERSION                        := v1.75.0
PROTOC_GEN_GO_VERSION              := v1.36.12
PROTOC_GEN_CONNECT_GO_VERSION      := v1.21.1
PROTOC_GEN_CONNECT_OPENAPI_VERSION := v0.25.7
GOOGLE_PROTO_FILES_VERSION         := 6.0.1

# Each tool lives in a directory named by its version, so changing a version
# above installs that version on the next run. bin/ is gitignored.
TOOLS                      := bin/tools
BUF                        := $(TOOLS)/buf-$(BUF_VERSION)/buf
PROTOC_GEN_GO              := $(TOOLS)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)/protoc-gen-go
PROTOC_GEN_CONNECT_GO      := $(TOOLS)/protoc-gen-connect-go-$(PROTOC_GEN_CONNECT_GO_VERSION)/protoc-gen-connect-go
PROTOC_GEN_CONNECT_OPENAPI := $(TOOLS)/protoc-gen-connect-openapi-$(PROTOC_GEN_CONNECT_OPENAPI_VERSION)/protoc-gen-connect-openapi
PLUGINS                    := $(PROTOC_GEN_GO) $(PROTOC_GEN_CONNECT_GO) $(PROTOC_GEN_CONNECT_OPENAPI)

# buf finds the `local:` plugins of proto/buf.gen.yaml on PATH; ours go first.
empty :=
space := $(empty) $(empty)
PLUGIN_PATH := $(subst $(space),:,$(foreach p,$(PLUGINS),$(abspath $(dir $(p)))))

.PHONY: proto tools googleapis check-generator-versions screenshots

proto: check-generator-versions $(BUF) $(PLUGINS)
	$(BUF) format --write --path proto/castellan proto
	$(BUF) lint proto
	rm -rf gen/castellan gen/openapi/castellan.openapi.json
	PATH="$(PLUGIN_PATH):$$PATH" $(BUF) generate --template proto/buf.gen.yaml

tools: $(BUF) $(PLUGINS)

# Generated code must match the runtime libraries it is compiled against.
check-generator-versions:
	@test "$$(go list -m -f '{{.Version}}' google.golang.org/protobuf)" = "$(PROTOC_GEN_GO_VERSION)" || \
		{ echo "PROTOC_GEN_GO_VERSION $(PROTOC_GEN_GO_VERSION) differs from google.golang.org/protobuf in go.mod" >&2; exit 1; }
	@test "$$(go list -m -f '{{.Version}}' connectrpc.com/connect)" = "$(PROTOC_GEN_CONNECT_GO_VERSION)" || \
		{ echo "PROTOC_GEN_CONNECT_GO_VERSION $(PROTOC_GEN_CONNECT_GO_VERSION) differs from connectrpc.com/connect in go.mod" >&2; exit 1; }

# go_install installs package $(2) at version $(3) into directory $(1). It
# resolves the version in a scratch module rather than with
# `go install pkg@version`, which also asks the module proxy for the module's
# version list (for deprecation notices) and fails where a proxy serves exact
# versions only. The scratch module's requirements come from the tool's own
# go.mod, as with `go install pkg@version`; go.sum checks go through the
# checksum database as usual.
define go_install
	rm -rf $(1).mod && mkdir -p $(1).mod
	cd $(1).mod && export GOWORK=off GOFLAGS=-buildvcs=false && \
		go mod init castellan.tools >/dev/null 2>&1 && \
		go get $(2)@$(3) && \
		GOBIN=$(abspath $(1)) go install $(2)
	rm -rf $(1).mod
endef

$(BUF):
	$(call go_install,$(@D),github.com/bufbuild/buf/cmd/buf,$(BUF_VERSION))

$(PROTOC_GEN_GO):
	$(call go_install,$(@D),google.golang.org/protobuf/cmd/protoc-gen-go,$(PROTOC_GEN_GO_VERSION))

$(PROTOC_GEN_CONNECT_GO):
	$(call go_install,$(@D),connectrpc.com/connect/cmd/protoc-gen-connect-go,$(PROTOC_GEN_CONNECT_GO_VERSION))

$(PROTOC_GEN_CONNECT_OPENAPI):
	$(call go_install,$(@D),github.com/sudorandom/protoc-gen-connect-openapi,$(PROTOC_GEN_CONNECT_OPENAPI_VERSION))

# The google.api.http annotation files are vendored under proto/google/api
# (buf.build is out of reach); this copies them from the pinned npm package.
googleapis:
	rm -rf $(TOOLS)/google-proto-files && mkdir -p $(TOOLS)/google-proto-files
	cd $(TOOLS)/google-proto-files && \
		npm pack --silent google-proto-files@$(GOOGLE_PROTO_FILES_VERSION) >/dev/null && \
		tar -xzf google-proto-files-$(GOOGLE_PROTO_FILES_VERSION).tgz
	cp $(TOOLS)/google-proto-files/package/google/api/annotations.proto \
		$(TOOLS)/google-proto-files/package/google/api/http.proto proto/google/api/
	rm -rf $(TOOLS)/google-proto-files

# The hosted login's screens, light and dark, English and German, taken by
# e2e/browser/screenshots.mjs in Debian's Chromium against a fresh server
# (TestScreenshots in e2e/screenshots_test.go). CI=true: fail rather than
# skip when Chromium, Node.js or the node packages are missing.
screenshots:
	CI=true go test ./e2e -run '^TestScreenshots$$' -count=1 -screenshots=$(CURDIR)/docs/screenshots
