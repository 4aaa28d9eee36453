package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// inode is one file, directory or symlink. Its identity (key) survives renames and cuts; its FUSE
// node id does not survive a cut (see crashFS.cut).
type inode struct {
	key      uint64 // names the backing files cur/<key> and dur/<key>; never changes
	id       uint64 // FUSE node id and st_ino; a new one at every cut
	mode     uint32 // S_IFMT bits | permission bits
	uid, gid uint32
	atime    time.Time
	mtime    time.Time
	ctime    time.Time

	nlink   int    // directory entries naming it now
	lookups uint64 // references the kernel holds to id (LOOKUP minus FORGET)
	opens   int    // open handles of the current epoch
	durRefs int    // durable directory entries naming it

	// Directories.
	parent     *inode            // current parent; nil once removed
	entries    map[string]*inode // what processes see
	durEntries map[string]*inode // as of this directory's last fsync

	// Regular files. cur/<key> holds what processes see (size bytes); dur/<key> what survives a
	// cut (durSize bytes). They differ only within dirty and beyond minSize.
	size    int64
	durSize int64
	minSize int64 // the smallest size since the last fsync; <= durSize
	dirty   spans // ranges written (or zeroed) since the last fsync
	cur     *os.File

	// Symlinks: the target is fixed at creation, so it is durable with the name.
	target string
}

func (n *inode) isDir() bool  { return n.mode&syscall.S_IFMT == syscall.S_IFDIR }
func (n *inode) isFile() bool { return n.mode&syscall.S_IFMT == syscall.S_IFREG }
func (n *inode) clean() bool {
	return len(n.dirty) == 0 && n.minSize == n.durSize && n.size == n.durSize
}

// handle is an open file or directory. A handle of an earlier epoch (opened before a cut) fails
// every operation but release with EIO.
type handle struct {
	n      *inode
	epoch  uint64
	append bool
	names  []dirName // directory handles: the listing being read
}

type dirName struct {
	name string
	ino  uint64
	mode uint32
}

type counters struct {
	writes, writtenBytes      int64
	fsyncs, fdatasyncs        int64
	dirFsyncs, syncedBytes    int64
	cuts, restoredBytes       int64
	cutDroppedInodes, cutKept int64
}

// crashFS is the file system: every operation takes mu, so the model is never seen half-updated,
// and a cut happens between two operations.
type crashFS struct {
	fuse.RawFileSystem
	server *fuse.Server

	mu      sync.Mutex
	storage string
	curDir  string
	durDir  string
	root    *inode
	nodes   map[uint64]*inode // by node id, current epoch only
	inodes  map[uint64]*inode // by key: every inode that exists now or durably
	handles map[uint64]*handle
	nextKey uint64
	nextID  uint64
	nextFh  uint64
	epoch   uint64
	buf     []byte
	stats   counters
}

func newCrashFS(storage string, rootMode uint32) (*crashFS, error) {
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, err
	}
	existing, err := os.ReadDir(storage)
	if err != nil {
		return nil, err
	}
	if len(existing) > 0 {
		return nil, fmt.Errorf("storage directory %s is not empty: crashfs starts from an empty tree", storage)
	}
	fs := &crashFS{
		RawFileSystem: fuse.NewDefaultRawFileSystem(),
		storage:       storage,
		curDir:        filepath.Join(storage, "cur"),
		durDir:        filepath.Join(storage, "dur"),
		nodes:         map[uint64]*inode{},
		inodes:        map[uint64]*inode{},
		handles:       map[uint64]*handle{},
		nextKey:       2,
		nextID:        2,
		nextFh:        1,
		epoch:         1,
		buf:           make([]byte, 1<<20),
	}
	for _, d := range []string{fs.curDir, fs.durDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	fs.root = &inode{
		key: fuse.FUSE_ROOT_ID, id: fuse.FUSE_ROOT_ID, mode: syscall.S_IFDIR | rootMode,
		uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), atime: now, mtime: now, ctime: now,
		nlink: 1, entries: map[string]*inode{}, durEntries: map[string]*inode{},
	}
	fs.nodes[fs.root.id] = fs.root
	fs.inodes[fs.root.key] = fs.root
	return fs, nil
}

