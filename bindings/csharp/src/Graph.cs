// Model configurations (a name, a version, JSON parameters) and build graphs. Hand-written.
using System;
using System.Collections.Generic;
using System.Text;
using Aphelion.Native;

namespace Aphelion
{
    /// <summary>A model configuration (aph_model_config): name, version and parameters (a map
    /// from keys to JSON values). One thread at a time.</summary>
    public sealed class ModelConfig : NativeObject<ModelConfigHandle>
    {
        internal ModelConfig(ModelConfigHandle h) : base(h) { }

        /// <summary>A new configuration (aph_model_config_create).</summary>
        public ModelConfig(string name, string version = "1.0.0") : base(Create(name, version)) { }
        static ModelConfigHandle Create(string name, string version)
        {
            ModelConfigHandle h;
            Check.S(NativeMethods.aph_model_config_create(Utf8.Z(name), Utf8.Z(version), out h));
            return h;
        }

        /// <summary>A preset ("bert-base", ...) named name (aph_model_config_preset).</summary>
        public static ModelConfig Preset(string preset, string name)
        {
            ModelConfigHandle h;
            Check.S(NativeMethods.aph_model_config_preset(Utf8.Z(preset), Utf8.Z(name), out h));
            return new ModelConfig(h);
        }

        public static ModelConfig FromJson(string json)
        {
            ModelConfigHandle h;
            Check.S(NativeMethods.aph_model_config_from_json(Utf8.Z(json), out h));
            return new ModelConfig(h);
        }

        public ModelConfig Clone()
        {
            ModelConfigHandle h;
            Check.S(NativeMethods.aph_model_config_clone(Handle, out h));
            return new ModelConfig(h);
        }

        public string Name { get { return Utf8.From(NativeMethods.aph_model_config_name(Handle)); } }
        public string Version { get { return Utf8.From(NativeMethods.aph_model_config_version(Handle)); } }

        /// <summary>The parameter keys, sorted.</summary>
        public string[] Keys
        {
            get
            {
                int n = (int)(ulong)NativeMethods.aph_model_config_param_count(Handle);
                var r = new string[n];
                for (int i = 0; i < n; i++) r[i] = Utf8.From(NativeMethods.aph_model_config_param_key(Handle, Check.Size(i)));
                return r;
            }
        }

        public bool Has(string key) { return NativeMethods.aph_model_config_has_param(Handle, Utf8.Z(key)) != 0; }
        public void Set(string key, long value) { Check.S(NativeMethods.aph_model_config_set_int(Handle, Utf8.Z(key), value)); }
        public void Set(string key, double value) { Check.S(NativeMethods.aph_model_config_set_float(Handle, Utf8.Z(key), value)); }
        public void Set(string key, bool value) { Check.S(NativeMethods.aph_model_config_set_bool(Handle, Utf8.Z(key), value ? 1 : 0)); }
        public void Set(string key, string value) { Check.S(NativeMethods.aph_model_config_set_string(Handle, Utf8.Z(key), Utf8.Z(value))); }
        /// <summary>Sets a parameter from JSON text ("[1, 16]", "\"f32\"").</summary>
        public void SetJson(string key, string valueJson) { Check.S(NativeMethods.aph_model_config_set_json(Handle, Utf8.Z(key), Utf8.Z(valueJson))); }
        public void Remove(string key) { Check.S(NativeMethods.aph_model_config_remove(Handle, Utf8.Z(key))); }
        public long GetInt(string key) { long v; Check.S(NativeMethods.aph_model_config_get_int(Handle, Utf8.Z(key), out v)); return v; }
        public double GetFloat(string key) { double v; Check.S(NativeMethods.aph_model_config_get_float(Handle, Utf8.Z(key), out v)); return v; }
        public bool GetBool(string key) { int v; Check.S(NativeMethods.aph_model_config_get_bool(Handle, Utf8.Z(key), out v)); return v != 0; }
        public string GetString(string key) { IntPtr v; Check.S(NativeMethods.aph_model_config_get_string(Handle, Utf8.Z(key), out v)); return Utf8.From(v); }
        public string GetJson(string key) { IntPtr v; Check.S(NativeMethods.aph_model_config_get_json(Handle, Utf8.Z(key), out v)); return Utf8.Take(v); }
        public string ToJson() { IntPtr v; Check.S(NativeMethods.aph_model_config_to_json(Handle, out v)); return Utf8.Take(v); }
        /// <summary>ValidationException (or InvalidConfigException) when invalid.</summary>
        public void Validate() { Check.S(NativeMethods.aph_model_config_validate(Handle)); }
        /// <summary>Every validation error as a JSON array of strings ("[]" when valid).</summary>
        public string ValidationErrors() { IntPtr v; Check.S(NativeMethods.aph_model_config_validation_errors(Handle, out v)); return Utf8.Take(v); }

