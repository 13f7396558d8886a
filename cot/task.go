package cot

import (
	"errors"
	"fmt"
	"strings"
)

// MaxTaskBytes is the default bound on a task definition from the Queue.
const MaxTaskBytes = 4 << 20

// Task is a Taskcluster task definition: the fields the checks use, typed,
// and the whole definition as decoded JSON (numbers as json.Number) for
// comparisons against task graphs and signed documents.
type Task struct {
	ProvisionerID string
	WorkerType    string
	TaskQueueID   string
	SchedulerID   string
	TaskGroupID   string
	Dependencies  []string
	Scopes        []string
	Payload       map[string]any
	Metadata      map[string]any
	Extra         map[string]any
	Tags          map[string]any
	Def           map[string]any
}

// ParseTask parses a task definition as the Queue serves it.
func ParseTask(b []byte) (*Task, error) {
	if len(b) > MaxTaskBytes {
		return nil, fmt.Errorf("task definition is %d bytes; the limit is %d", len(b), MaxTaskBytes)
	}
	m, err := decodeObject(b, "task definition")
	if err != nil {
		return nil, err
	}
	return taskFromMap(m)
}

func taskFromMap(m map[string]any) (*Task, error) {
	t := &Task{Def: m}
	var errs []string
	str := func(key string) string {
		v, ok := m[key]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			errs = append(errs, key+" is not a string")
		}
		return s
	}
	strs := func(key string) []string {
		v, ok := m[key]
		if !ok || v == nil {
			return nil
		}
		a, ok := v.([]any)
		if !ok {
			errs = append(errs, key+" is not an array")
			return nil
		}
		out := make([]string, 0, len(a))
		for _, e := range a {
			s, ok := e.(string)
			if !ok {
				errs = append(errs, key+" has an element that is not a string")
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	obj := func(key string, required bool) map[string]any {
		v, ok := m[key]
		if !ok || v == nil {
			if required {
				errs = append(errs, key+" is missing")
			}
			return map[string]any{}
		}
		o, ok := v.(map[string]any)
		if !ok {
			errs = append(errs, key+" is not an object")
			return map[string]any{}
		}
		return o
	}
	t.ProvisionerID = str("provisionerId")
	t.WorkerType = str("workerType")
	t.TaskQueueID = str("taskQueueId")
	t.SchedulerID = str("schedulerId")
	t.TaskGroupID = str("taskGroupId")
	t.Dependencies = strs("dependencies")
	t.Scopes = strs("scopes")
	t.Payload = obj("payload", true)
	t.Metadata = obj("metadata", false)
	t.Extra = obj("extra", false)
	t.Tags = obj("tags", false)
	if t.TaskQueueID == "" && (t.ProvisionerID == "" || t.WorkerType == "") {
		errs = append(errs, "neither taskQueueId nor provisionerId and workerType are set")
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return t, nil
}

// WorkerPool is the task's worker pool, "provisionerId/workerType".
func (t *Task) WorkerPool() string {
	if t.TaskQueueID != "" {
		return t.TaskQueueID
	}
	return t.ProvisionerID + "/" + t.WorkerType
}

// ParentID is the task that created this one and whose task graph lists it:
// extra.parent, else the task group's decision task.
func (t *Task) ParentID() string {
	if p, ok := t.Extra["parent"].(string); ok && p != "" {
		return p
	}
	return t.TaskGroupID
}

// DecisionID is the decision task of the task's group: its taskGroupId.
func (t *Task) DecisionID() string { return t.TaskGroupID }

// IsAction reports whether the task is an action task: it has
// payload.env.ACTION_CALLBACK or extra.action.
func (t *Task) IsAction() bool {
	if t.Env("ACTION_CALLBACK") != "" {
		return true
	}
	v, ok := t.Extra["action"]
	return ok && v != nil
}

// Env returns payload.env[key], or "" if it is not a string.
func (t *Task) Env(key string) string {
	env, _ := t.Payload["env"].(map[string]any)
	s, _ := env[key].(string)
	return s
}

// Source is metadata.source, the URL of the code that defined the task.
func (t *Task) Source() string {
	s, _ := t.Metadata["source"].(string)
	return s
}

// TasksFor is extra.tasks_for: why a decision or action task was created.
func (t *Task) TasksFor() (string, bool) {
	s, ok := t.Extra["tasks_for"].(string)
	return s, ok
}

// An Upstream is one entry of payload.upstreamArtifacts: artifacts of
// another task that this task consumes.
type Upstream struct {
	TaskID   string
	TaskType string
	Paths    []string
	Optional bool
}

// Upstreams returns payload.upstreamArtifacts.
func (t *Task) Upstreams() ([]Upstream, error) {
	v, ok := t.Payload["upstreamArtifacts"]
	if !ok || v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("payload.upstreamArtifacts is not an array")
	}
	out := make([]Upstream, 0, len(list))
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("payload.upstreamArtifacts[%d] is not an object", i)
		}
		u := Upstream{}
		u.TaskID, _ = m["taskId"].(string)
		u.TaskType, _ = m["taskType"].(string)
		u.Optional, _ = m["optional"].(bool)
		if !ValidTaskID(u.TaskID) || !validTypeName(u.TaskType) {
			return nil, fmt.Errorf("payload.upstreamArtifacts[%d]: taskId %.40q or taskType %.40q is not valid", i, u.TaskID, u.TaskType)
		}
		paths, ok := m["paths"].([]any)
		if !ok {
			return nil, fmt.Errorf("payload.upstreamArtifacts[%d]: paths is not an array", i)
		}
		for _, p := range paths {
			s, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("payload.upstreamArtifacts[%d]: a path is not a string", i)
			}
			if err := checkArtifactName(s); err != nil {
				return nil, fmt.Errorf("payload.upstreamArtifacts[%d]: %w", i, err)
			}
			u.Paths = append(u.Paths, s)
		}
		out = append(out, u)
	}
	return out, nil
}

// Inputs returns extra.chainOfTrust.inputs: task type → task id.
func (t *Task) Inputs() (map[string]string, error) {
	c, _ := t.Extra["chainOfTrust"].(map[string]any)
	in, ok := c["inputs"]
	if !ok || in == nil {
		return nil, nil
	}
	m, ok := in.(map[string]any)
	if !ok {
		return nil, errors.New("extra.chainOfTrust.inputs is not an object")
	}
	out := make(map[string]string, len(m))
	for typ, v := range m {
		id, _ := v.(string)
		if !ValidTaskID(id) || !validTypeName(typ) {
			return nil, fmt.Errorf("extra.chainOfTrust.inputs: %.40q: %.40q is not a task type and task id", typ, id)
		}
		out[typ] = id
	}
	return out, nil
}

// validTypeName accepts task type names: they become link names, joined
// with ':'.
func validTypeName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
