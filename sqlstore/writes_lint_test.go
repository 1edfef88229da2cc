package sqlstore

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWritesGoThroughTheWriter reads the store's source for statements that
// write (INSERT, UPDATE, DELETE) run on the read pool, d.db. On SQLite such
// a statement waits for the writer's lock in SQLite's sleeping busy handler
// (the garage sweeps waited 465 ms under load) and then holds up the
// writer's next batch; it must go through d.exec, d.writeRow(s) or d.tx.
// Only the start-up backfills, which run before the writer exists, may.
func TestWritesGoThroughTheWriter(t *testing.T) {
	allowed := map[string]bool{"fillCodeSets": true, "fillRecipientNames": true}
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || allowed[fn.Name.Name] {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !onReadPool(call) {
					return true
				}
				for _, a := range call.Args {
					for b, ok := a.(*ast.BinaryExpr); ok && b.Op == token.ADD; b, ok = a.(*ast.BinaryExpr) {
						a = b.X // a query built by +: its first part
					}
					if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						q, _ := strconv.Unquote(lit.Value)
						verb := strings.ToUpper(strings.Fields(q + " x")[0])
						if verb == "INSERT" || verb == "UPDATE" || verb == "DELETE" {
							t.Errorf("%s: %s runs %s on the read pool", fset.Position(call.Pos()), fn.Name.Name, verb)
						}
					}
				}
				return true
			})
		}
	}
}

// onReadPool says whether call is d.db.<something>(…) or takes d.db as an
// argument (queryStrings(ctx, d.db, …)).
func onReadPool(call *ast.CallExpr) bool {
	isDB := func(e ast.Expr) bool {
		s, ok := e.(*ast.SelectorExpr)
		if !ok || s.Sel.Name != "db" {
			return false
		}
		id, ok := s.X.(*ast.Ident)
		return ok && id.Name == "d"
	}
	if s, ok := call.Fun.(*ast.SelectorExpr); ok && isDB(s.X) {
		return true
	}
	for _, a := range call.Args {
		if isDB(a) {
			return true
		}
	}
	return false
}
