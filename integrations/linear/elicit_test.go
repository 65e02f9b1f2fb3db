package linear

import (
	"context"
	"testing"
)

func TestChosenRepository(t *testing.T) {
	a := &App{repos: installed{"org acme/shop": 1, "org acme/api": 1, "org other/api": 2, "elsewhere acme/secret": 3}}
	for answer, want := range map[string]string{
		"acme/shop":                           "acme/shop",
		"Use acme/shop please.":               "acme/shop",
		"`acme/api`":                          "acme/api",
		"https://github.com/acme/shop/pull/3": "acme/shop",
		"<https://github.com/acme/api>":       "acme/api",
		"shop":                                "acme/shop",
		"api":                                 "", // two installed repositories are called api
		"acme/secret":                         "", // installed, but for another org
		"otherco/private":                     "",
		"":                                    "",
		"the first one":                       "",
	} {
		got, err := a.chosenRepository(context.Background(), "org", answer)
		if err != nil || got != want {
			t.Errorf("answer %q: %q, %v; want %q", answer, got, err, want)
		}
	}
}
