package kv

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"
)

// TestPrefixesDistinct type-checks prefix.go on its own and checks every
// Prefix constant in it: no two share a byte, and each is in owners (where
// a repeated byte would not compile). A constant added without an entry
// in owners fails here.
func TestPrefixesDistinct(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "prefix.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := new(types.Config).Check("kv", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byByte := map[byte]string{}
	n := 0
	for _, name := range pkg.Scope().Names() {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok || !strings.HasPrefix(name, "Prefix") {
			continue
		}
		n++
		v, ok := constant.Uint64Val(c.Val())
		if !ok || v > 255 {
			t.Errorf("%s = %v is not a byte", name, c.Val())
			continue
		}
		b := byte(v)
		if other, dup := byByte[b]; dup {
			t.Errorf("%s and %s are both %q", other, name, b)
		}
		byByte[b] = name
		if Owner(b) == "" {
			t.Errorf("%s (%q) has no entry in owners", name, b)
		}
	}
	if n == 0 {
		t.Fatal("no Prefix constants found in prefix.go")
	}
	registered := 0
	for i := range owners {
		if owners[i] != "" {
			registered++
		}
	}
	if registered != n {
		t.Errorf("owners lists %d prefixes, prefix.go declares %d constants", registered, n)
	}
}
