// Code generation for the Linear GraphQL client (genqlient.yaml).

package linear

//go:generate go run github.com/Khan/genqlient genqlient.yaml
