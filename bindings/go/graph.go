package aphelion

/*
#include <stdlib.h>
#include "calls_generated.h"
*/
import "C"

import "unsafe"

// ---------------------------------------------------------------------------------------------
// Model configurations (header section 16): one goroutine at a time (serialised here).

// ModelConfig is a node's configuration: name, version and JSON parameters (aph_model_config).
type ModelConfig struct{ h handle[C.aph_model_config] }

func newModelConfig(p *C.aph_model_config) *ModelConfig {
	c := &ModelConfig{}
	c.h.init(p, func(p *C.aph_model_config) { C.aph_model_config_release(p) }, true, "ModelConfig")
	setFinalizer(c)
	return c
}

func modelConfigResult(s C.aph_status, out *C.aph_model_config, cerr *C.char) (*ModelConfig, error) {
	if err := check(s, cerr); err != nil {
		return nil, err
	}
	return newModelConfig(out), nil
}

// NewModelConfig makes a configuration with no parameters.
func NewModelConfig(name, version string) (*ModelConfig, error) {
	n, v := cstr(name), cstr(version)
	var out *C.aph_model_config
	var cerr *C.char
	return modelConfigResult(C.go_aph_model_config_create(n, v, &out, &cerr), out, cerr)
}

// ModelConfigPreset is one of aphelion-core's presets ("small", "medium", "large"); another
// name is ErrNotFound.
func ModelConfigPreset(preset, name string) (*ModelConfig, error) {
	p, n := cstr(preset), cstr(name)
	var out *C.aph_model_config
	var cerr *C.char
	return modelConfigResult(C.go_aph_model_config_preset(p, n, &out, &cerr), out, cerr)
}

// ModelConfigFromJSON parses {"name":..., "version":..., "params":{...}}.
func ModelConfigFromJSON(json string) (*ModelConfig, error) {
	j := cstr(json)
	var out *C.aph_model_config
	var cerr *C.char
	return modelConfigResult(C.go_aph_model_config_from_json(j, &out, &cerr), out, cerr)
}

// Close releases the configuration (idempotent).
func (c *ModelConfig) Close() error { c.h.close(); return nil }

// Clone is an independent copy.
func (c *ModelConfig) Clone() (*ModelConfig, error) {
	var out *C.aph_model_config
	err := c.h.do(func(p *C.aph_model_config, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_clone(p, &out, cerr)
	})
	if err != nil {
		return nil, err
	}
	return newModelConfig(out), nil
}

// Name is the configuration's name.
func (c *ModelConfig) Name() string {
	defer c.h.unlock()
	return C.GoString(C.aph_model_config_name(c.h.lock()))
}

// Version is the configuration's version.
func (c *ModelConfig) Version() string {
	defer c.h.unlock()
	return C.GoString(C.aph_model_config_version(c.h.lock()))
}

// Keys are the parameter keys in sorted order.
func (c *ModelConfig) Keys() []string {
	p := c.h.lock()
	defer c.h.unlock()
	n := int(C.aph_model_config_param_count(p))
	keys := make([]string, 0, n)
	for i := 0; i < n; i++ {
		keys = append(keys, C.GoString(C.aph_model_config_param_key(p, C.size_t(i))))
	}
	return keys
}

// Has reports whether key is set.
func (c *ModelConfig) Has(key string) bool {
	k := cstr(key)
	defer c.h.unlock()
	return C.aph_model_config_has_param(c.h.lock(), k) != 0
}

func (c *ModelConfig) withKey(key string, f func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status) error {
	k := cstr(key)
	return c.h.do(func(p *C.aph_model_config, cerr **C.char) C.aph_status { return f(p, k, cerr) })
}

// SetInt sets an integer parameter.
func (c *ModelConfig) SetInt(key string, v int64) error {
	return c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_set_int(p, k, C.int64_t(v), cerr)
	})
}

// SetFloat sets a float parameter (finite).
func (c *ModelConfig) SetFloat(key string, v float64) error {
	return c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_set_float(p, k, C.double(v), cerr)
	})
}

// SetBool sets a boolean parameter.
func (c *ModelConfig) SetBool(key string, v bool) error {
	return c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_set_bool(p, k, cbool(v), cerr)
	})
}

// SetString sets a string parameter.
func (c *ModelConfig) SetString(key, v string) error {
	cv := cstr(v)
	return c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_set_string(p, k, cv, cerr)
	})
}

// SetJSON sets a parameter to any JSON value (ErrSerialization when malformed).
func (c *ModelConfig) SetJSON(key, valueJSON string) error {
	cv := cstr(valueJSON)
	return c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_set_json(p, k, cv, cerr)
	})
}

// Remove deletes a parameter (a missing key is ErrInvalidConfig).
func (c *ModelConfig) Remove(key string) error {
	return c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_remove(p, k, cerr)
	})
}

