// Command crashfs mounts a FUSE file system that loses, at a "cut", everything its own model of
// POSIX says was not yet durable: the page cache of a disk at a power loss. See README.md.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	storage := flag.String("storage", "", "backing directory (must be empty or absent): file data lives here, not in memory")
	mountPoint := flag.String("mount", "", "directory to mount the file system on")
	control := flag.String("control", "", "unix socket to listen on for commands: ping, cut, stats")
	rootMode := flag.String("root-mode", "0755", "permission bits of the root directory")
	exitOnStdinEOF := flag.Bool("exit-on-stdin-eof", false, "unmount and exit when standard input closes (the parent died)")
	debug := flag.Bool("debug", false, "log every FUSE request")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetPrefix("crashfs: ")
	if *storage == "" || *mountPoint == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: crashfs --storage DIR --mount DIR [--control SOCKET] [--exit-on-stdin-eof] [--root-mode 0755] [--debug]")
		os.Exit(2)
	}
	mode, err := strconv.ParseUint(*rootMode, 8, 32)
	if err != nil || mode > 0o7777 {
		log.Fatalf("--root-mode %q is not an octal permission mode", *rootMode)
	}

	fs, err := newCrashFS(*storage, uint32(mode))
	if err != nil {
		log.Fatalf("%v", err)
	}
	opts := &fuse.MountOptions{
		FsName:             "crashfs",
		Name:               "crashfs",
		DirectMountStrict:  true, // we are root; no fusermount
		AllowOther:         true, // the postgres user and others reach files; the kernel checks modes:
		Options:            []string{"default_permissions"},
		DisableXAttrs:      true,
		DisableReadDirPlus: true,
		MaxWrite:           1 << 20,
		Debug:              *debug,
	}
	server, err := fuse.NewServer(fs, *mountPoint, opts)
	if err != nil {
		log.Fatalf("cannot mount on %s: %v", *mountPoint, err)
	}
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		log.Fatalf("mount on %s did not come up: %v", *mountPoint, err)
	}

	var once sync.Once
	var stopping atomic.Bool
	shutdown := func(why string) {
		once.Do(func() {
			stopping.Store(true)
			log.Printf("%s: unmounting %s (%s)", why, *mountPoint, fs.statsLine())
			unmount(server, *mountPoint)
			if *control != "" {
				os.Remove(*control)
			}
			log.Printf("exited")
			os.Exit(0)
		})
	}

	if *control != "" {
		if err := serveControl(*control, fs); err != nil {
			unmount(server, *mountPoint)
			log.Fatalf("control socket %s: %v", *control, err)
		}
	}
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for s := range signals {
			if s == syscall.SIGUSR1 {
				doCut(fs)
				continue
			}
			go shutdown("signal " + s.String())
		}
	}()
	if *exitOnStdinEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			shutdown("standard input closed")
		}()
	}
	log.Printf("mounted %s (storage %s, control %q, pid %d)", *mountPoint, *storage, *control, os.Getpid())
	server.Wait()
	if stopping.Load() {
		select {} // shutdown finishes and exits
	}
	log.Printf("unmounted from outside; exiting")
	if *control != "" {
		os.Remove(*control)
	}
}

func doCut(fs *crashFS) (string, error) {
	report, err := fs.cut()
	if err != nil {
		log.Printf("cut FAILED: %v (%s)", err, report)
		return "", err
	}
	log.Printf("cut done: %s", report)
	return report.String(), nil
}

// serveControl answers one-line commands, one line each: "ping" -> "ok", "cut" -> "ok cut=N ..."
// once the tree shows the durable state, "stats" -> "ok ...". Errors answer "error ...".
func serveControl(path string, fs *crashFS) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				log.Printf("control socket: %v", err)
				return
			}
			go func() {
				defer c.Close()
				in := bufio.NewScanner(c)
				for in.Scan() {
					var reply string
					switch cmd := strings.TrimSpace(in.Text()); cmd {
					case "ping":
						reply = "ok"
					case "stats":
						reply = "ok " + fs.statsLine()
					case "cut":
						if report, err := doCut(fs); err != nil {
							reply = "error " + err.Error()
						} else {
							reply = "ok " + report
						}
					default:
						reply = fmt.Sprintf("error unknown command %q (ping, cut, stats)", cmd)
					}
					if _, err := io.WriteString(c, reply+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return nil
}

// unmount detaches the mount. A process that still holds a file open keeps it busy; then the
// mount is detached lazily, and exiting closes /dev/fuse, so that process's calls fail with ENOTCONN.
func unmount(server *fuse.Server, mountPoint string) {
	for attempt := 0; attempt < 20; attempt++ {
		err := syscall.Unmount(mountPoint, 0)
		if err == nil {
			done := make(chan struct{})
			go func() { server.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				log.Printf("unmounted, but the request loop did not end within 5s")
			}
			return
		}
		if err == syscall.EINVAL || err == syscall.ENOENT {
			return // not mounted any more
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Printf("%s is busy (files still open); detaching it lazily", mountPoint)
	if err := syscall.Unmount(mountPoint, syscall.MNT_DETACH); err != nil {
		log.Printf("lazy unmount of %s: %v", mountPoint, err)
	}
}
