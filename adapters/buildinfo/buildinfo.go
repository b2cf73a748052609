// Package buildinfo says which build of the hub is running: the version
// given at link time and what the Go toolchain recorded.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is set at link time:
//
//	go build -ldflags "-X contactpoint/adapters/buildinfo.Version=1.4.0" ./cmd/contactpoint
//
// A build without it says "dev".
var Version = "dev"

// Info is what GET /version and `contactpoint version` answer: no data.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Time      string `json:"revision_time,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"go"`
	Module    string `json:"module,omitempty"`
}

// Get reads the build's information.
func Get() Info {
	i := Info{Version: Version, GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	i.Module = bi.Main.Path
	if i.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		i.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}
