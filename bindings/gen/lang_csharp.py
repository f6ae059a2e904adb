"""C#: the raw P/Invoke layer of bindings/csharp (namespace Aphelion.Native).

Generates bindings/csharp/src/Native.g.cs from the header:
- every enum as a public C# enum with an `int` underlying type (open: any int is a valid value);
- every struct as a sequential struct with the C field names (pointers are IntPtr, size_t is
  UIntPtr, function pointers are IntPtr made with Marshal.GetFunctionPointerForDelegate);
- every callback type (and every inline function-pointer parameter or field) as a Cdecl delegate;
- every opaque handle type as a SafeHandle subclass (XxxHandle) whose ReleaseHandle calls
  aph_xxx_release exactly once;
- every function as a DllImport (library "aphelion", Cdecl, ExactSpelling, no string marshalling:
  strings go in as NUL-terminated UTF-8 byte[] and come back as IntPtr), internal to class
  Imports, and as a public forwarder of the same name and signature in NativeMethods that reads
  Loader.Error first (the hand-written loader in Library.cs: see there why).

Parameter mapping (the hand-written layer relies on it):
  aph_x* / const aph_x* (handle)      -> XHandle (the marshaller AddRefs it for the call),
                                         IntPtr for aph_x_retain / aph_x_release
  aph_x** (new reference)             -> out XHandle
  const aph_x** (borrowed)            -> out IntPtr
  aph_x* const* / const aph_x* const* -> IntPtr[]
  const char*                         -> byte[] (NUL-terminated UTF-8; null is NULL)
  char* followed by a capacity        -> byte[] (filled)
  char** / const char**               -> out IntPtr
  const char* const*                  -> IntPtr[]
  const T* (T a number)               -> T[]
  T* followed by a *capacity          -> T[] (filled)
  T* otherwise (T a number or enum)   -> out T
  struct pointer                      -> ref S
  void* / const void* / other         -> IntPtr; void** -> out IntPtr
Returned handles, strings and pointers are IntPtr (borrowed: the hand-written layer retains them).
"""
from __future__ import annotations

LANGUAGE = "csharp"
OUT = "bindings/csharp/src/Native.g.cs"

PRIM = {
    "int": "int", "int32_t": "int", "int64_t": "long", "uint64_t": "ulong", "size_t": "UIntPtr",
    "double": "double", "float": "float", "uint32_t": "uint", "uint8_t": "byte", "void": "void",
}
ENUM_NAMES = {"aph_dtype": "DType"}


def pascal(words: str) -> str:
    out = []
    for w in words.split("_"):
        if not w:
            continue
        if any(c.isdigit() for c in w):
            out.append(w.upper())
        else:
            out.append(w[0].upper() + w[1:].lower())
    return "".join(out)


def enum_cs_name(c_name: str) -> str:
    return ENUM_NAMES.get(c_name, pascal(c_name[4:] if c_name.startswith("aph_") else c_name))


def handle_cs_name(c_name: str) -> str:
    return pascal(c_name[4:]) + "Handle"


def member_prefix(enum) -> str:
    names = [v.name for v in enum.values]
    if enum.name == "aph_status":
        return None
    pre = names[0]
    for n in names[1:]:
        while not n.startswith(pre):
            pre = pre[:-1]
    return pre[:pre.rfind("_") + 1]


def member_name(enum, value) -> str:
    if enum.name == "aph_status":
        n = value.name[len("APH_"):]
        if n.startswith("ERR_"):
            n = n[4:]
        return pascal(n)
    return pascal(value.name[len(member_prefix(enum)):])