// Int reads an integer parameter.
func (c *ModelConfig) Int(key string) (int64, error) {
	var out C.int64_t
	err := c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_get_int(p, k, &out, cerr)
	})
	return int64(out), err
}

// Float reads a number parameter.
func (c *ModelConfig) Float(key string) (float64, error) {
	var out C.double
	err := c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_get_float(p, k, &out, cerr)
	})
	return float64(out), err
}

// Bool reads a boolean parameter.
func (c *ModelConfig) Bool(key string) (bool, error) {
	var out C.int
	err := c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_get_bool(p, k, &out, cerr)
	})
	return out != 0, err
}

// String reads a string parameter.
func (c *ModelConfig) String(key string) (string, error) {
	var s string
	err := c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		var out *C.char
		st := C.go_aph_model_config_get_string(p, k, &out, cerr)
		if st == C.APH_OK {
			s = C.GoString(out) // borrowed: copied while the config is locked
		}
		return st
	})
	return s, err
}

// JSON reads any parameter as compact JSON text.
func (c *ModelConfig) JSON(key string) (string, error) {
	var s string
	err := c.withKey(key, func(p *C.aph_model_config, k *C.char, cerr **C.char) C.aph_status {
		var out *C.char
		st := C.go_aph_model_config_get_json(p, k, &out, cerr)
		s = goStringFree(out)
		return st
	})
	return s, err
}

// ToJSON is the configuration as serde_json's compact output.
func (c *ModelConfig) ToJSON() (string, error) {
	var out *C.char
	err := c.h.do(func(p *C.aph_model_config, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_to_json(p, &out, cerr)
	})
	return goStringFree(out), err
}

// Validate runs the name and version validators (ErrValidation listing every problem).
func (c *ModelConfig) Validate() error {
	return c.h.do(func(p *C.aph_model_config, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_validate(p, cerr)
	})
}

// ValidationErrors are the validators' problems as "{field}: {message}" lines (none: "").
func (c *ModelConfig) ValidationErrors() (string, error) {
	var out *C.char
	err := c.h.do(func(p *C.aph_model_config, cerr **C.char) C.aph_status {
		return C.go_aph_model_config_validation_errors(p, &out, cerr)
	})
	return goStringFree(out), err
}

// ValidateName checks a name as aphelion-core does (ErrValidation).
func ValidateName(name string) error {
	n := cstr(name)
	var cerr *C.char
	return check(C.go_aph_validate_name(n, &cerr), cerr)
}

// ValidateVersion checks a semantic version (ErrValidation).
func ValidateVersion(version string) error {
	v := cstr(version)
	var cerr *C.char
	return check(C.go_aph_validate_version(v, &cerr), cerr)
}

// ---------------------------------------------------------------------------------------------
// Graphs (section 17): one goroutine at a time (serialised here).

// Graph is nodes (1-based ids) and directed edges (aph_graph).
type Graph struct {
	h        handle[C.aph_graph]
	readOnly bool // a pipeline hook's graph
}

func (g *Graph) writable() error {
	if g.readOnly {
		return argError("a pipeline hook's graph is read-only")
	}
	return nil
}

func newGraph(p *C.aph_graph) *Graph {
	g := &Graph{}
	g.h.init(p, func(p *C.aph_graph) { C.aph_graph_release(p) }, true, "Graph")
	setFinalizer(g)
	return g
}

func graphResult(s C.aph_status, out *C.aph_graph, cerr *C.char) (*Graph, error) {
	if err := check(s, cerr); err != nil {
		return nil, err
	}
	return newGraph(out), nil
}

// NewGraph makes an empty graph.
func NewGraph() (*Graph, error) {
	var out *C.aph_graph
	var cerr *C.char
	return graphResult(C.go_aph_graph_create(&out, &cerr), out, cerr)
}

// GraphFromJSON parses a graph's JSON (ErrSerialization with the position when malformed).
func GraphFromJSON(json []byte) (*Graph, error) {
	var p *C.char
	if len(json) > 0 {
		p = (*C.char)(unsafe.Pointer(&json[0]))
	}
	var out *C.aph_graph
	var cerr *C.char
	return graphResult(C.go_aph_graph_from_json(p, C.size_t(len(json)), &out, &cerr), out, cerr)
}

// LoadGraph reads a graph JSON file (ErrIo naming the path when unreadable).
func LoadGraph(path string) (*Graph, error) {
	p := cstr(path)
	var out *C.aph_graph
	var cerr *C.char
	return graphResult(C.go_aph_graph_load(p, &out, &cerr), out, cerr)
}

// Close releases the graph (idempotent).
func (g *Graph) Close() error { g.h.close(); return nil }

// Clone is an independent copy.
func (g *Graph) Clone() (*Graph, error) {
	var out *C.aph_graph
	if err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status { return C.go_aph_graph_clone(p, &out, cerr) }); err != nil {
		return nil, err
	}
	return newGraph(out), nil
}