func (fs *crashFS) String() string { return "crashfs" }

func (fs *crashFS) Init(server *fuse.Server) { fs.server = server }

// ---- helpers (called with mu held) ----

func (fs *crashFS) node(id uint64) (*inode, fuse.Status) {
	if n, ok := fs.nodes[id]; ok {
		return n, fuse.OK
	}
	// A node id from before a cut: the kernel still uses it for a file or directory that a process
	// held open (fstat, a read after revalidating attributes, its cwd). It is gone, like its handles.
	return nil, fuse.EIO
}

func (fs *crashFS) dirNode(id uint64) (*inode, fuse.Status) {
	n, st := fs.node(id)
	if !st.Ok() {
		return nil, st
	}
	if !n.isDir() {
		return nil, fuse.ENOTDIR
	}
	return n, fuse.OK
}

func (fs *crashFS) handle(fh uint64) (*handle, fuse.Status) {
	h, ok := fs.handles[fh]
	if !ok {
		return nil, fuse.EBADF
	}
	if h.epoch != fs.epoch {
		return nil, fuse.EIO // opened before a cut: nothing it does can reach the durable state
	}
	return h, fuse.OK
}

func (fs *crashFS) curPath(n *inode) string {
	return filepath.Join(fs.curDir, strconv.FormatUint(n.key, 10))
}
func (fs *crashFS) durPath(n *inode) string {
	return filepath.Join(fs.durDir, strconv.FormatUint(n.key, 10))
}

func (fs *crashFS) curFile(n *inode) (*os.File, error) {
	if n.cur == nil {
		f, err := os.OpenFile(fs.curPath(n), os.O_RDWR, 0)
		if err != nil {
			return nil, err
		}
		n.cur = f
	}
	return n.cur, nil
}

func (fs *crashFS) fillAttr(n *inode, a *fuse.Attr) {
	*a = fuse.Attr{Ino: n.id, Mode: n.mode, Owner: fuse.Owner{Uid: n.uid, Gid: n.gid}, Blksize: 4096}
	switch {
	case n.isDir():
		a.Size = 4096
		if n.nlink > 0 {
			a.Nlink = 2
			for _, c := range n.entries {
				if c.isDir() {
					a.Nlink++
				}
			}
		}
	case n.isFile():
		a.Size = uint64(n.size)
		a.Nlink = uint32(n.nlink)
	default:
		a.Size = uint64(len(n.target))
		a.Nlink = uint32(n.nlink)
	}
	a.Blocks = (a.Size + 511) / 512
	a.SetTimes(&n.atime, &n.mtime, &n.ctime)
}

// entryOut answers a request that hands the kernel a reference to n (LOOKUP, CREATE, MKDIR, ...).
// Timeouts are zero: the kernel asks again every time, so a cut is seen at once.
func (fs *crashFS) entryOut(n *inode, out *fuse.EntryOut) {
	n.lookups++
	out.NodeId = n.id
	out.Generation = 1
	out.SetEntryTimeout(0)
	out.SetAttrTimeout(0)
	fs.fillAttr(n, &out.Attr)
}