class Ctx:
    def __init__(self, header):
        self.h = header
        self.enums = {e.name for e in header.enums}
        self.structs = {s.name for s in header.structs}
        self.opaque = set(header.opaque)
        self.callbacks = {c.name for c in header.callbacks}
        self.inline = {}  # signature key -> delegate name

    def base(self, t: str):
        """(is_const, base type, pointer depth, const-pointee-pointer) of a C type string."""
        t = t.strip()
        inner_const = t.endswith("const*")
        t = t.replace("* const*", "**").replace("*const*", "**")
        const = t.startswith("const ")
        if const:
            t = t[6:]
        if t.startswith("struct "):
            t = t[7:]
        depth = t.count("*")
        return const, t.replace("*", "").strip(), depth, inner_const

    def scalar(self, b: str):
        if b in PRIM:
            return PRIM[b]
        if b in self.enums:
            return enum_cs_name(b)
        return None

    def field_type(self, t: str) -> str:
        const, b, depth, _ = self.base(t)
        if t == "fnptr":
            return "IntPtr"
        if depth == 0:
            s = self.scalar(b)
            if s is None and b in self.callbacks:
                return "IntPtr"
            if s is None:
                raise ValueError(f"csharp generator: no mapping for field type {t!r}")
            return s
        return "IntPtr"

    def cb_type(self, t: str) -> str:
        """A callback's parameter or return type: raw values only."""
        const, b, depth, _ = self.base(t)
        if depth == 0:
            s = self.scalar(b)
            if s is None:
                raise ValueError(f"csharp generator: no mapping for callback type {t!r}")
            return s
        return "IntPtr"

    def inline_delegate(self, owner: str, pname: str, cb: dict) -> str:
        params = [(p["type"], p["name"]) for p in cb["params"]]
        key = (cb["ret"], tuple(params))
        if key not in self.inline:
            if cb["ret"] == "void" and [t for t, _ in params] == ["void*"]:
                name = "aph_destroy_fn"
            else:
                name = f"{owner}_{pname}_fn"
            self.inline[key] = name
        return self.inline[key]

    def param(self, f, i, p) -> str:
        t = p.type
        if p.callback:
            return self.inline_delegate(f.name, p.name, p.callback)
        const, b, depth, inner_const = self.base(t)
        nxt = f.params[i + 1] if i + 1 < len(f.params) else None
        has_cap = nxt is not None and nxt.type == "size_t" and nxt.name.endswith("capacity")
        if b in self.callbacks and depth == 0:
            return b
        if b in self.opaque:
            if depth == 1 and f.name in (b + "_release", b + "_retain"):
                return "IntPtr"  # called by the SafeHandle with its raw pointer
            if depth == 1:
                return handle_cs_name(b)
            if depth == 2:
                if inner_const or ("* const*" in t):
                    return "IntPtr[]"
                return "out IntPtr" if const else f"out {handle_cs_name(b)}"
        if b == "char":
            if depth == 1:
                if const:
                    return "byte[]"
                return "[In, Out] byte[]" if has_cap else "IntPtr"
            if depth == 2:
                return "IntPtr[]" if inner_const else "out IntPtr"
        if b == "void":
            if depth == 1:
                return "IntPtr"
            if depth == 2:
                return "out IntPtr"
        if b in self.structs:
            if depth == 1:
                return f"ref {b}"
        if b.startswith("DLManagedTensor"):
            return "IntPtr" if depth == 1 else "out IntPtr"
        s = self.scalar(b)
        if s is not None:
            if depth == 0:
                return s
            if depth == 1:
                if const:
                    return f"{s}[]"
                return f"[In, Out] {s}[]" if has_cap else f"out {s}"
        raise ValueError(f"csharp generator: no mapping for {f.name}({t} {p.name})")

    def ret(self, f) -> str:
        const, b, depth, _ = self.base(f.ret)
        if depth == 0:
            s = self.scalar(b)
            if s is None:
                raise ValueError(f"csharp generator: no mapping for the result of {f.name}")
            return s
        return "IntPtr"


CS_KEYWORDS = {"out", "ref", "in", "string", "object", "event", "params", "base", "fixed", "lock",
               "operator", "checked", "decimal", "delegate", "internal", "namespace", "default"}


def ident(n: str) -> str:
    return "@" + n if n in CS_KEYWORDS else n


def doc_lines(doc, indent="    "):
    if not doc:
        return []
    first = doc.strip().split("\n\n")[0].replace("\n", " ")
    first = " ".join(first.split())
    first = first.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return [f"{indent}/// <summary>{first}</summary>"]


