//go:build tools

// Tools the build runs: genqlient generates the Linear GraphQL client
// (go generate ./...). Importing it here keeps it in go.mod.
package tools

import _ "github.com/Khan/genqlient/generate"