func (fs *crashFS) newInode(mode uint32, caller fuse.Caller) (*inode, error) {
	now := time.Now()
	n := &inode{key: fs.nextKey, id: fs.nextID, mode: mode, uid: caller.Uid, gid: caller.Gid,
		atime: now, mtime: now, ctime: now}
	if n.isDir() {
		n.entries = map[string]*inode{}
		n.durEntries = map[string]*inode{}
	}
	if n.isFile() {
		f, err := os.OpenFile(fs.curPath(n), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		n.cur = f
	}
	fs.nextKey++
	fs.nextID++
	fs.nodes[n.id] = n
	fs.inodes[n.key] = n
	return n, nil
}

func (fs *crashFS) attach(dir *inode, name string, n *inode) {
	dir.entries[name] = n
	n.nlink++
	if n.isDir() {
		n.parent = dir
	}
	now := time.Now()
	dir.mtime, dir.ctime, n.ctime = now, now, now
}

// maybeFree forgets an inode that nothing can reach any more: no name now, no durable name, no
// kernel reference and no open handle.
func (fs *crashFS) maybeFree(n *inode) {
	if n == fs.root || n.nlink > 0 || n.lookups > 0 || n.opens > 0 || n.durRefs > 0 {
		return
	}
	fs.drop(n)
}

func (fs *crashFS) drop(n *inode) {
	delete(fs.nodes, n.id)
	delete(fs.inodes, n.key)
	fs.removeBacking(n)
	if n.isDir() {
		old := n.durEntries
		n.durEntries = nil
		for _, c := range old {
			c.durRefs--
			fs.maybeFree(c)
		}
	}
}

func (fs *crashFS) removeBacking(n *inode) {
	if n.cur != nil {
		n.cur.Close()
		n.cur = nil
	}
	if n.isFile() {
		for _, p := range []string{fs.curPath(n), fs.durPath(n)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.Printf("cannot remove %s: %v", p, err)
			}
		}
	}
}

func (fs *crashFS) truncate(n *inode, size int64) error {
	f, err := fs.curFile(n)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	n.size = size
	n.minSize = min(n.minSize, size)
	n.dirty.clip(size)
	now := time.Now()
	n.mtime, n.ctime = now, now
	return nil
}

// copyRange copies [start, end) from src to dst at the same offsets.
func (fs *crashFS) copyRange(src, dst *os.File, start, end int64) error {
	for start < end {
		in, out := start, start
		k, err := unix.CopyFileRange(int(src.Fd()), &in, int(dst.Fd()), &out, int(end-start), 0)
		if err != nil || k <= 0 {
			break // fall back to read and write
		}
		start += int64(k)
	}
	for start < end {
		chunk := fs.buf[:min(int64(len(fs.buf)), end-start)]
		k, err := src.ReadAt(chunk, start)
		if k == 0 {
			if err == nil || err == io.EOF {
				err = fmt.Errorf("%s ends at %d, before %d", src.Name(), start, end)
			}
			return err
		}
		if _, err := dst.WriteAt(chunk[:k], start); err != nil {
			return err
		}
		start += int64(k)
	}
	return nil
}

