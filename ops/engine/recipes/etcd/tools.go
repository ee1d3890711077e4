//go:build tools

// The main this module builds; the build tag keeps this file out of every build.
package tools

import _ "go.etcd.io/etcd/server/v3"
