// The C# binding of libaphelion: loading the library, the version check, and the helpers every
// wrapper uses (UTF-8 strings both ways, status -> exception). Hand-written.
using System;
using System.Collections.Generic;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using Aphelion.Native;

namespace Aphelion.Native
{
    /// <summary>Loads the library before the first call: makes the name "aphelion" resolve to the
    /// library the user chose (APHELION_LIBRARY, a path to libaphelion.so.N), else to
    /// libaphelion.so.N on the loader's usual paths, then checks the library's version.
    ///
    /// Every public function of NativeMethods reads Error before its DllImport. Error is a static
    /// field of a class without a static constructor (beforefieldinit), which Mono initialises
    /// while it compiles the method that reads it, before it binds the DllImports that method
    /// calls (Mono binds a DllImport when it compiles its caller, so loading the library from the
    /// body of that caller would come too late). .NET runs the initialiser before the first read,
    /// and binds DllImports at their first call, through the resolver installed here.</summary>
    static class Loader
    {
        internal static readonly string LoadedFrom = Where();
        /// <summary>Why the library cannot be used; null when it can.</summary>
        internal static readonly Exception Error = Load();

        static string Where()
        {
            string path = Environment.GetEnvironmentVariable("APHELION_LIBRARY");
            return string.IsNullOrEmpty(path) ? null : path;
        }

        internal static string Describe()
        {
            return LoadedFrom ?? ("libaphelion.so." + HeaderVersion.Major + " (the loader's search path)");
        }

        static Exception Load()
        {
            try
            {
                Install(Where());
                return CheckVersion();
            }
            catch (Exception e) when (e is DllNotFoundException || e is EntryPointNotFoundException || e is BadImageFormatException)
            {
                return new DllNotFoundException(string.Format(
                    "could not load libaphelion {0}.{1} ({2}): {3}. Set APHELION_LIBRARY to the path of " +
                    "libaphelion.so.{0}, or put its directory on LD_LIBRARY_PATH", HeaderVersion.Major,
                    HeaderVersion.Minor, Describe(), e.Message), e);
            }
        }

        /// <summary>The load error, to throw (a new exception each time, wrapping the first).</summary>
        internal static Exception Failure()
        {
            if (Error is DllNotFoundException) return new DllNotFoundException(Error.Message, Error);
            return new InvalidOperationException(Error.Message, Error);
        }

        // Compiled only when called, after Install ran.
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
        static Exception CheckVersion()
        {
            int major, minor, patch;
            Imports.aph_version(out major, out minor, out patch);
            if (major == HeaderVersion.Major && minor == HeaderVersion.Minor) return null;
            return new InvalidOperationException(string.Format(
                "libaphelion {0}.{1}.{2} was loaded from {3}, but this binding (Aphelion.dll) was " +
                "written for libaphelion {4}.{5}.x: install a matching library or point " +
                "APHELION_LIBRARY at one", major, minor, patch, Describe(),
                HeaderVersion.Major, HeaderVersion.Minor));
        }

        // ---- making DllImport("aphelion") find the library ----
#if NETCOREAPP
        // .NET: a resolver for this assembly; "aphelion" -> APHELION_LIBRARY, libaphelion.so.N,
        // then the runtime's default probing (which tries libaphelion.so).
        static string chosen;
        internal static void Install(string path)
        {
            chosen = path;
            NativeLibrary.SetDllImportResolver(typeof(Loader).Assembly, (name, asm, search) =>
            {
                if (name != NativeMethods.LibraryName) return IntPtr.Zero;
                IntPtr h;
                if (chosen != null) return NativeLibrary.Load(chosen);
                if (NativeLibrary.TryLoad("libaphelion.so." + HeaderVersion.Major, asm, search, out h)) return h;
                return IntPtr.Zero;
            });
        }
#else
        // Mono: Aphelion.dll.config maps "aphelion" to libaphelion.so.N. When APHELION_LIBRARY names a
        // file, it is loaded first by its path; the dynamic loader then resolves libaphelion.so.N
        // to that already-loaded object (it matches loaded libraries by their soname).
        [DllImport("libdl.so.2", EntryPoint = "dlopen", CallingConvention = CallingConvention.Cdecl)]
        static extern IntPtr dlopen(byte[] path, int flags);
        [DllImport("libdl.so.2", EntryPoint = "dlerror", CallingConvention = CallingConvention.Cdecl)]
        static extern IntPtr dlerror();
        const int RTLD_NOW = 2, RTLD_GLOBAL = 0x100;

        internal static void Install(string path)
        {
            if (path == null) return;
            if (dlopen(Utf8.Z(path), RTLD_NOW | RTLD_GLOBAL) == IntPtr.Zero)
                throw new DllNotFoundException("dlopen(" + path + "): " + Utf8.From(dlerror()));
        }
#endif
    }
}