def generate(header) -> dict:
    c = Ctx(header)
    L = []
    w = L.append
    w("// GENERATED by bindings/gen/generate.py (bindings/gen/lang_csharp.py) from include/aphelion.h.")
    w("// Do not edit: run `python3 bindings/gen/generate.py csharp` after changing the header.")
    w("// The raw P/Invoke layer of the C# binding; the idiomatic layer (namespace Aphelion) is written")
    w("// by hand on top of it.")
    w("#pragma warning disable 1591 // generated members carry the header's first sentence at most")
    w("using System;")
    w("using System.Runtime.InteropServices;")
    w("")
    w("namespace Aphelion")
    w("{")
    for e in header.enums:
        w("")
        L.extend(doc_lines(e.doc))
        w(f"    /// <remarks>C enum {e.name}. Open: a value the library returns may have no name here;")
        w(f"    /// it is still a valid value of this type.</remarks>")
        w(f"    public enum {enum_cs_name(e.name)} : int")
        w("    {")
        for v in e.values:
            w(f"        {member_name(e, v)} = {v.value}, // {v.name}")
        w("    }")
    w("}")
    w("")
    w("namespace Aphelion.Native")
    w("{")
    w("    /// <summary>The header version these declarations were generated from.</summary>")
    w("    public static class HeaderVersion")
    w("    {")
    maj, mnr, pat = header.version
    w(f"        public const int Major = {maj};")
    w(f"        public const int Minor = {mnr};")
    w(f"        public const int Patch = {pat};")
    w("    }")
    # Structs.
    for s in header.structs:
        w("")
        L.extend(doc_lines(s.doc))
        w("    [StructLayout(LayoutKind.Sequential)]")
        w(f"    public struct {s.name}")
        w("    {")
        for fl in s.fields:
            w(f"        public {c.field_type(fl.type)} {ident(fl.name)};")
        w("    }")
    # Callback typedefs.
    for cb in header.callbacks:
        w("")
        L.extend(doc_lines(cb.doc))
        w("    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]")
        ps = ", ".join(f"{c.cb_type(p.type)} {ident(p.name)}" for p in cb.params)
        w(f"    public delegate {c.cb_type(cb.ret)} {cb.name}({ps});")
    # Inline function pointers (struct fields first, then parameters).
    for s in header.structs:
        for fl in s.fields:
            if fl.callback:
                c.inline_delegate(s.name, fl.name, fl.callback)
    for f in header.functions:
        for p in f.params:
            if p.callback:
                c.inline_delegate(f.name, p.name, p.callback)
    for (ret, params), name in c.inline.items():
        w("")
        w("    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]")
        ps = ", ".join(f"{c.cb_type(t)} {ident(n)}" for t, n in params)
        w(f"    public delegate {c.cb_type(ret)} {name}({ps});")
    # Handles.
    fnames = {f.name for f in header.functions}
    for o in header.opaque:
        rel = o + "_release"
        if rel not in fnames:
            raise ValueError(f"csharp generator: opaque type {o} has no {rel}")
        hn = handle_cs_name(o)
        has_retain = (o + "_retain") in fnames
        w("")
        w(f"    /// <summary>An {o}* reference; releasing the SafeHandle calls {rel} once.</summary>")
        w(f"    public sealed class {hn} : SafeHandle")
        w("    {")
        w(f"        /// <summary>A NULL {o}* for optional arguments; never released.</summary>")
        w(f"        public static readonly {hn} Null = new {hn}(IntPtr.Zero, false);")
        w(f"        public {hn}() : base(IntPtr.Zero, true) {{ }}")
        w(f"        /// <summary>Wraps a pointer; ownsHandle: whether this object gives a reference back.</summary>")
        w(f"        public {hn}(IntPtr handle, bool ownsHandle) : base(IntPtr.Zero, ownsHandle) {{ SetHandle(handle); }}")
        w("        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }")
        w(f"        protected override bool ReleaseHandle() {{ NativeMethods.{rel}(handle); return true; }}")
        if has_retain:
            w(f"        /// <summary>A new owned reference to a borrowed pointer ({o}_retain); null for NULL.</summary>")
            w(f"        public static {hn} Retain(IntPtr borrowed)")
            w("        {")
            w("            if (borrowed == IntPtr.Zero) return null;")
            w(f"            NativeMethods.{o}_retain(borrowed);")
            w(f"            return new {hn}(borrowed, true);")
            w("        }")
        w("    }")
    # Functions: the DllImports (internal), and public forwarders that touch Loader.Error first.
    # Reading that static field makes Mono run the loader (APHELION_LIBRARY, the version check)
    # while it compiles the calling method, before it binds the DllImport; .NET gets its
    # DllImport resolver installed by the same field's initialiser.
    w("")
    w("    static class Imports")
    w("    {")
    w("        const string LibraryName = NativeMethods.LibraryName;")
    for f in header.functions:
        ps = ", ".join(f"{c.param(f, i, p)} {ident(p.name or 'arg%d' % i)}" for i, p in enumerate(f.params)
                       if p.type != "void")
        w(f"        [DllImport(LibraryName, EntryPoint = \"{f.name}\", CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]")
        w(f"        internal static extern {c.ret(f)} {f.name}({ps});")
    w("    }")
    w("")
    w("    /// <summary>Every function of include/aphelion.h, as declared there (DllImport, Cdecl).</summary>")
    w("    public static partial class NativeMethods")
    w("    {")
    w("        /// <summary>The library name; Aphelion.dll.config maps it to libaphelion.so.MAJOR on Mono,")
    w("        /// the resolver in Library.cs on .NET.</summary>")
    w("        public const string LibraryName = \"aphelion\";")
    for f in header.functions:
        w("")
        L.extend(doc_lines(f.doc, "        "))
        decl, args = [], []
        for i, p in enumerate(f.params):
            if p.type == "void":
                continue
            t = c.param(f, i, p).replace("[In, Out] ", "")
            n = ident(p.name or "arg%d" % i)
            decl.append(f"{t} {n}")
            mod = t.split(" ")[0] if t.startswith(("out ", "ref ")) else ""
            args.append(f"{mod} {n}".strip())
        ret = c.ret(f)
        body = f"Imports.{f.name}({', '.join(args)})"
        w(f"        public static {ret} {f.name}({', '.join(decl)})")
        w(f"        {{ if (Loader.Error != null) throw Loader.Failure(); {'' if ret == 'void' else 'return '}{body}; }}")
    w("    }")
    w("}")
    return {OUT: "\n".join(L) + "\n"}
