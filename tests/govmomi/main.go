// A small vSphere client for the interop tests (tests/interop/vsphere.rs),
// written for fakedc over govmomi's client library as Debian ships it
// (golang-github-vmware-govmomi-dev 0.24): the library govc and Terraform's
// vSphere provider are built on. Debian does not ship govc itself, and
// govc's sources are not copied into this repository, so the tests drive the
// same library calls govc makes for about, ls, vm.power, datastore.upload,
// datastore.download and datastore.ls. Built offline in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o govmomi-client .
//
// usage: govmomi-client COMMAND ARGS...  with GOVMOMI_URL (https://host:port/sdk),
// GOVMOMI_USERNAME, GOVMOMI_PASSWORD and GOVMOMI_CA (a PEM file the server's
// certificate must chain to; nothing is ever accepted unverified).
//
//	about                      API type, version, product
//	ls PATH                    children of an inventory path, one path a line
//	power -on|-off VM          power a VM of the default datacenter, waiting for the task
//	upload DATASTORE LOCAL NAME  / download DATASTORE NAME LOCAL   (/folder)
//	dsls DATASTORE             the datastore's top-level file names
//
// Errors go to stderr as the library reports them, exit status 1.
package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func connect(ctx context.Context) (*vim25.Client, error) {
	u, err := soap.ParseURL(os.Getenv("GOVMOMI_URL"))
	if err != nil {
		return nil, err
	}
	sc := soap.NewClient(u, false)
	if err := sc.SetRootCAs(os.Getenv("GOVMOMI_CA")); err != nil {
		return nil, err
	}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, err
	}
	user := url.UserPassword(os.Getenv("GOVMOMI_USERNAME"), os.Getenv("GOVMOMI_PASSWORD"))
	if err := session.NewManager(c).Login(ctx, user); err != nil {
		return nil, err
	}
	return c, nil
}

func finder(ctx context.Context, c *vim25.Client) (*find.Finder, error) {
	f := find.NewFinder(c, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		return nil, err
	}
	f.SetDatacenter(dc)
	return f, nil
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: govmomi-client about|ls|power|upload|download|dsls ...")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := connect(ctx)
	if err != nil {
		return err
	}
	defer session.NewManager(c).Logout(ctx)
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "about" && len(rest) == 0:
		a := c.ServiceContent.About
		fmt.Printf("Name: %s\nAPI type: %s\nAPI version: %s\nProduct ID: %s\n", a.FullName, a.ApiType, a.ApiVersion, a.ProductLineId)
		return nil
	case cmd == "ls" && len(rest) == 1:
		f, err := finder(ctx, c)
		if err != nil {
			return err
		}
		es, err := f.ManagedObjectListChildren(ctx, rest[0])
		if err != nil {
			return err
		}
		for _, e := range es {
			fmt.Println(e.Path)
		}
		return nil
	case cmd == "power" && len(rest) == 2 && (rest[0] == "-on" || rest[0] == "-off"):
		f, err := finder(ctx, c)
		if err != nil {
			return err
		}
		vm, err := f.VirtualMachine(ctx, rest[1])
		if err != nil {
			return err
		}
		var t *object.Task
		if rest[0] == "-on" {
			t, err = vm.PowerOn(ctx)
		} else {
			t, err = vm.PowerOff(ctx)
		}
		if err != nil {
			return err
		}
		if err := t.Wait(ctx); err != nil {
			return err
		}
		state, err := vm.PowerState(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("%s %s\n", vm.InventoryPath, state)
		return nil
	case (cmd == "upload" || cmd == "download" || cmd == "dsls") && (len(rest) == 3 || cmd == "dsls" && len(rest) == 1):
		f, err := finder(ctx, c)
		if err != nil {
			return err
		}
		ds, err := f.Datastore(ctx, rest[0])
		if err != nil {
			return err
		}
		switch cmd {
		case "upload":
			return ds.UploadFile(ctx, rest[1], rest[2], nil)
		case "download":
			return ds.DownloadFile(ctx, rest[1], rest[2], nil)
		}
		b, err := ds.Browser(ctx)
		if err != nil {
			return err
		}
		t, err := b.SearchDatastore(ctx, ds.Path(""), &types.HostDatastoreBrowserSearchSpec{})
		if err != nil {
			return err
		}
		info, err := t.WaitForResult(ctx, nil)
		if err != nil {
			return err
		}
		res, ok := info.Result.(types.HostDatastoreBrowserSearchResults)
		if !ok {
			return fmt.Errorf("SearchDatastore_Task returned %T", info.Result)
		}
		for _, fi := range res.File {
			fmt.Println(fi.GetFileInfo().Path)
		}
		return nil
	}
	return fmt.Errorf("unknown command or arguments: %v", args)
}
