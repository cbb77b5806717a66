// govc with the command packages the interop tests use; govc's own
// main.go (govmomi v0.24.2) imports every command package the same way.
// See build.sh for why only these are here.
package main

import (
	"os"

	_ "github.com/vmware/govmomi/govc/about"
	"github.com/vmware/govmomi/govc/cli"
	_ "github.com/vmware/govmomi/govc/datastore"
	_ "github.com/vmware/govmomi/govc/ls"
	_ "github.com/vmware/govmomi/govc/vm"
)

func main() {
	os.Exit(cli.Run(os.Args[1:]))
}
