//go:build tools

// Tools and libraries that later code depends on, pinned here so go.mod keeps
// them while the packages that import them are written.
package tools

import (
	_ "github.com/Khan/genqlient/generate"
	_ "github.com/bradleyfalzon/ghinstallation/v2"
	_ "github.com/google/go-github/v62/github"
	_ "github.com/ory/fosite"
	_ "golang.org/x/oauth2"
	_ "golang.org/x/sync/singleflight"
)
