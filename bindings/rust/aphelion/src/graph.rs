//! Model configurations, validators and build graphs (header sections 16-17).

use std::ffi::c_char;
use std::fmt;
use std::marker::PhantomData;
use std::ptr;

use aphelion_sys as sys;

use crate::device::{handle, make};
use crate::error::{borrowed_str, check, cstr, take_string, Result};

macro_rules! config_getters {
    ($life:lifetime) => {
        /// The configuration's name (borrowed).
        pub fn name(&self) -> &$life str {
            unsafe { borrowed_str(sys::aph_model_config_name(self.cfg())) }.unwrap_or("")
        }
        pub fn version(&self) -> &$life str {
            unsafe { borrowed_str(sys::aph_model_config_version(self.cfg())) }.unwrap_or("")
        }
        pub fn param_count(&self) -> usize {
            unsafe { sys::aph_model_config_param_count(self.cfg()) }
        }
        /// The keys in sorted order (borrowed).
        pub fn param_keys(&self) -> Vec<&$life str> {
            (0..self.param_count())
                .filter_map(|i| unsafe { borrowed_str(sys::aph_model_config_param_key(self.cfg(), i)) })
                .collect()
        }
        pub fn has_param(&self, key: &str) -> bool {
            cstr(key).map_or(false, |k| unsafe { sys::aph_model_config_has_param(self.cfg(), k.as_ptr()) != 0 })
        }
        pub fn get_int(&self, key: &str) -> Result<i64> {
            let k = cstr(key)?;
            let mut v = 0;
            check(unsafe { sys::aph_model_config_get_int(self.cfg(), k.as_ptr(), &mut v) })?;
            Ok(v)
        }
        pub fn get_float(&self, key: &str) -> Result<f64> {
            let k = cstr(key)?;
            let mut v = 0.0;
            check(unsafe { sys::aph_model_config_get_float(self.cfg(), k.as_ptr(), &mut v) })?;
            Ok(v)
        }
        pub fn get_bool(&self, key: &str) -> Result<bool> {
            let k = cstr(key)?;
            let mut v = 0;
            check(unsafe { sys::aph_model_config_get_bool(self.cfg(), k.as_ptr(), &mut v) })?;
            Ok(v != 0)
        }
        /// A string parameter (borrowed).
        pub fn get_string(&self, key: &str) -> Result<&$life str> {
            let k = cstr(key)?;
            let mut v: *const c_char = ptr::null();
            check(unsafe { sys::aph_model_config_get_string(self.cfg(), k.as_ptr(), &mut v) })?;
            Ok(unsafe { borrowed_str(v) }.unwrap_or(""))
        }
        /// Any parameter as compact JSON text.
        pub fn get_json(&self, key: &str) -> Result<String> {
            let k = cstr(key)?;
            let mut v: *mut c_char = ptr::null_mut();
            check(unsafe { sys::aph_model_config_get_json(self.cfg(), k.as_ptr(), &mut v) })?;
            Ok(unsafe { take_string(v) })
        }
        /// serde_json's compact text of the configuration.
        pub fn to_json(&self) -> Result<String> {
            let mut v: *mut c_char = ptr::null_mut();
            check(unsafe { sys::aph_model_config_to_json(self.cfg(), &mut v) })?;
            Ok(unsafe { take_string(v) })
        }
        /// The composite validator (Validation listing every problem).
        pub fn validate(&self) -> Result<()> {
            check(unsafe { sys::aph_model_config_validate(self.cfg()) })
        }
        /// The composite validator's problems, one "{field}: {message}" each.
        pub fn validation_errors(&self) -> Result<Vec<String>> {
            let mut v: *mut c_char = ptr::null_mut();
            check(unsafe { sys::aph_model_config_validation_errors(self.cfg(), &mut v) })?;
            let s = unsafe { take_string(v) };
            Ok(s.lines().map(str::to_string).collect())
        }
        /// An independent copy.
        pub fn to_owned_config(&self) -> Result<ModelConfig> {
            Ok(ModelConfig { raw: make(|o| unsafe { sys::aph_model_config_clone(self.cfg(), o) })? })
        }
    };
}

