"""Model configurations (section 16) and build graphs (section 17)."""
from __future__ import annotations

import ctypes
import json
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from ._handle import Handle, call_out
from ._lib import cstr, lib, take_string

PathLike = Union[str, "os.PathLike[str]"]


class ModelConfig(Handle):
    """A name, a version and JSON parameters (aph_model_config), as aphelion-core's ModelConfig.
    Behaves as a mapping of its parameters: cfg["lr"] = 0.1, cfg["lr"], "lr" in cfg, del cfg["lr"].
    Not thread-safe."""

    __slots__ = ()
    _release_name = "aph_model_config_release"

    def __init__(self, name: str, version: str = "1.0.0", params: Optional[Mapping[str, Any]] = None) -> None:
        super().__init__(call_out(lib.aph_model_config_create, cstr(name), cstr(version)))
        for k, v in (params or {}).items():
            self[k] = v

    @classmethod
    def preset(cls, preset: str, name: str) -> "ModelConfig":
        """aphelion-core's presets: "small", "medium", "large"."""
        return cls._wrap(call_out(lib.aph_model_config_preset, cstr(preset), cstr(name)))

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls._wrap(call_out(lib.aph_model_config_from_json, cstr(text)))

    def clone(self) -> "ModelConfig":
        return ModelConfig._wrap(call_out(lib.aph_model_config_clone, self._h))

    @property
    def name(self) -> str:
        return lib.aph_model_config_name(self._h).decode("utf-8", "replace")

    @property
    def version(self) -> str:
        return lib.aph_model_config_version(self._h).decode("utf-8", "replace")

    def keys(self) -> List[str]:
        h = self._h
        return [lib.aph_model_config_param_key(h, i).decode() for i in range(lib.aph_model_config_param_count(h))]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return lib.aph_model_config_param_count(self._h)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and bool(lib.aph_model_config_has_param(self._h, cstr(key)))

    def __getitem__(self, key: str) -> Any:
        out = ctypes.c_void_p()
        lib.aph_model_config_get_json(self._h, cstr(key), ctypes.byref(out))
        return json.loads(take_string(out))

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def __setitem__(self, key: str, value: Any) -> None:
        h, k = self._h, cstr(key)
        if isinstance(value, bool):
            lib.aph_model_config_set_bool(h, k, int(value))
        elif isinstance(value, int):
            if -(2**63) <= value < 2**63:
                lib.aph_model_config_set_int(h, k, value)
            else:
                lib.aph_model_config_set_json(h, k, cstr(json.dumps(value)))
        elif isinstance(value, float):
            lib.aph_model_config_set_float(h, k, value)
        elif isinstance(value, str):
            lib.aph_model_config_set_string(h, k, cstr(value))
        else:
            lib.aph_model_config_set_json(h, k, cstr(json.dumps(value)))

    def __delitem__(self, key: str) -> None:
        lib.aph_model_config_remove(self._h, cstr(key))

    def get_int(self, key: str) -> int:
        out = ctypes.c_int64()
        lib.aph_model_config_get_int(self._h, cstr(key), ctypes.byref(out))
        return out.value

    def get_float(self, key: str) -> float:
        out = ctypes.c_double()
        lib.aph_model_config_get_float(self._h, cstr(key), ctypes.byref(out))
        return out.value

    def get_bool(self, key: str) -> bool:
        out = ctypes.c_int()
        lib.aph_model_config_get_bool(self._h, cstr(key), ctypes.byref(out))
        return bool(out.value)

    def get_string(self, key: str) -> str:
        out = ctypes.c_char_p()
        lib.aph_model_config_get_string(self._h, cstr(key), ctypes.byref(out))
        return (out.value or b"").decode("utf-8", "replace")

    def to_json(self) -> str:
        out = ctypes.c_void_p()
        lib.aph_model_config_to_json(self._h, ctypes.byref(out))
        return take_string(out)

    def validate(self) -> None:
        """Raises ValidationError listing every problem."""
        lib.aph_model_config_validate(self._h)

    def validation_errors(self) -> List[str]:
        out = ctypes.c_void_p()
        lib.aph_model_config_validation_errors(self._h, ctypes.byref(out))
        text = take_string(out)
        return text.split("\n") if text else []

    def __repr__(self) -> str:
        return "ModelConfig(closed)" if self.closed else f"ModelConfig({self.to_json()})"


def validate_name(name: str) -> None:
    lib.aph_validate_name(cstr(name))


def validate_version(version: str) -> None:
    lib.aph_validate_version(cstr(version))


class Node:
    """A node of a graph, read when asked: id, name, op (its configuration's name), params."""

    __slots__ = ("id", "name", "config")

    def __init__(self, id: int, name: str, config: ModelConfig) -> None:  # noqa: A002
        self.id = id
        self.name = name
        self.config = config

    @property
    def op(self) -> str:
        return self.config.name

    @property
    def params(self) -> Dict[str, Any]:
        return json.loads(self.config.to_json())["params"]

    def __repr__(self) -> str:
        return f"Node(id={self.id}, name={self.name!r}, op={self.op!r})"