namespace Aphelion
{
    /// <summary>The loaded library: its version, and a way to check early that it loads.</summary>
    public static class Library
    {
        /// <summary>The header version this binding was written for ("0.2.0").</summary>
        public static string BindingVersion
        {
            get { return HeaderVersion.Major + "." + HeaderVersion.Minor + "." + HeaderVersion.Patch; }
        }

        /// <summary>Loads the library now and checks its version; throws DllNotFoundException or
        /// InvalidOperationException (not wrapped in a TypeInitializationException) when it cannot
        /// be used. Calling it is optional: the first call into the library does the same.</summary>
        public static void Load()
        {
            if (Loader.Error != null) throw Loader.Failure();
        }

        /// <summary>"MAJOR.MINOR.PATCH" of the loaded library.</summary>
        public static string Version
        {
            get { Load(); return Utf8.From(NativeMethods.aph_version_string()); }
        }

        /// <summary>Where the library was loaded from (APHELION_LIBRARY, or the loader's search).</summary>
        public static string Location { get { Load(); return Loader.Describe(); } }

        /// <summary>The enum name of a status ("APH_ERR_NOT_FOUND"; "APH_ERR_UNKNOWN" for a value
        /// this library does not know).</summary>
        public static string StatusName(Status status) { return Utf8.From(NativeMethods.aph_status_name(status)); }

        /// <summary>The calling thread's message of its most recent failing call.</summary>
        public static string LastError() { return Utf8.From(NativeMethods.aph_last_error()); }
    }

    /// <summary>UTF-8 strings across the boundary, both ways (no ANSI marshalling anywhere).</summary>
    static class Utf8
    {
        static readonly UTF8Encoding strict = new UTF8Encoding(false, false);

        /// <summary>NUL-terminated UTF-8 of s; null for null. An embedded NUL is refused (the C side
        /// would silently cut the string there).</summary>
        internal static byte[] Z(string s)
        {
            if (s == null) return null;
            if (s.IndexOf('\0') >= 0) throw new ArgumentException("string contains a NUL character: " + s.Replace("\0", "\\0"));
            int n = strict.GetByteCount(s);
            var b = new byte[n + 1];
            strict.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        /// <summary>UTF-8 bytes without a terminator (for calls that take a length).</summary>
        internal static byte[] Bytes(string s) { return s == null ? null : strict.GetBytes(s); }

        /// <summary>A C string (NUL-terminated UTF-8) as a string; null for NULL.</summary>
        internal static unsafe string From(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            byte* b = (byte*)p;
            int n = 0;
            while (b[n] != 0) n++;
            return strict.GetString(b, n);
        }

        /// <summary>A char** result the caller owns: decoded, then freed with aph_string_free.</summary>
        internal static string Take(IntPtr p)
        {
            try { return From(p); }
            finally { if (p != IntPtr.Zero) NativeMethods.aph_string_free(p); }
        }

        /// <summary>An array of C strings in unmanaged memory (for const char* const* arguments);
        /// dispose to free.</summary>
        internal sealed class StringArray : IDisposable
        {
            internal readonly IntPtr[] Pointers;
            internal readonly UIntPtr[] Lengths;
            internal StringArray(IList<string> items, bool terminate)
            {
                Pointers = new IntPtr[items.Count];
                Lengths = new UIntPtr[items.Count];
                try
                {
                    for (int i = 0; i < items.Count; i++)
                    {
                        if (items[i] == null) throw new ArgumentNullException("items[" + i + "]");
                        byte[] b = terminate ? Z(items[i]) : Bytes(items[i]);
                        int n = terminate ? b.Length - 1 : b.Length;
                        Pointers[i] = Marshal.AllocHGlobal(Math.Max(b.Length, 1));
                        Marshal.Copy(b, 0, Pointers[i], b.Length);
                        Lengths[i] = (UIntPtr)(ulong)n;
                    }
                }
                catch { Dispose(); throw; }
            }
            public void Dispose()
            {
                for (int i = 0; i < Pointers.Length; i++)
                {
                    if (Pointers[i] != IntPtr.Zero) Marshal.FreeHGlobal(Pointers[i]);
                    Pointers[i] = IntPtr.Zero;
                }
            }
        }
    }

    static class Check
    {
        /// <summary>Throws the AphelionException of a failing status, with the calling thread's
        /// message, read right away (before any other call into the library).</summary>
        internal static void S(Status s)
        {
            if (s != Status.Ok) throw AphelionException.Create(s, Library.LastError());
        }

        internal static UIntPtr Size(long n) { return (UIntPtr)(ulong)n; }
        internal static UIntPtr Size(int n) { return (UIntPtr)(uint)n; }

        internal static T NotNull<T>(T value, string name) where T : class
        {
            if (value == null) throw new ArgumentNullException(name);
            return value;
        }
    }
}