// syncFile makes the file's current data and size its durable ones, copying only what changed:
// below minSize only the dirty ranges differ; from minSize to size the current file holds zeros
// except where written (dirty), which truncating dur to minSize and back reproduces.
func (fs *crashFS) syncFile(n *inode) error {
	if n.clean() {
		return nil
	}
	d, err := os.OpenFile(fs.durPath(n), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer d.Close()
	cur, err := fs.curFile(n)
	if err != nil {
		return err
	}
	if err := d.Truncate(n.minSize); err != nil {
		return err
	}
	if err := d.Truncate(n.size); err != nil {
		return err
	}
	for _, r := range n.dirty {
		if err := fs.copyRange(cur, d, r.start, min(r.end, n.size)); err != nil {
			return err
		}
	}
	fs.stats.syncedBytes += n.dirty.bytes()
	n.durSize = n.size
	n.minSize = n.size
	n.dirty = n.dirty[:0]
	return nil
}

// restoreFile is syncFile backwards: the current data and size become the durable ones.
func (fs *crashFS) restoreFile(n *inode) (int64, error) {
	if n.clean() {
		return 0, nil
	}
	cur, err := os.OpenFile(fs.curPath(n), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, err
	}
	defer cur.Close()
	if err := cur.Truncate(n.minSize); err != nil {
		return 0, err
	}
	if err := cur.Truncate(n.durSize); err != nil {
		return 0, err
	}
	var copied int64
	if n.durSize > 0 {
		d, err := os.Open(fs.durPath(n))
		if err != nil {
			return 0, err
		}
		defer d.Close()
		if err := fs.copyRange(d, cur, n.minSize, n.durSize); err != nil {
			return 0, err
		}
		copied += n.durSize - n.minSize
		for _, r := range n.dirty {
			if r.start >= n.minSize {
				break
			}
			end := min(r.end, n.minSize)
			if err := fs.copyRange(d, cur, r.start, end); err != nil {
				return 0, err
			}
			copied += end - r.start
		}
	}
	n.size = n.durSize
	n.minSize = n.durSize
	n.dirty = nil
	return copied, nil
}

// syncDir makes the directory's current entries its durable ones.
func (fs *crashFS) syncDir(d *inode) {
	next := maps.Clone(d.entries)
	for _, c := range next {
		c.durRefs++
	}
	old := d.durEntries
	d.durEntries = next
	for _, c := range old {
		c.durRefs--
		fs.maybeFree(c)
	}
}

type cutReport struct {
	epoch                       uint64
	kept, dropped               int
	restoredFiles               int
	restoredBytes               int64
	duplicateDirs, handlesStale int
	elapsed                     time.Duration
}

func (r cutReport) String() string {
	return fmt.Sprintf("cut=%d kept_inodes=%d dropped_inodes=%d restored_files=%d restored_bytes=%d "+
		"stale_handles=%d duplicate_dirs=%d ms=%.1f", r.epoch-1, r.kept, r.dropped, r.restoredFiles,
		r.restoredBytes, r.handlesStale, r.duplicateDirs, float64(r.elapsed.Microseconds())/1000)
}

// cut is a power loss followed by a reboot: the tree becomes its durable state. Every handle open
// now fails from here on, and every surviving inode gets a new node id (and so a new st_ino), so
// the kernel keeps nothing it cached about the old tree: paths resolve afresh through LOOKUP.
func (fs *crashFS) cut() (cutReport, error) {
	fs.mu.Lock()
	t0 := time.Now()
	fs.epoch++
	report := cutReport{epoch: fs.epoch, handlesStale: len(fs.handles)}
	var staleIDs []uint64
	for _, n := range fs.inodes {
		if n != fs.root && n.lookups > 0 {
			staleIDs = append(staleIDs, n.id)
		}
		if n.cur != nil {
			n.cur.Close()
			n.cur = nil
		}
	}

	// The durable tree: from the root through durable entries. A directory durably named in two
	// places (renamed across directories, both fsynced at different times) keeps its first name in
	// breadth-first, name order: Linux has no hard links to directories.
	reached := map[*inode]bool{fs.root: true}
	dirs := []*inode{fs.root}
	for i := 0; i < len(dirs); i++ {
		d := dirs[i]
		entries := map[string]*inode{}
		for _, name := range slices.Sorted(maps.Keys(d.durEntries)) {
			c := d.durEntries[name]
			if c.isDir() {
				if reached[c] {
					report.duplicateDirs++
					log.Printf("cut: directory %d is durably named twice; %q is dropped", c.key, name)
					continue
				}
				c.parent = d
				dirs = append(dirs, c)
			}
			reached[c] = true
			entries[name] = c
		}
		d.entries = entries
	}

	var firstErr error
	fs.nodes = map[uint64]*inode{fs.root.id: fs.root}
	for key, n := range fs.inodes {
		if !reached[n] {
			fs.removeBacking(n)
			delete(fs.inodes, key)
			report.dropped++
			continue
		}
		n.nlink, n.durRefs, n.lookups, n.opens = 0, 0, 0, 0
	}
	for _, d := range dirs {
		d.durEntries = maps.Clone(d.entries)
		for _, c := range d.entries {
			c.nlink++
			c.durRefs++
		}
	}
	fs.root.nlink = 1
	for _, key := range slices.Sorted(maps.Keys(fs.inodes)) {
		n := fs.inodes[key]
		report.kept++
		if n != fs.root {
			n.id = fs.nextID
			fs.nextID++
			fs.nodes[n.id] = n
		}
		if n.isFile() && !n.clean() {
			copied, err := fs.restoreFile(n)
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("restoring inode %d: %w", n.key, err)
			}
			report.restoredFiles++
			report.restoredBytes += copied
		}
	}
	fs.stats.cuts++
	fs.stats.restoredBytes += report.restoredBytes
	fs.stats.cutDroppedInodes += int64(report.dropped)
	fs.stats.cutKept += int64(report.kept)
	fs.mu.Unlock()

	// Drop the pages the kernel cached for the old node ids, so a stale handle cannot read them.
	// Outside mu: the kernel may wait for a READ in flight, which needs mu.
	if fs.server != nil {
		for _, id := range staleIDs {
			fs.server.InodeNotify(id, 0, 0)
		}
	}
	report.elapsed = time.Since(t0)
	return report, firstErr
}