class Graph(Handle):
    """A build graph (aph_graph): nodes (id, name, configuration, metadata) and edges. For the
    executor, a node's configuration name is its operation and its incoming edges are its
    operands. One thread at a time."""

    __slots__ = ()
    _release_name = "aph_graph_release"

    def __init__(self) -> None:
        super().__init__(call_out(lib.aph_graph_create))

    @classmethod
    def load(cls, path: PathLike) -> "Graph":
        return cls._wrap(call_out(lib.aph_graph_load, cstr(path)))

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Graph":
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        return cls._wrap(call_out(lib.aph_graph_from_json, data, len(data)))

    def clone(self) -> "Graph":
        return Graph._wrap(call_out(lib.aph_graph_clone, self._h))

    def save(self, path: PathLike) -> None:
        lib.aph_graph_save(self._h, cstr(path))

    def to_json(self, pretty: bool = False) -> str:
        out = ctypes.c_void_p()
        lib.aph_graph_to_json(self._h, int(bool(pretty)), ctypes.byref(out))
        return take_string(out)

    def to_dot(self) -> str:
        out = ctypes.c_void_p()
        lib.aph_graph_to_dot(self._h, ctypes.byref(out))
        return take_string(out)

    def hash(self) -> str:
        """aphelion-core's stable_hash: lowercase hex SHA-256."""
        buf = ctypes.create_string_buffer(65)
        lib.aph_graph_stable_hash(self._h, buf, 65)
        return buf.value.decode()

    stable_hash = hash

    def add_node(self, name: str, op: Union[str, ModelConfig], params: Optional[Mapping[str, Any]] = None,
                 version: str = "1.0.0", inputs: Tuple[int, ...] = ()) -> int:
        """Appends a node (its configuration: op's name and params) and returns its id; inputs
        are node ids whose edges to it are added in order (its operands)."""
        if isinstance(op, ModelConfig):
            cfg = op
            for k, v in (params or {}).items():
                cfg[k] = v
        else:
            cfg = ModelConfig(op, version, params)
        out = ctypes.c_uint64()
        try:
            lib.aph_graph_add_node(self._h, cstr(name), cfg._h, ctypes.byref(out))
        finally:
            if cfg is not op:
                cfg.close()
        for src in inputs:
            self.add_edge(src, out.value)
        return out.value

    def add_edge(self, src: int, dst: int) -> None:
        lib.aph_graph_add_edge(self._h, int(src), int(dst))

    def set_metadata(self, node_id: int, key: str, value: Any) -> None:
        lib.aph_graph_set_metadata(self._h, int(node_id), cstr(key), cstr(json.dumps(value)))

    def metadata(self, node_id: int) -> Dict[str, Any]:
        out = ctypes.c_void_p()
        lib.aph_graph_node_metadata(self._h, int(node_id), ctypes.byref(out))
        return json.loads(take_string(out))

    @property
    def node_count(self) -> int:
        return lib.aph_graph_node_count(self._h)

    @property
    def edge_count(self) -> int:
        return lib.aph_graph_edge_count(self._h)

    def __len__(self) -> int:
        return self.node_count

    def node(self, node_id: int) -> Node:
        """The node with this id (its configuration is a copy)."""
        name = ctypes.c_char_p()
        cfg = ctypes.c_void_p()
        lib.aph_graph_node(self._h, int(node_id), ctypes.byref(name), ctypes.byref(cfg))
        copy = ModelConfig._wrap(call_out(lib.aph_model_config_clone, cfg.value))
        return Node(int(node_id), (name.value or b"").decode("utf-8", "replace"), copy)

    @property
    def nodes(self) -> List[Node]:
        return [self.node(i) for i in range(1, self.node_count + 1)]

    def edge(self, index: int) -> Tuple[int, int]:
        a, b = ctypes.c_uint64(), ctypes.c_uint64()
        lib.aph_graph_edge(self._h, int(index), ctypes.byref(a), ctypes.byref(b))
        return a.value, b.value

    @property
    def edges(self) -> List[Tuple[int, int]]:
        return [self.edge(i) for i in range(self.edge_count)]

    def find_node(self, name: str) -> int:
        out = ctypes.c_uint64()
        lib.aph_graph_find_node(self._h, cstr(name), ctypes.byref(out))
        return out.value

    def has_cycle(self) -> bool:
        return bool(lib.aph_graph_has_cycle(self._h))

    def topological_sort(self) -> List[int]:
        n = self.node_count
        buf = (ctypes.c_uint64 * max(n, 1))()
        lib.aph_graph_topological_sort(self._h, buf if n else None, n)
        return list(buf[:n])

    def __repr__(self) -> str:
        return "Graph(closed)" if self.closed else f"Graph(nodes={self.node_count}, edges={self.edge_count})"
