// Checks which library the process loaded (for csharp_installed: the installed copy).
using System;
using Aphelion;

namespace Aphelion.Tests
{
    [TestClass]
    public static class InstalledTests
    {
        public static void TestLoadedFromLoaderPath()
        {
            string maps = System.IO.File.ReadAllText("/proc/self/maps");
            string env = Environment.GetEnvironmentVariable("APHELION_LIBRARY");
            string want = System.IO.Path.GetFullPath(env ?? System.IO.Path.Combine(
                Environment.GetEnvironmentVariable("LD_LIBRARY_PATH").Split(':')[0], "libaphelion.so.0"));
            // The mapping names the file itself (libaphelion.so.0 is a link to it).
            want = System.IO.Path.GetDirectoryName(want);
            Assert.True(maps.Contains(want), "libaphelion mapped from " + want);
        }
    }
}