func (fs *crashFS) statsLine() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.stats
	return fmt.Sprintf("inodes=%d handles=%d writes=%d written_bytes=%d fsyncs=%d fdatasyncs=%d dir_fsyncs=%d "+
		"synced_bytes=%d cuts=%d restored_bytes=%d", len(fs.inodes), len(fs.handles), s.writes, s.writtenBytes,
		s.fsyncs, s.fdatasyncs, s.dirFsyncs, s.syncedBytes, s.cuts, s.restoredBytes)
}

// ---- FUSE operations ----

func (fs *crashFS) Lookup(cancel <-chan struct{}, header *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, st := fs.dirNode(header.NodeId)
	if !st.Ok() {
		return st
	}
	n, ok := dir.entries[name]
	if !ok {
		return fuse.ENOENT
	}
	fs.entryOut(n, out)
	return fuse.OK
}

func (fs *crashFS) Forget(nodeid, nlookup uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, ok := fs.nodes[nodeid]
	if !ok || n == fs.root {
		return
	}
	n.lookups -= min(n.lookups, nlookup)
	fs.maybeFree(n)
}

func (fs *crashFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var n *inode
	if in.Flags()&fuse.FUSE_GETATTR_FH != 0 {
		h, st := fs.handle(in.Fh())
		if !st.Ok() {
			return st
		}
		n = h.n
	} else {
		var st fuse.Status
		if n, st = fs.node(in.NodeId); !st.Ok() {
			return st
		}
	}
	out.SetTimeout(0)
	fs.fillAttr(n, &out.Attr)
	return fuse.OK
}

func (fs *crashFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var n *inode
	if fh, ok := in.GetFh(); ok {
		h, st := fs.handle(fh)
		if !st.Ok() {
			return st
		}
		n = h.n
	} else {
		var st fuse.Status
		if n, st = fs.node(in.NodeId); !st.Ok() {
			return st
		}
	}
	if size, ok := in.GetSize(); ok {
		if n.isDir() {
			return fuse.EISDIR
		}
		if !n.isFile() {
			return fuse.EINVAL
		}
		if err := fs.truncate(n, int64(size)); err != nil {
			return fuse.ToStatus(err)
		}
	}
	if mode, ok := in.GetMode(); ok {
		n.mode = n.mode&syscall.S_IFMT | mode
	}
	if uid, ok := in.GetUID(); ok {
		n.uid = uid
	}
	if gid, ok := in.GetGID(); ok {
		n.gid = gid
	}
	if t, ok := in.GetATime(); ok {
		n.atime = t
	}
	if t, ok := in.GetMTime(); ok {
		n.mtime = t
	}
	n.ctime = time.Now()
	out.SetTimeout(0)
	fs.fillAttr(n, &out.Attr)
	return fuse.OK
}

func (fs *crashFS) create(parent uint64, name string, mode uint32, caller fuse.Caller) (*inode, fuse.Status) {
	dir, st := fs.dirNode(parent)
	if !st.Ok() {
		return nil, st
	}
	if dir.nlink == 0 {
		return nil, fuse.ENOENT // removed directory
	}
	if _, exists := dir.entries[name]; exists {
		return nil, fuse.Status(syscall.EEXIST)
	}
	n, err := fs.newInode(mode, caller)
	if err != nil {
		return nil, fuse.ToStatus(err)
	}
	fs.attach(dir, name, n)
	return n, fuse.OK
}