        public static void ValidateName(string name) { Check.S(NativeMethods.aph_validate_name(Utf8.Z(name))); }
        public static void ValidateVersion(string version) { Check.S(NativeMethods.aph_validate_version(Utf8.Z(version))); }

        public override string ToString() { return IsDisposed ? "ModelConfig(disposed)" : ToJson(); }
    }

    /// <summary>A build graph (aph_graph): nodes (a name and a ModelConfig), edges, metadata.
    /// One thread at a time while modified.</summary>
    public sealed class Graph : NativeObject<GraphHandle>
    {
        internal Graph(GraphHandle h) : base(h) { }

        public Graph() : base(Create()) { }
        static GraphHandle Create() { GraphHandle h; Check.S(NativeMethods.aph_graph_create(out h)); return h; }

        /// <summary>Reads a graph file (aph_graph_load).</summary>
        public static Graph Load(string path) { GraphHandle h; Check.S(NativeMethods.aph_graph_load(Utf8.Z(path), out h)); return new Graph(h); }

        public static Graph FromJson(string json)
        {
            byte[] b = Utf8.Bytes(Check.NotNull(json, "json"));
            GraphHandle h;
            Check.S(NativeMethods.aph_graph_from_json(b, Check.Size(b.Length), out h));
            return new Graph(h);
        }

        public Graph Clone() { GraphHandle h; Check.S(NativeMethods.aph_graph_clone(Handle, out h)); return new Graph(h); }
        public void Save(string path) { Check.S(NativeMethods.aph_graph_save(Handle, Utf8.Z(path))); }
        public string ToJson(bool pretty = false) { IntPtr s; Check.S(NativeMethods.aph_graph_to_json(Handle, pretty ? 1 : 0, out s)); return Utf8.Take(s); }
        public string ToDot() { IntPtr s; Check.S(NativeMethods.aph_graph_to_dot(Handle, out s)); return Utf8.Take(s); }

        /// <summary>The 64-hex-digit stable hash (aph_graph_stable_hash).</summary>
        public string StableHash()
        {
            var b = new byte[65];
            Check.S(NativeMethods.aph_graph_stable_hash(Handle, b, Check.Size(b.Length)));
            return Encoding.ASCII.GetString(b, 0, Array.IndexOf(b, (byte)0) < 0 ? b.Length : Array.IndexOf(b, (byte)0));
        }

        /// <summary>Adds a node (the configuration is copied); returns its id.</summary>
        public ulong AddNode(string name, ModelConfig config)
        {
            ulong id;
            Check.S(NativeMethods.aph_graph_add_node(Handle, Utf8.Z(name), Check.NotNull(config, "config").Handle, out id));
            return id;
        }

        public void AddEdge(ulong from, ulong to) { Check.S(NativeMethods.aph_graph_add_edge(Handle, from, to)); }
        public void SetMetadata(ulong id, string key, string valueJson) { Check.S(NativeMethods.aph_graph_set_metadata(Handle, id, Utf8.Z(key), Utf8.Z(valueJson))); }
        public int NodeCount { get { return (int)(ulong)NativeMethods.aph_graph_node_count(Handle); } }
        public int EdgeCount { get { return (int)(ulong)NativeMethods.aph_graph_edge_count(Handle); } }

        /// <summary>A node's name and a copy of its configuration.</summary>
        public string Node(ulong id, out ModelConfig config)
        {
            IntPtr name, cfg;
            Check.S(NativeMethods.aph_graph_node(Handle, id, out name, out cfg));
            string n = Utf8.From(name);
            ModelConfigHandle copy;
            using (var borrowed = new ModelConfigHandle(cfg, false))
                Check.S(NativeMethods.aph_model_config_clone(borrowed, out copy));
            config = new ModelConfig(copy);
            GC.KeepAlive(this);
            return n;
        }

        public string NodeName(ulong id) { ModelConfig c; string n = Node(id, out c); c.Dispose(); return n; }
        /// <summary>A node's metadata as a JSON object.</summary>
        public string NodeMetadata(ulong id) { IntPtr s; Check.S(NativeMethods.aph_graph_node_metadata(Handle, id, out s)); return Utf8.Take(s); }
        public ulong FindNode(string name) { ulong id; Check.S(NativeMethods.aph_graph_find_node(Handle, Utf8.Z(name), out id)); return id; }

        public KeyValuePair<ulong, ulong> Edge(int index)
        {
            ulong f, t;
            Check.S(NativeMethods.aph_graph_edge(Handle, Check.Size(index), out f, out t));
            return new KeyValuePair<ulong, ulong>(f, t);
        }

        public bool HasCycle { get { return NativeMethods.aph_graph_has_cycle(Handle) != 0; } }

        /// <summary>Node ids in a topological order (GraphException for a cycle).</summary>
        public ulong[] TopologicalSort()
        {
            var ids = new ulong[NodeCount];
            Check.S(NativeMethods.aph_graph_topological_sort(Handle, ids, Check.Size(ids.Length)));
            return ids;
        }
    }
}