// AddNode appends a node with a copy of config and returns its id.
func (g *Graph) AddNode(name string, config *ModelConfig) (uint64, error) {
	if err := g.writable(); err != nil {
		return 0, err
	}
	if config == nil {
		return 0, argError("config is nil")
	}
	cp, err := config.h.use()
	if err != nil {
		return 0, err
	}
	defer config.h.unlock()
	n := cstr(name)
	var id C.uint64_t
	err = g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status { return C.go_aph_graph_add_node(p, n, cp, &id, cerr) })
	return uint64(id), err
}

// AddEdge appends the edge from -> to (ErrNotFound for an id that names no node).
func (g *Graph) AddEdge(from, to uint64) error {
	if err := g.writable(); err != nil {
		return err
	}
	return g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		return C.go_aph_graph_add_edge(p, C.uint64_t(from), C.uint64_t(to), cerr)
	})
}

// SetMetadata sets a metadata entry of node id to a JSON value.
func (g *Graph) SetMetadata(id uint64, key, valueJSON string) error {
	if err := g.writable(); err != nil {
		return err
	}
	k, v := cstr(key), cstr(valueJSON)
	return g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		return C.go_aph_graph_set_metadata(p, C.uint64_t(id), k, v, cerr)
	})
}

// NodeCount is the number of nodes (the last id).
func (g *Graph) NodeCount() int {
	defer g.h.unlock()
	return int(C.aph_graph_node_count(g.h.lock()))
}

// EdgeCount is the number of edges.
func (g *Graph) EdgeCount() int {
	defer g.h.unlock()
	return int(C.aph_graph_edge_count(g.h.lock()))
}

// Node gives node id's name and a copy of its configuration (the caller closes it).
func (g *Graph) Node(id uint64) (string, *ModelConfig, error) {
	var name string
	var cfg *C.aph_model_config
	err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		var n *C.char
		var c *C.aph_model_config
		s := C.go_aph_graph_node(p, C.uint64_t(id), &n, &c, cerr)
		if s != C.APH_OK {
			return s
		}
		name = C.GoString(n)
		// The configuration is borrowed until the graph changes: copy it while locked.
		return C.go_aph_model_config_clone(c, &cfg, cerr)
	})
	if err != nil {
		return "", nil, err
	}
	return name, newModelConfig(cfg), nil
}

// NodeMetadata is node id's metadata as a JSON object.
func (g *Graph) NodeMetadata(id uint64) (string, error) {
	var out *C.char
	err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		return C.go_aph_graph_node_metadata(p, C.uint64_t(id), &out, cerr)
	})
	return goStringFree(out), err
}

// FindNode is the id of the node named name (ErrNotFound).
func (g *Graph) FindNode(name string) (uint64, error) {
	n := cstr(name)
	var id C.uint64_t
	err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status { return C.go_aph_graph_find_node(p, n, &id, cerr) })
	return uint64(id), err
}

// Edge is the index-th edge.
func (g *Graph) Edge(index int) (from, to uint64, err error) {
	var f, t C.uint64_t
	err = g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		return C.go_aph_graph_edge(p, C.size_t(index), &f, &t, cerr)
	})
	return uint64(f), uint64(t), err
}

// StableHash is aphelion-core's stable hash (64 lowercase hex digits).
func (g *Graph) StableHash() (string, error) {
	var buf [65]C.char
	err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		return C.go_aph_graph_stable_hash(p, &buf[0], C.size_t(len(buf)), cerr)
	})
	if err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

// HasCycle reports a cycle.
func (g *Graph) HasCycle() bool {
	defer g.h.unlock()
	return C.aph_graph_has_cycle(g.h.lock()) != 0
}

// TopologicalSort gives the node ids in Kahn's order (ErrBuild for a cycle).
func (g *Graph) TopologicalSort() ([]uint64, error) {
	var ids []uint64
	err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		ids = make([]uint64, int(C.aph_graph_node_count(p)))
		var ptr *C.uint64_t
		if len(ids) > 0 {
			ptr = (*C.uint64_t)(unsafe.Pointer(&ids[0]))
		}
		return C.go_aph_graph_topological_sort(p, ptr, C.size_t(len(ids)), cerr)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// ToDot is the graph in Graphviz's format.
func (g *Graph) ToDot() (string, error) {
	var out *C.char
	err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status { return C.go_aph_graph_to_dot(p, &out, cerr) })
	return goStringFree(out), err
}

// ToJSON is the graph's JSON (pretty: indented).
func (g *Graph) ToJSON(pretty bool) (string, error) {
	var out *C.char
	err := g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status {
		return C.go_aph_graph_to_json(p, cbool(pretty), &out, cerr)
	})
	return goStringFree(out), err
}

// Save writes the graph's JSON to path.
func (g *Graph) Save(path string) error {
	cp := cstr(path)
	return g.h.do(func(p *C.aph_graph, cerr **C.char) C.aph_status { return C.go_aph_graph_save(p, cp, cerr) })
}
