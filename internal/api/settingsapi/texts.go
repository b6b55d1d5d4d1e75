package settingsapi

import (
	"context"

	"connectrpc.com/connect"

	settingsv1 "github.com/castellan-iam/castellan/gen/castellan/settings/v1"
	"github.com/castellan-iam/castellan/internal/settings"
)

// SetTextSettings sets a level's own texts of the login and its emails.
func (s *Service) SetTextSettings(ctx context.Context, req *connect.Request[settingsv1.SetTextSettingsRequest]) (*connect.Response[settingsv1.SetTextSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) { return textsFromProto(req.Msg.GetTexts()) })
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetTextSettingsResponse{}), nil
}

// ListTextKeys lists the keys texts may replace.
func (s *Service) ListTextKeys(ctx context.Context, req *connect.Request[settingsv1.ListTextKeysRequest]) (*connect.Response[settingsv1.ListTextKeysResponse], error) {
	// The keys are the catalogues' and no secret: any caller may list
	// them (an organization's owner writes texts, and holds no instance
	// permission).
	if _, err := s.auth.Caller(ctx, req.Header()); err != nil {
		return nil, err
	}
	out := &settingsv1.ListTextKeysResponse{}
	for _, k := range settings.TextKeys() {
		o, _ := settings.TextOriginal(k)
		out.Keys = append(out.Keys, &settingsv1.TextKey{Key: k, Original: o})
	}
	return connect.NewResponse(out), nil
}

// SetEmbeddingSettings sets the origins that may frame the login.
func (s *Service) SetEmbeddingSettings(ctx context.Context, req *connect.Request[settingsv1.SetEmbeddingSettingsRequest]) (*connect.Response[settingsv1.SetEmbeddingSettingsResponse], error) {
	err := s.set(ctx, req.Header(), req.Msg.GetOrganizationId(), func() (settings.Value, error) {
		if req.Msg.GetEmbedding() == nil {
			return nil, required("embedding")
		}
		return settings.Embedding{FrameAncestors: req.Msg.GetEmbedding().GetFrameAncestors()}, nil
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&settingsv1.SetEmbeddingSettingsResponse{}), nil
}

func textsFromProto(p *settingsv1.TextSettings) (settings.Value, error) {
	if p == nil {
		return nil, required("texts")
	}
	t := settings.Texts{Languages: map[string]map[string]string{}}
	for lang, texts := range p.GetLanguages() {
		t.Languages[lang] = texts.GetTexts()
	}
	return t, nil
}

func textsToProto(t settings.Texts) *settingsv1.TextSettings {
	out := &settingsv1.TextSettings{Languages: map[string]*settingsv1.LanguageTexts{}}
	for lang, texts := range t.Languages {
		out.Languages[lang] = &settingsv1.LanguageTexts{Texts: texts}
	}
	return out
}
