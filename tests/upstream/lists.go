// Package upstream checks the program's objects against what the upstream
// binaries accept at their pinned versions: GreptimeDB's config keys (in the
// ConfigMaps and as GREPTIMEDB_* variables) and command-line flags, etcd's and
// etcdctl's flags (and their ETCD_*/ETCDCTL_* variables), the QuasarDB
// exporter's flags, and the QDB_* variables of the QuasarDB image's entrypoint. The lists are facts read from the upstream source at the
// pinned tag, kept under tests/testdata/upstream; each file says how to
// regenerate it. A key or flag that is not listed is one the binary ignores or
// refuses, which no simulated cluster can notice, since none runs the binaries.
package upstream

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Dir is where the lists live, relative to the repository root.
const Dir = "tests/testdata/upstream"

// KeyList is the config keys a binary accepts: dotted paths, some only when an
// enum's tag (another key) has given values.
type KeyList struct {
	// File is the list's path relative to the repository root, for messages.
	File string
	// entries by key; a key may be listed under several conditions.
	entries map[string][]condition
	// wildcards are the prefixes ("a.b.") of keys listed as "a.b.*".
	wildcards []string
	// defaults are the tags' values when the config does not set them.
	defaults map[string]string
}

// condition limits a key to configs whose key tag has one of values; a zero
// condition always holds.
type condition struct {
	tag    string
	values []string
}

// Allowed reports whether key is accepted in a config whose scalar values are
// config (nil when unknown: any condition is then taken to hold). When it is
// not, why says so.
func (l *KeyList) Allowed(key string, config map[string]string) (ok bool, why string) {
	for _, w := range l.wildcards {
		if strings.HasPrefix(key, w) {
			return true, ""
		}
	}
	conds, listed := l.entries[key]
	if !listed {
		return false, fmt.Sprintf("is not in %s", l.File)
	}
	var wants []string
	for _, c := range conds {
		if c.tag == "" || config == nil {
			return true, ""
		}
		v, set := config[c.tag]
		if !set {
			v = l.defaults[c.tag]
		}
		if slices.Contains(c.values, v) {
			return true, ""
		}
		wants = append(wants, fmt.Sprintf("%s is %s (here %q)", c.tag, strings.Join(c.values, " or "), v))
	}
	return false, fmt.Sprintf("applies only when %s, per %s", strings.Join(wants, "; "), l.File)
}

// FlagList is the flags a binary accepts, per subcommand ("" when it has none;
// "global" for the flags every subcommand takes).
type FlagList struct {
	File     string
	sections map[string][]string
}

// Global is the section of the flags every subcommand accepts.
const Global = "global"

