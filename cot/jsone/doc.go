// Package jsone is a clean-room interpreter for json-e, the JSON templating
// language Taskcluster uses for .taskcluster.yml (work in progress).
package jsone
