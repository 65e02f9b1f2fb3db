// Sub-folders of embedded migration trees.

package sqldb

import "io/fs"

// MustSub returns the sub-tree dir of fsys; it panics on a bad literal path,
// which is a programming error caught by any test.
func MustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