// Subcommands are the list's subcommands ("snapshot save"), without Global.
func (l *FlagList) Subcommands() []string {
	var out []string
	for s := range l.sections {
		if s != Global && s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Allowed reports whether flag (as spelled, without its value) is accepted by
// the subcommand.
func (l *FlagList) Allowed(subcommand, flag string) bool {
	return slices.Contains(l.sections[subcommand], flag) || slices.Contains(l.sections[Global], flag)
}

// Lists are every upstream list, by binary.
type Lists struct {
	// Keys by GreptimeDB component as its env prefix names it: METASRV, DATANODE, FRONTEND, FLOWNODE.
	Keys map[string]*KeyList
	// Flags of greptime, etcd, etcdctl and qdb-prometheus-exporter.
	Flags map[string]*FlagList
	// QDBEnv is the variables the QuasarDB server image's entrypoint reads.
	QDBEnv *NameList
	// Versions pinned by the lists, by binary.
	Versions map[string]string
}

// NameList is a list of names, one a line (environment variables).
type NameList struct {
	File  string
	names []string
}

// Allowed reports whether name is listed.
func (l *NameList) Allowed(name string) bool { return slices.Contains(l.names, name) }

// Binaries' names as the command lines spell them.
const (
	Greptime = "greptime"
	Etcd     = "etcd"
	Etcdctl  = "etcdctl"
	Exporter = "qdb-prometheus-exporter"
	// QDB is the QuasarDB server image's entrypoint, qdbd-docker-wrapper.sh.
	QDB = "qdbd-docker-wrapper"
)

// Pinned versions: the lists below were read at these tags.
const (
	GreptimeVersion = "v1.1.4"
	EtcdVersion     = "v3.5.21"
	ExporterVersion = "v3.14.2"
	QDBVersion      = "3.14.1"
)

// Load reads every list from the repository at root.
func Load(root string) (*Lists, error) {
	l := &Lists{
		Keys:  map[string]*KeyList{},
		Flags: map[string]*FlagList{},
		Versions: map[string]string{
			Greptime: GreptimeVersion, Etcd: EtcdVersion, Etcdctl: EtcdVersion, Exporter: ExporterVersion, QDB: QDBVersion,
		},
	}
	rel, names, err := listLines(root, "qdb-docker-"+QDBVersion+".env")
	if err != nil {
		return nil, err
	}
	l.QDBEnv = &NameList{File: rel, names: names}
	for component, name := range map[string]string{"METASRV": "metasrv", "DATANODE": "datanode", "FRONTEND": "frontend", "FLOWNODE": "flownode"} {
		kl, err := loadKeys(root, fmt.Sprintf("greptimedb-%s-%s.keys", GreptimeVersion, name))
		if err != nil {
			return nil, err
		}
		l.Keys[component] = kl
	}
	for binary, file := range map[string]string{
		Greptime: "greptimedb-" + GreptimeVersion + ".flags",
		Etcd:     "etcd-" + EtcdVersion + ".flags",
		Etcdctl:  "etcdctl-" + EtcdVersion + ".flags",
		Exporter: "qdb-prometheus-exporter-" + ExporterVersion + ".flags",
	} {
		fl, err := loadFlags(root, file)
		if err != nil {
			return nil, err
		}
		l.Flags[binary] = fl
	}
	return l, nil
}

// listLines are the meaningful lines of a list file: no comments, no blanks.
func listLines(root, file string) (rel string, lines []string, err error) {
	rel = filepath.ToSlash(filepath.Join(Dir, file))
	f, err := os.Open(filepath.Join(root, Dir, file))
	if err != nil {
		return rel, nil, fmt.Errorf("upstream list: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	if err := s.Err(); err != nil {
		return rel, nil, fmt.Errorf("%s: %w", rel, err)
	}
	return rel, lines, nil
}

// loadKeys parses a key list: "key", "key if tag=v1,v2", "key.*", "default tag=v".
func loadKeys(root, file string) (*KeyList, error) {
	rel, lines, err := listLines(root, file)
	if err != nil {
		return nil, err
	}
	l := &KeyList{File: rel, entries: map[string][]condition{}, defaults: map[string]string{}}
	for _, line := range lines {
		fields := strings.Fields(line)
		switch {
		case fields[0] == "default" && len(fields) == 2:
			tag, v, ok := strings.Cut(fields[1], "=")
			if !ok {
				return nil, fmt.Errorf("%s: %q: want default <key>=<value>", rel, line)
			}
			l.defaults[tag] = v
		case len(fields) == 1 && strings.HasSuffix(fields[0], ".*"):
			l.wildcards = append(l.wildcards, strings.TrimSuffix(fields[0], "*"))
		case len(fields) == 1:
			l.entries[fields[0]] = append(l.entries[fields[0]], condition{})
		case len(fields) == 3 && fields[1] == "if":
			tag, values, ok := strings.Cut(fields[2], "=")
			if !ok {
				return nil, fmt.Errorf("%s: %q: want <key> if <key>=<value>,<value>", rel, line)
			}
			l.entries[fields[0]] = append(l.entries[fields[0]], condition{tag: tag, values: strings.Split(values, ",")})
		default:
			return nil, fmt.Errorf("%s: cannot read %q", rel, line)
		}
	}
	return l, nil
}

// loadFlags parses a flag list: "[subcommand]" headers, then one spelling a line.
func loadFlags(root, file string) (*FlagList, error) {
	rel, lines, err := listLines(root, file)
	if err != nil {
		return nil, err
	}
	l := &FlagList{File: rel, sections: map[string][]string{}}
	section := ""
	for _, line := range lines {
		if name, ok := strings.CutPrefix(line, "["); ok {
			section = strings.TrimSuffix(name, "]")
			l.sections[section] = l.sections[section][:0:0]
			continue
		}
		if !strings.HasPrefix(line, "-") || strings.ContainsAny(line, " \t=") {
			return nil, fmt.Errorf("%s: %q is not a flag", rel, line)
		}
		l.sections[section] = append(l.sections[section], line)
	}
	return l, nil
}
