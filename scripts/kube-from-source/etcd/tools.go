//go:build tools

// Package tools names the command this module builds (etcd's main package is
// the server module's root), so that `go mod tidy` records what it needs.
package tools

import _ "go.etcd.io/etcd/server/v3"
