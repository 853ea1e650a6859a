package model

import (
	_ "embed"
	"sync"
)

// defaultTreesJSON is the embedded default model: gradient-boosted trees
// (150 rounds, depth 5) trained by scorer train on the default features of
// the public Sparkov training log up to 2020-01-01, validated on its last
// fifth; docs/MODELS.md gives the commands and its figures on 2020.
//
//go:embed default_trees.json
var defaultTreesJSON []byte

var defaultTrees = sync.OnceValue(func() *Trees {
	t, err := ParseTrees(defaultTreesJSON)
	if err != nil {
		panic("model: embedded default_trees.json: " + err.Error())
	}
	return t
})

// Default returns the embedded default model (default_trees.json), parsed
// once and shared: a model is safe for concurrent use and never changes.
// It panics only if the embedded file is invalid, which the tests rule
// out.
func Default() *Trees { return defaultTrees() }
