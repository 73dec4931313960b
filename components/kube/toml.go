package kube

import (
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// RenderTOML renders a component's config file with a TOML library, never by
// string concatenation, so values are always quoted and escaped correctly.
func RenderTOML(v any) (string, error) {
	b, err := toml.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("rendering TOML: %w", err)
	}
	return string(b), nil
}