func (fs *crashFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	if in.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return fuse.EPERM // only regular files, directories and symlinks are modelled
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, st := fs.create(in.NodeId, name, syscall.S_IFREG|in.Mode&0o7777, in.Caller)
	if !st.Ok() {
		return st
	}
	fs.entryOut(n, out)
	return fuse.OK
}

func (fs *crashFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, st := fs.create(in.NodeId, name, syscall.S_IFDIR|in.Mode&0o7777, in.Caller)
	if !st.Ok() {
		return st
	}
	fs.entryOut(n, out)
	return fuse.OK
}

func (fs *crashFS) Symlink(cancel <-chan struct{}, header *fuse.InHeader, pointedTo string, linkName string, out *fuse.EntryOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, st := fs.create(header.NodeId, linkName, syscall.S_IFLNK|0o777, header.Caller)
	if !st.Ok() {
		return st
	}
	n.target = pointedTo
	fs.entryOut(n, out)
	return fuse.OK
}

func (fs *crashFS) Readlink(cancel <-chan struct{}, header *fuse.InHeader) ([]byte, fuse.Status) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, st := fs.node(header.NodeId)
	if !st.Ok() {
		return nil, st
	}
	if n.mode&syscall.S_IFMT != syscall.S_IFLNK {
		return nil, fuse.EINVAL
	}
	return []byte(n.target), fuse.OK
}

func (fs *crashFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	target, st := fs.node(in.Oldnodeid)
	if !st.Ok() {
		return st
	}
	if target.isDir() {
		return fuse.EPERM
	}
	dir, st := fs.dirNode(in.NodeId)
	if !st.Ok() {
		return st
	}
	if _, exists := dir.entries[name]; exists {
		return fuse.Status(syscall.EEXIST)
	}
	fs.attach(dir, name, target)
	fs.entryOut(target, out)
	return fuse.OK
}

func (fs *crashFS) Unlink(cancel <-chan struct{}, header *fuse.InHeader, name string) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, st := fs.dirNode(header.NodeId)
	if !st.Ok() {
		return st
	}
	n, ok := dir.entries[name]
	if !ok {
		return fuse.ENOENT
	}
	if n.isDir() {
		return fuse.EISDIR
	}
	delete(dir.entries, name)
	n.nlink--
	now := time.Now()
	dir.mtime, dir.ctime, n.ctime = now, now, now
	fs.maybeFree(n)
	return fuse.OK
}

func (fs *crashFS) Rmdir(cancel <-chan struct{}, header *fuse.InHeader, name string) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	dir, st := fs.dirNode(header.NodeId)
	if !st.Ok() {
		return st
	}
	n, ok := dir.entries[name]
	if !ok {
		return fuse.ENOENT
	}
	if !n.isDir() {
		return fuse.ENOTDIR
	}
	if len(n.entries) > 0 {
		return fuse.Status(syscall.ENOTEMPTY)
	}
	delete(dir.entries, name)
	n.nlink = 0
	n.parent = nil
	now := time.Now()
	dir.mtime, dir.ctime, n.ctime = now, now, now
	fs.maybeFree(n)
	return fuse.OK
}

// within reports whether d is a or below a.
func within(d, a *inode) bool {
	for x := d; x != nil; x = x.parent {
		if x == a {
			return true
		}
	}
	return false
}

