// The C# binding's own test runner (no NUnit/xUnit): every public static void method named
// Test* of a class marked [TestClass] is a test. Prints one line per test and then
// "N passed, N failed, N skipped"; exits 1 when any failed.
//   mono AphelionTests.exe [--source-dir DIR] [name-substring...]
using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;

namespace Aphelion.Tests
{
    [AttributeUsage(AttributeTargets.Class)]
    sealed class TestClassAttribute : Attribute { }

    /// <summary>Thrown to skip a test (a missing model, no GPU).</summary>
    sealed class SkipException : Exception { public SkipException(string why) : base(why) { } }

    static class Assert
    {
        public static void True(bool c, string what) { if (!c) throw new Exception("assertion failed: " + what); }
        public static void Equal<T>(T expected, T actual, string what)
        {
            if (!EqualityComparer<T>.Default.Equals(expected, actual))
                throw new Exception(what + ": expected " + expected + ", got " + actual);
        }
        public static void SeqEqual<T>(IEnumerable<T> expected, IEnumerable<T> actual, string what)
        {
            if (!expected.SequenceEqual(actual))
                throw new Exception(what + ": expected [" + string.Join(", ", expected) + "], got [" + string.Join(", ", actual) + "]");
        }
        public static void Close(double expected, double actual, double tol, string what)
        {
            if (!(Math.Abs(expected - actual) <= tol)) throw new Exception(what + ": expected " + expected + " ± " + tol + ", got " + actual);
        }
        public static TE Throws<TE>(Action a, string what) where TE : Exception
        {
            try { a(); }
            catch (TE e) { return e; }
            catch (Exception e) { throw new Exception(what + ": expected " + typeof(TE).Name + ", got " + e.GetType().Name + ": " + e.Message); }
            throw new Exception(what + ": expected " + typeof(TE).Name + ", nothing thrown");
        }
    }

    static class Env
    {
        public static string SourceDir = Environment.GetEnvironmentVariable("APH_CS_SOURCE_DIR") ?? "../../..";
        public static string Path(params string[] parts) { return System.IO.Path.Combine(new[] { SourceDir }.Concat(parts).ToArray()); }
    }

    static class Runner
    {
        static int Main(string[] args)
        {
            var filters = new List<string>();
            for (int i = 0; i < args.Length; i++)
            {
                if (args[i] == "--source-dir" && i + 1 < args.Length) Env.SourceDir = args[++i];
                else filters.Add(args[i]);
            }
            try { Library.Load(); }
            catch (Exception e)
            {
                Console.WriteLine("cannot load libaphelion: " + e.Message);
                return 1;
            }
            Console.WriteLine("libaphelion " + Library.Version + " from " + Library.Location + " (binding " + Library.BindingVersion + ")");
            var tests = typeof(Runner).Assembly.GetTypes()
                .Where(t => t.GetCustomAttributes(typeof(TestClassAttribute), false).Length > 0)
                .OrderBy(t => t.Name)
                .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static)
                    .Where(m => m.Name.StartsWith("Test") && m.GetParameters().Length == 0)
                    .OrderBy(m => m.MetadataToken)
                    .Select(m => new { Name = t.Name + "." + m.Name, Method = m }))
                .Where(t => filters.Count == 0 || filters.Any(f => t.Name.Contains(f)))
                .ToList();
            int passed = 0, failed = 0, skipped = 0;
            foreach (var t in tests)
            {
                var sw = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    t.Method.Invoke(null, null);
                    passed++;
                    Console.WriteLine("ok    " + t.Name + " (" + sw.ElapsedMilliseconds + " ms)");
                }
                catch (TargetInvocationException tie)
                {
                    var e = tie.InnerException;
                    if (e is SkipException) { skipped++; Console.WriteLine("skip  " + t.Name + ": " + e.Message); }
                    else { failed++; Console.WriteLine("FAIL  " + t.Name + ": " + e); }
                }
            }
            // Undisposed wrappers are released by finalisers: run them now, so a double release
            // or a crash in that path shows up in this process.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            Console.WriteLine(passed + " passed, " + failed + " failed, " + skipped + " skipped");
            return failed == 0 ? 0 : 1;
        }
    }
}