handle!(
    /// A model configuration (`aph_model_config`): name, version and JSON parameters. Used by
    /// one thread at a time: `Send`, not `Sync`; setters take `&mut self`, which ends every
    /// borrowed string.
    ModelConfig, aph_model_config, aph_model_config_release
);
unsafe impl Send for ModelConfig {}

impl ModelConfig {
    fn cfg(&self) -> *const sys::aph_model_config {
        self.raw.as_ptr()
    }
    /// A configuration with no parameters.
    pub fn new(name: &str, version: &str) -> Result<ModelConfig> {
        crate::ensure_version()?;
        let (n, v) = (cstr(name)?, cstr(version)?);
        Ok(ModelConfig { raw: make(|o| unsafe { sys::aph_model_config_create(n.as_ptr(), v.as_ptr(), o) })? })
    }
    /// aphelion-core's presets "small", "medium", "large" (NotFound otherwise).
    pub fn preset(preset: &str, name: &str) -> Result<ModelConfig> {
        crate::ensure_version()?;
        let (p, n) = (cstr(preset)?, cstr(name)?);
        Ok(ModelConfig { raw: make(|o| unsafe { sys::aph_model_config_preset(p.as_ptr(), n.as_ptr(), o) })? })
    }
    /// Parses {"name":..., "version":..., "params":{...}}.
    pub fn from_json(json: &str) -> Result<ModelConfig> {
        crate::ensure_version()?;
        let j = cstr(json)?;
        Ok(ModelConfig { raw: make(|o| unsafe { sys::aph_model_config_from_json(j.as_ptr(), o) })? })
    }
    config_getters!('_);

    pub fn set_int(&mut self, key: &str, value: i64) -> Result<()> {
        let k = cstr(key)?;
        check(unsafe { sys::aph_model_config_set_int(self.as_raw(), k.as_ptr(), value) })
    }
    pub fn set_float(&mut self, key: &str, value: f64) -> Result<()> {
        let k = cstr(key)?;
        check(unsafe { sys::aph_model_config_set_float(self.as_raw(), k.as_ptr(), value) })
    }
    pub fn set_bool(&mut self, key: &str, value: bool) -> Result<()> {
        let k = cstr(key)?;
        check(unsafe { sys::aph_model_config_set_bool(self.as_raw(), k.as_ptr(), value as i32) })
    }
    pub fn set_string(&mut self, key: &str, value: &str) -> Result<()> {
        let (k, v) = (cstr(key)?, cstr(value)?);
        check(unsafe { sys::aph_model_config_set_string(self.as_raw(), k.as_ptr(), v.as_ptr()) })
    }
    /// Sets a parameter to any JSON value (Serialization for malformed JSON).
    pub fn set_json(&mut self, key: &str, value_json: &str) -> Result<()> {
        let (k, v) = (cstr(key)?, cstr(value_json)?);
        check(unsafe { sys::aph_model_config_set_json(self.as_raw(), k.as_ptr(), v.as_ptr()) })
    }
    pub fn remove(&mut self, key: &str) -> Result<()> {
        let k = cstr(key)?;
        check(unsafe { sys::aph_model_config_remove(self.as_raw(), k.as_ptr()) })
    }
}

impl Clone for ModelConfig {
    fn clone(&self) -> ModelConfig {
        self.to_owned_config().expect("aph_model_config_clone failed (out of memory)")
    }
}

impl fmt::Debug for ModelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json().unwrap_or_else(|e| e.to_string()))
    }
}

/// A configuration borrowed from a graph node (valid while the graph is not changed).
#[derive(Clone, Copy)]
pub struct ConfigRef<'g> {
    raw: *const sys::aph_model_config,
    _graph: PhantomData<&'g Graph>,
}