func (fs *crashFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName string, newName string) fuse.Status {
	const noReplace, exchange = unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE
	if in.Flags&^uint32(noReplace|exchange) != 0 || in.Flags == noReplace|exchange {
		return fuse.EINVAL
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	od, st := fs.dirNode(in.NodeId)
	if !st.Ok() {
		return st
	}
	nd, st := fs.dirNode(in.Newdir)
	if !st.Ok() {
		return st
	}
	src, ok := od.entries[oldName]
	if !ok {
		return fuse.ENOENT
	}
	dst := nd.entries[newName]
	now := time.Now()
	od.mtime, od.ctime, nd.mtime, nd.ctime, src.ctime = now, now, now, now, now
	if in.Flags&exchange != 0 {
		if dst == nil {
			return fuse.ENOENT
		}
		if (src.isDir() && within(nd, src)) || (dst.isDir() && within(od, dst)) {
			return fuse.EINVAL
		}
		od.entries[oldName], nd.entries[newName] = dst, src
		if src.isDir() {
			src.parent = nd
		}
		if dst.isDir() {
			dst.parent = od
		}
		dst.ctime = now
		return fuse.OK
	}
	if src.isDir() && within(nd, src) {
		return fuse.EINVAL
	}
	if dst != nil {
		if in.Flags&noReplace != 0 {
			return fuse.Status(syscall.EEXIST)
		}
		if dst == src {
			return fuse.OK // two names of one inode: rename does nothing
		}
		if src.isDir() {
			if !dst.isDir() {
				return fuse.ENOTDIR
			}
			if len(dst.entries) > 0 {
				return fuse.Status(syscall.ENOTEMPTY)
			}
		} else if dst.isDir() {
			return fuse.EISDIR
		}
		delete(nd.entries, newName)
		dst.nlink--
		if dst.isDir() {
			dst.nlink = 0
			dst.parent = nil
		}
		dst.ctime = now
	}
	delete(od.entries, oldName)
	nd.entries[newName] = src
	if src.isDir() {
		src.parent = nd
	}
	if dst != nil {
		fs.maybeFree(dst)
	}
	return fuse.OK
}

func (fs *crashFS) Access(cancel <-chan struct{}, in *fuse.AccessIn) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, st := fs.node(in.NodeId)
	return st // permissions are checked by the kernel (default_permissions)
}

func (fs *crashFS) newHandle(n *inode, flags uint32) uint64 {
	fh := fs.nextFh
	fs.nextFh++
	fs.handles[fh] = &handle{n: n, epoch: fs.epoch, append: flags&syscall.O_APPEND != 0}
	n.opens++
	return fh
}

func (fs *crashFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, st := fs.create(in.NodeId, name, syscall.S_IFREG|in.Mode&0o7777, in.Caller)
	if !st.Ok() {
		return st
	}
	fs.entryOut(n, &out.EntryOut)
	out.Fh = fs.newHandle(n, in.Flags)
	return fuse.OK
}

func (fs *crashFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, st := fs.node(in.NodeId)
	if !st.Ok() {
		return st
	}
	if n.isDir() {
		return fuse.EISDIR
	}
	if !n.isFile() {
		return fuse.EINVAL
	}
	out.Fh = fs.newHandle(n, in.Flags)
	return fuse.OK
}

func (fs *crashFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, st := fs.handle(in.Fh)
	if !st.Ok() {
		return nil, st
	}
	n := h.n
	off := int64(in.Offset)
	if off >= n.size {
		return fuse.ReadResultData(nil), fuse.OK
	}
	want := min(int64(len(buf)), int64(in.Size), n.size-off)
	f, err := fs.curFile(n)
	if err != nil {
		return nil, fuse.ToStatus(err)
	}
	k, err := f.ReadAt(buf[:want], off)
	if err != nil && err != io.EOF {
		return nil, fuse.ToStatus(err)
	}
	return fuse.ReadResultData(buf[:k]), fuse.OK
}

func (fs *crashFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	return fs.Writev(cancel, in, [][]byte{data})
}

func (fs *crashFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, st := fs.handle(in.Fh)
	if !st.Ok() {
		return 0, st
	}
	n := h.n
	f, err := fs.curFile(n)
	if err != nil {
		return 0, fuse.ToStatus(err)
	}
	off := int64(in.Offset)
	if h.append {
		off = n.size
	}
	pos := off
	for _, part := range data {
		if _, err := f.WriteAt(part, pos); err != nil {
			// What reached the file is part of the current state, as after a short write.
			n.size = max(n.size, pos)
			n.dirty.add(off, pos)
			return 0, fuse.ToStatus(err)
		}
		pos += int64(len(part))
	}
	n.size = max(n.size, pos)
	n.dirty.add(off, pos)
	now := time.Now()
	n.mtime, n.ctime = now, now
	fs.stats.writes++
	fs.stats.writtenBytes += pos - off
	return uint32(pos - off), fuse.OK
}

