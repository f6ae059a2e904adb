// Coverage: every function of include/aphelion.h is declared (generated DllImport + public
// forwarder) and called by the binding's sources (the idiomatic layer, or the SafeHandles for
// retain/release), or listed in bindings/csharp/BINDING_EXCLUSIONS with a reason.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Aphelion.Tests
{
    [TestClass]
    public static class CoverageTests
    {
        static List<string> HeaderFunctions()
        {
            var psi = new ProcessStartInfo(Environment.GetEnvironmentVariable("APH_TEST_PYTHON") ?? "python3",
                "\"" + Env.Path("tools", "aphelion_header.py") + "\" --functions")
            { RedirectStandardOutput = true, UseShellExecute = false };
            using (var p = Process.Start(psi))
            {
                string o = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                Assert.Equal(0, p.ExitCode, "tools/aphelion_header.py --functions");
                return o.Split(new[] { '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim()).ToList();
            }
        }

        public static void TestEveryFunctionBound()
        {
            var funcs = HeaderFunctions();
            Assert.True(funcs.Count > 250, "header functions: " + funcs.Count);
            var asm = typeof(Aphelion.Native.NativeMethods).Assembly;
            var imports = new HashSet<string>(asm.GetType("Aphelion.Native.Imports", true)
                .GetMethods(BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public)
                .Select(m => m.GetCustomAttributes(typeof(DllImportAttribute), false).Cast<DllImportAttribute>().Select(a => a.EntryPoint).FirstOrDefault())
                .Where(n => n != null));
            var forwarders = new HashSet<string>(typeof(Aphelion.Native.NativeMethods).GetMethods(BindingFlags.Static | BindingFlags.Public).Select(m => m.Name));
            // Called: by the hand-written sources (calls, or method groups passed on), and the
            // retain/release calls of the generated SafeHandles (the generated forwarders do not count).
            var called = new HashSet<string>();
            foreach (var file in Directory.GetFiles(Env.Path("bindings", "csharp", "src"), "*.cs"))
            {
                bool generated = file.EndsWith(".g.cs");
                var pattern = generated ? @"NativeMethods\.(aph_\w+_(?:retain|release))\b" : @"(?:NativeMethods|Imports)\.(aph_\w+)\b";
                foreach (Match m in Regex.Matches(File.ReadAllText(file), pattern)) called.Add(m.Groups[1].Value);
            }
            var excluded = new Dictionary<string, string>();
            foreach (var raw in File.ReadAllLines(Env.Path("bindings", "csharp", "BINDING_EXCLUSIONS")))
            {
                var line = raw.Trim();
                if (line.Length == 0 || line.StartsWith("#")) continue;
                var parts = line.Split(new[] { ' ', '\t' }, 2, StringSplitOptions.RemoveEmptyEntries);
                Assert.True(parts.Length == 2 && parts[1].Trim().Length > 0, "exclusion without a reason: " + line);
                excluded[parts[0]] = parts[1].Trim();
            }
            var problems = new List<string>();
            foreach (var f in funcs)
            {
                if (!imports.Contains(f)) problems.Add(f + ": no DllImport (run bindings/gen/generate.py csharp)");
                if (!forwarders.Contains(f)) problems.Add(f + ": no NativeMethods forwarder");
                if (!called.Contains(f) && !excluded.ContainsKey(f)) problems.Add(f + ": neither called by bindings/csharp/src nor in BINDING_EXCLUSIONS");
            }
            foreach (var e in excluded.Keys)
            {
                if (!funcs.Contains(e)) problems.Add("BINDING_EXCLUSIONS names " + e + ", which is no header function");
                else if (called.Contains(e)) problems.Add("BINDING_EXCLUSIONS names " + e + ", which the binding calls");
            }
            foreach (var i in imports) if (!funcs.Contains(i)) problems.Add(i + ": a DllImport of no header function (stale generated file)");
            Assert.True(problems.Count == 0, "coverage:\n  " + string.Join("\n  ", problems));
        }
    }
}