impl<'g> ConfigRef<'g> {
    fn cfg(&self) -> *const sys::aph_model_config {
        self.raw
    }
    config_getters!('g);
}

impl fmt::Debug for ConfigRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_json().unwrap_or_else(|e| e.to_string()))
    }
}

/// aphelion-core's name validator (Validation with the first problem).
pub fn validate_name(name: &str) -> Result<()> {
    let n = cstr(name)?;
    check(unsafe { sys::aph_validate_name(n.as_ptr()) })
}

/// aphelion-core's semantic-version validator.
pub fn validate_version(version: &str) -> Result<()> {
    let v = cstr(version)?;
    check(unsafe { sys::aph_validate_version(v.as_ptr()) })
}

handle!(
    /// A build graph (`aph_graph`): nodes with configurations and metadata, directed edges. Used
    /// by one thread at a time: `Send`, not `Sync`. Borrowed names and configurations
    /// ([`Node`]) live until the graph is changed (`&mut self`) or dropped.
    Graph, aph_graph, aph_graph_release
);
unsafe impl Send for Graph {}

/// A node of a graph, borrowed from it.
#[derive(Debug, Clone, Copy)]
pub struct Node<'g> {
    pub id: u64,
    pub name: &'g str,
    pub config: ConfigRef<'g>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Result<Graph> {
        crate::ensure_version()?;
        Ok(Graph { raw: make(|o| unsafe { sys::aph_graph_create(o) })? })
    }
    /// Parses the serde layout.
    pub fn from_json(json: &str) -> Result<Graph> {
        crate::ensure_version()?;
        Ok(Graph { raw: make(|o| unsafe { sys::aph_graph_from_json(json.as_ptr() as *const c_char, json.len(), o) })? })
    }
    /// Loads a graph file (Io naming the path when unreadable).
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Graph> {
        crate::ensure_version()?;
        let p = cstr(&path.as_ref().to_string_lossy())?;
        Ok(Graph { raw: make(|o| unsafe { sys::aph_graph_load(p.as_ptr(), o) })? })
    }
    /// An independent copy (`aph_graph_clone`).
    pub fn try_clone(&self) -> Result<Graph> {
        Ok(Graph { raw: make(|o| unsafe { sys::aph_graph_clone(self.as_raw(), o) })? })
    }
    /// Appends a node with a copy of `config`; returns its id (1-based, sequential).
    pub fn add_node(&mut self, name: &str, config: &ModelConfig) -> Result<u64> {
        let n = cstr(name)?;
        let mut id = 0u64;
        check(unsafe { sys::aph_graph_add_node(self.as_raw(), n.as_ptr(), config.as_raw(), &mut id) })?;
        Ok(id)
    }
    /// Appends the edge from -> to (NotFound for an id that names no node).
    pub fn add_edge(&mut self, from: u64, to: u64) -> Result<()> {
        check(unsafe { sys::aph_graph_add_edge(self.as_raw(), from, to) })
    }
    /// Sets a metadata entry of node `id` to a JSON value.
    pub fn set_metadata(&mut self, id: u64, key: &str, value_json: &str) -> Result<()> {
        let (k, v) = (cstr(key)?, cstr(value_json)?);
        check(unsafe { sys::aph_graph_set_metadata(self.as_raw(), id, k.as_ptr(), v.as_ptr()) })
    }
    pub fn node_count(&self) -> usize {
        unsafe { sys::aph_graph_node_count(self.as_raw()) }
    }
    pub fn edge_count(&self) -> usize {
        unsafe { sys::aph_graph_edge_count(self.as_raw()) }
    }
    /// The node with this id, borrowed from the graph.
    pub fn node(&self, id: u64) -> Result<Node<'_>> {
        let mut name: *const c_char = ptr::null();
        let mut cfg: *const sys::aph_model_config = ptr::null();
        check(unsafe { sys::aph_graph_node(self.as_raw(), id, &mut name, &mut cfg) })?;
        Ok(Node {
            id,
            name: unsafe { borrowed_str(name) }.unwrap_or(""),
            config: ConfigRef { raw: cfg, _graph: PhantomData },
        })
    }
    /// Every node, in id order.
    pub fn nodes(&self) -> Result<Vec<Node<'_>>> {
        (1..=self.node_count() as u64).map(|id| self.node(id)).collect()
    }
    /// The node's metadata as a compact JSON object.
    pub fn node_metadata(&self, id: u64) -> Result<String> {
        let mut v: *mut c_char = ptr::null_mut();
        check(unsafe { sys::aph_graph_node_metadata(self.as_raw(), id, &mut v) })?;
        Ok(unsafe { take_string(v) })
    }
    /// The id of the first node named `name` (NotFound when there is none).
    pub fn find_node(&self, name: &str) -> Result<u64> {
        let n = cstr(name)?;
        let mut id = 0;
        check(unsafe { sys::aph_graph_find_node(self.as_raw(), n.as_ptr(), &mut id) })?;
        Ok(id)
    }
    /// The index-th edge (from, to).
    pub fn edge(&self, index: usize) -> Result<(u64, u64)> {
        let (mut a, mut b) = (0, 0);
        check(unsafe { sys::aph_graph_edge(self.as_raw(), index, &mut a, &mut b) })?;
        Ok((a, b))
    }
    /// Every edge, in insertion order.
    pub fn edges(&self) -> Result<Vec<(u64, u64)>> {
        (0..self.edge_count()).map(|i| self.edge(i)).collect()
    }
    /// aphelion-core's stable_hash: 64 lowercase hex digits.
    pub fn stable_hash(&self) -> Result<String> {
        let mut buf = [0u8; 65];
        check(unsafe { sys::aph_graph_stable_hash(self.as_raw(), buf.as_mut_ptr() as *mut c_char, buf.len()) })?;
        Ok(String::from_utf8_lossy(&buf[..64]).into_owned())
    }
    pub fn has_cycle(&self) -> bool {
        unsafe { sys::aph_graph_has_cycle(self.as_raw()) != 0 }
    }
    /// Node ids in Kahn's order (Build for a cycle).
    pub fn topological_sort(&self) -> Result<Vec<u64>> {
        let n = self.node_count();
        let mut ids = vec![0u64; n];
        check(unsafe { sys::aph_graph_topological_sort(self.as_raw(), if n == 0 { ptr::null_mut() } else { ids.as_mut_ptr() }, n) })?;
        Ok(ids)
    }
    /// GraphViz text.
    pub fn to_dot(&self) -> Result<String> {
        let mut v: *mut c_char = ptr::null_mut();
        check(unsafe { sys::aph_graph_to_dot(self.as_raw(), &mut v) })?;
        Ok(unsafe { take_string(v) })
    }
    /// The serde layout, compact or pretty.
    pub fn to_json(&self, pretty: bool) -> Result<String> {
        let mut v: *mut c_char = ptr::null_mut();
        check(unsafe { sys::aph_graph_to_json(self.as_raw(), pretty as i32, &mut v) })?;
        Ok(unsafe { take_string(v) })
    }
    /// Writes the pretty JSON to `path`.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let p = cstr(&path.as_ref().to_string_lossy())?;
        check(unsafe { sys::aph_graph_save(self.as_raw(), p.as_ptr()) })
    }

    /// A graph borrowed from the library (a model's, a pipeline stage's).
    pub(crate) fn borrowed_ptr(&self) -> *const sys::aph_graph {
        self.raw.as_ptr()
    }
}

impl fmt::Debug for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Graph({} nodes, {} edges)", self.node_count(), self.edge_count())
    }
}