func (fs *crashFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	const keepSize, punchHole, zeroRange = unix.FALLOC_FL_KEEP_SIZE, unix.FALLOC_FL_PUNCH_HOLE, unix.FALLOC_FL_ZERO_RANGE
	if in.Mode&^uint32(keepSize|punchHole|zeroRange) != 0 {
		return fuse.Status(syscall.EOPNOTSUPP) // collapse/insert range move data: not modelled
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, st := fs.handle(in.Fh)
	if !st.Ok() {
		return st
	}
	n := h.n
	f, err := fs.curFile(n)
	if err != nil {
		return fuse.ToStatus(err)
	}
	off, length := int64(in.Offset), int64(in.Length)
	if err := unix.Fallocate(int(f.Fd()), in.Mode, off, length); err != nil {
		return fuse.ToStatus(err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fuse.ToStatus(err)
	}
	// Growing the file adds zeros beyond the old size, as truncate does; punching or zeroing
	// changes data below it.
	n.size = fi.Size()
	if in.Mode&(punchHole|zeroRange) != 0 {
		n.dirty.add(off, min(off+length, n.size))
	}
	now := time.Now()
	n.mtime, n.ctime = now, now
	return fuse.OK
}

func (fs *crashFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return fuse.OK // close(2) always succeeds; it makes nothing durable
}

func (fs *crashFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	fs.release(in.Fh)
}

func (fs *crashFS) ReleaseDir(in *fuse.ReleaseIn) {
	fs.release(in.Fh)
}

func (fs *crashFS) release(fh uint64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, ok := fs.handles[fh]
	if !ok {
		return
	}
	delete(fs.handles, fh)
	if h.epoch == fs.epoch {
		h.n.opens--
		fs.maybeFree(h.n)
	}
}

func (fs *crashFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, st := fs.handle(in.Fh)
	if !st.Ok() {
		return st
	}
	if in.FsyncFlags&1 != 0 {
		fs.stats.fdatasyncs++
	} else {
		fs.stats.fsyncs++
	}
	if !h.n.isFile() {
		return fuse.OK
	}
	if err := fs.syncFile(h.n); err != nil {
		log.Printf("fsync of inode %d failed: %v", h.n.key, err)
		return fuse.EIO
	}
	return fuse.OK
}

func (fs *crashFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, st := fs.dirNode(in.NodeId)
	if !st.Ok() {
		return st
	}
	out.Fh = fs.newHandle(n, 0)
	return fuse.OK
}

func (fs *crashFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, st := fs.handle(in.Fh)
	if !st.Ok() {
		return st
	}
	d := h.n
	if in.Offset == 0 || h.names == nil {
		parent := d.parent
		if parent == nil {
			parent = d
		}
		names := []dirName{{".", d.id, d.mode}, {"..", parent.id, parent.mode}}
		for _, name := range slices.Sorted(maps.Keys(d.entries)) {
			c := d.entries[name]
			names = append(names, dirName{name, c.id, c.mode})
		}
		h.names = names
	}
	for i := in.Offset; i < uint64(len(h.names)); i++ {
		e := h.names[i]
		if !out.AddDirEntry(fuse.DirEntry{Name: e.name, Ino: e.ino, Mode: e.mode, Off: i + 1}) {
			break
		}
	}
	return fuse.OK
}

func (fs *crashFS) FsyncDir(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	h, st := fs.handle(in.Fh)
	if !st.Ok() {
		return st
	}
	fs.stats.dirFsyncs++
	fs.syncDir(h.n)
	return fuse.OK
}

func (fs *crashFS) StatFs(cancel <-chan struct{}, header *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	var s syscall.Statfs_t
	if err := syscall.Statfs(fs.storage, &s); err != nil {
		return fuse.ToStatus(err)
	}
	out.FromStatfsT(&s)
	return fuse.OK
}
