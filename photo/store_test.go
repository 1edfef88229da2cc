package photo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// A photo's name is synced into its directory before Put returns, so that
// a machine that goes down right after does not lose a photo whose row was
// committed; photos put at once share the directory's syncs.
func TestPutSyncsTheDirectory(t *testing.T) {
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := d.Put(ctx, "aaaaaaaaaaaaaaaaaaaaaaaa.jpg", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if n := d.syncs.Load(); n != 1 {
		t.Fatalf("%d directory syncs after one photo, want 1", n)
	}
	const many = 32
	var wg sync.WaitGroup
	errs := make(chan error, many)
	for i := range many {
		wg.Go(func() { errs <- d.Put(ctx, fmt.Sprintf("b%023d.jpg", i), []byte("two")) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := d.syncs.Load() - 1; n < 1 || n > many {
		t.Fatalf("%d directory syncs for %d photos put at once, want between 1 and %d", n, many, many)
	}
	names, err := os.ReadDir(d.Path)
	if err != nil || len(names) != many+1 {
		t.Fatalf("%d files (%v), want %d and no temporary one left", len(names), err, many+1)
	}
	if _, err := os.Stat(filepath.Join(d.Path, "b00000000000000000000031.jpg")); err != nil {
		t.Fatal(err)
	}
}

// A Put that fails leaves nothing behind in the directory, and one that
// succeeds leaves only its photo: no temporary file either way.
func TestPutLeavesOnlyThePhoto(t *testing.T) {
	dir := t.TempDir()
	d, err := NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A directory where the photo would go makes the rename fail.
	blocked := "bbbbbbbbbbbbbbbbbbbbbbbb.jpg"
	if err := os.Mkdir(filepath.Join(dir, blocked), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, blocked, []byte("photo")); err == nil {
		t.Fatal("Put over a directory succeeded")
	}
	if err := d.Put(ctx, "cccccccccccccccccccccccc.jpg", []byte("photo")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{blocked, "cccccccccccccccccccccccc.jpg"}; fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("the directory holds %q, want %q", names, want)
	}
	if b, err := d.Get(ctx, "cccccccccccccccccccccccc.jpg"); err != nil || string(b) != "photo" {
		t.Fatalf("Get: %q, %v", b, err)
	}
}
