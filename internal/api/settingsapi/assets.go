package settingsapi

import (
	"context"

	"connectrpc.com/connect"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/internal/asset"
	"github.com/castellan-iam/castellan/internal/authz"
	"github.com/castellan-iam/castellan/internal/failure"
	"github.com/castellan-iam/castellan/internal/org"
)

// WithAssets serves UploadAsset from store and checks, when a branding is
// set, that the assets it names are in store.
func (s *Service) WithAssets(store asset.Store) *Service {
	cp := *s
	cp.assets = store
	cp.settings = s.settings.WithAssets(store)
	return &cp
}

// UploadAsset admits and stores a file of the branding.
func (s *Service) UploadAsset(ctx context.Context, req *connect.Request[settingsv1.UploadAssetRequest]) (*connect.Response[settingsv1.UploadAssetResponse], error) {
	orgID := req.Msg.GetOrganizationId()
	caller, err := s.authorize(ctx, req.Header(), authz.SettingsWrite, orgID)
	if err != nil {
		return nil, err
	}
	if orgID != "" {
		if _, err := org.StateOf(ctx, s.store.DB(), caller.InstanceID, orgID); err != nil {
			return nil, err
		}
	}
	if s.assets == nil {
		return nil, failure.FailedPrecondition("this server keeps no assets")
	}
	kind, err := asset.ParseKind(req.Msg.GetKind())
	if err != nil {
		return nil, err
	}
	ct, err := asset.Admit(kind, req.Msg.GetData())
	if err != nil {
		return nil, err
	}
	id, err := s.assets.Put(ctx, caller.InstanceID, ct, req.Msg.GetData())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.UploadAssetResponse{AssetId: id, ContentType: ct}), nil
}
