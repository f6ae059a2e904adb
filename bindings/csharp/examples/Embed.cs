// Placeholder replaced once the model API lands; prints the library version.
using System;
static class Embed { static int Main() { Console.WriteLine("libaphelion " + Aphelion.Library.Version); return 0; } }
