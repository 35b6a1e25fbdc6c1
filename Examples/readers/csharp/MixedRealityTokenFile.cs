// Reads the Mixed Reality access token that mr-token-sidecar keeps fresh in a file.
//
// Copy this file into your project; it needs nothing but the base class library (.NET Framework
// 4.7, .NET 6+ and Mono/Unity: it uses DataContractJsonSerializer, present in all of them).
//
//   var tokens = new MixedReality.TokenFile.TokenFile("/var/run/mixedreality/token");
//   MixedRealityToken token = await tokens.GetTokenAsync(cancellationToken); // waits for the first
//   var client = new RemoteRenderingClient(endpoint, accountId, accountDomain,
//       new Azure.Core.AccessToken(token.Token, token.ExpiresOn));
//
// The rules (docs/consuming-tokens.md):
// - At start the file may not exist yet: GetTokenAsync waits for it, up to Wait, then throws
//   TokenFileException naming the file.
// - Call GetTokenAsync each time you need the token: it re-reads the file when it changed (one
//   stat per call) and keeps nothing past the token's expiry. It never returns a token that
//   expires within MinValidity, nor a partial one.
// - It reads only a regular file of at most 1 MiB, opened without blocking (on Linux, through libc's
//   open and lseek): a FIFO or a device that another container put at the path, or a huge file, is
//   no token (it cannot block or exhaust the application).
// - The file holds a Mixed Reality token, not an Entra ID token: hand it to a Mixed Reality client
//   as an AccessToken (as above), never as a TokenCredential, which the Azure SDKs would exchange
//   at the STS again. Build a new client from a fresh token before the old one's ExpiresOn.
using System;
using System.IO;
using System.Runtime.InteropServices;
using System.Runtime.Serialization;
using System.Runtime.Serialization.Json;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace MixedReality.TokenFile
{
    /// <summary>A Mixed Reality access token and its expiry.</summary>
    public struct MixedRealityToken
    {
        public MixedRealityToken(string token, DateTimeOffset expiresOn)
        {
            Token = token;
            ExpiresOn = expiresOn;
        }

        public string Token { get; }
        public DateTimeOffset ExpiresOn { get; }

        /// <summary>Never the token itself: a token must not reach a log.</summary>
        public override string ToString() => "MixedRealityToken(expires " + ExpiresOn.ToString("o") + ")";
    }

    /// <summary>No valid token appeared in the file within the wait.</summary>
    public class TokenFileException : Exception
    {
        public TokenFileException(string message) : base(message) { }
    }

    /// <summary>
    /// The sidecar's file, in any of its formats (token, json, env; told apart by content).
    /// Safe for concurrent use.
    /// </summary>
    public class TokenFile
    {
        const string EnvName = "MIXED_REALITY_ACCESS_TOKEN=";
        const int MaxBytes = 1 << 20;
        readonly object gate = new object();
        long[] identity;
        MixedRealityToken? cached;
        string problem = "no such file";

        public TokenFile(string path = "/var/run/mixedreality/token")
        {
            Path = path;
        }

        public string Path { get; }

        /// <summary>How long GetTokenAsync waits for a valid token (default 60 s).</summary>
        public TimeSpan Wait { get; set; } = TimeSpan.FromSeconds(60);

        /// <summary>The least validity of a token returned (default 60 s).</summary>
        public TimeSpan MinValidity { get; set; } = TimeSpan.FromSeconds(60);

        /// <summary>The file's token, valid for at least MinValidity.</summary>
        /// <exception cref="TokenFileException">No valid token within Wait.</exception>
        public async Task<MixedRealityToken> GetTokenAsync(CancellationToken cancellationToken = default(CancellationToken))
        {
            var deadline = DateTime.UtcNow + Wait;
            var delay = TimeSpan.FromMilliseconds(50);
            while (true)
            {
                var token = Current();
                if (token.HasValue) return token.Value;
                var remaining = deadline - DateTime.UtcNow;
                if (remaining <= TimeSpan.Zero)
                {
                    string why;
                    lock (gate) { why = problem; }
                    throw new TokenFileException(
                        "no token valid for " + MinValidity.TotalSeconds + " s in " + Path + " after " + Wait.TotalSeconds
                        + " s (" + why + "): is mr-token-sidecar running? Its /status and logs say why not");
                }
                await Task.Delay(remaining < delay ? remaining : delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
            }
        }

        MixedRealityToken? Current()
        {
            var info = new FileInfo(Path);
            lock (gate)
            {
                if (!info.Exists)
                {
                    problem = "no such file";
                    return null;
                }
                var now = new[] { info.Length, info.LastWriteTimeUtc.Ticks };
                if (!cached.HasValue || identity == null || identity[0] != now[0] || identity[1] != now[1])
                {
                    var read = Read();
                    if (!read.HasValue) return null;
                    cached = read;
                    identity = now;
                }
                if (cached.Value.ExpiresOn - DateTimeOffset.UtcNow < MinValidity)
                {
                    problem = "the token in it expires too soon";
                    return null;
                }
                return cached;
            }
        }

        // libc, on Linux: open without blocking (a FIFO waits for a writer otherwise), lseek, which
        // fails on a FIFO, read and close (Mono's FileStream does not take a descriptor). The flags
        // are those of Linux on x86-64 and arm64.
        const int ReadOnlyNonBlocking = 0x800 | 0x80000; // O_RDONLY | O_NONBLOCK | O_CLOEXEC
        const int SeekSet = 0, SeekEnd = 2;

        [DllImport("libc", EntryPoint = "open", SetLastError = true)]
        static extern int LibcOpen(string path, int flags);

        [DllImport("libc", EntryPoint = "lseek", SetLastError = true)]
        static extern long LibcSeek(int descriptor, long offset, int whence);

        [DllImport("libc", EntryPoint = "read", SetLastError = true)]
        static extern IntPtr LibcRead(int descriptor, byte[] buffer, IntPtr count);

        [DllImport("libc", EntryPoint = "close")]
        static extern int LibcClose(int descriptor);

        /// <summary>At most MaxBytes + 1 bytes of the file, when it is a regular file (or a device,
        /// whose endless content the cap stops); null with the problem set otherwise.</summary>
        byte[] ReadBytes()
        {
            var bytes = new MemoryStream();
            var buffer = new byte[8192];
            if (Environment.OSVersion.Platform != PlatformID.Unix)
            {
                using (var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
                {
                    int count;
                    while (bytes.Length <= MaxBytes && (count = stream.Read(buffer, 0, buffer.Length)) > 0)
                    {
                        bytes.Write(buffer, 0, count);
                    }
                }
                return bytes.ToArray();
            }
            var descriptor = LibcOpen(Path, ReadOnlyNonBlocking);
            if (descriptor < 0)
            {
                problem = "cannot be opened";
                return null;
            }
            try
            {
                if (LibcSeek(descriptor, 0, SeekEnd) < 0 || LibcSeek(descriptor, 0, SeekSet) < 0)
                {
                    problem = "not a regular file";
                    return null;
                }
                while (bytes.Length <= MaxBytes)
                {
                    var count = (long)LibcRead(descriptor, buffer, new IntPtr(buffer.Length));
                    if (count < 0)
                    {
                        if (Marshal.GetLastWin32Error() == 4) continue; // EINTR
                        problem = "cannot be read";
                        return null;
                    }
                    if (count == 0) break;
                    bytes.Write(buffer, 0, (int)count);
                }
                return bytes.ToArray();
            }
            finally
            {
                LibcClose(descriptor);
            }
        }

        MixedRealityToken? Read()
        {
            byte[] bytes;
            try
            {
                bytes = ReadBytes();
            }
            catch (IOException) { problem = "cannot be read"; return null; }
            catch (UnauthorizedAccessException) { problem = "cannot be read"; return null; }
            if (bytes == null) return null;
            if (bytes.Length > MaxBytes)
            {
                problem = "larger than 1 MiB";
                return null;
            }
            var token = Parse(new UTF8Encoding(false).GetString(bytes));
            var expiresOn = token == null ? null : JwtExpiry(token);
            if (!expiresOn.HasValue)
            {
                problem = "no whole token in it";
                return null;
            }
            return new MixedRealityToken(token, expiresOn.Value);
        }

        [DataContract]
        class JsonFile
        {
            [DataMember(Name = "accessToken")] public string AccessToken;
        }

        [DataContract]
        class Claims
        {
            [DataMember(Name = "exp")] public double? Exp;
        }

        static T Deserialize<T>(byte[] json) where T : class
        {
            try
            {
                using (var stream = new MemoryStream(json))
                {
                    return new DataContractJsonSerializer(typeof(T)).ReadObject(stream) as T;
                }
            }
            catch (SerializationException) { return null; }
            catch (InvalidCastException) { return null; }
        }

        /// <summary>Whether the text is one JSON object, its closing brace the last character.</summary>
        static bool IsOneObject(string text)
        {
            var depth = 0;
            var inString = false;
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (inString)
                {
                    if (c == '\\') i++;
                    else if (c == '"') inString = false;
                    continue;
                }
                if (c == '"') inString = true;
                else if (c == '{' || c == '[') depth++;
                else if (c == '}' || c == ']')
                {
                    depth--;
                    if (depth == 0) return i == text.Length - 1 && c == '}';
                    if (depth < 0) return false;
                }
            }
            return false;
        }

        /// <summary>The token in a file's text, whatever its format; null when it holds none.</summary>
        public static string Parse(string text)
        {
            text = text.Trim();
            string token = null;
            if (text.StartsWith("{", StringComparison.Ordinal))
            {
                // DataContractJsonSerializer reads an object whose closing brace is missing, or
                // with more after it: the text must be one whole object (the grammar's vectors).
                if (!IsOneObject(text)) return null;
                var file = Deserialize<JsonFile>(Encoding.UTF8.GetBytes(text));
                token = file == null ? null : file.AccessToken;
            }
            else if (text.Contains(EnvName))
            {
                foreach (var line in text.Split('\n'))
                {
                    if (!line.StartsWith(EnvName, StringComparison.Ordinal)) continue;
                    token = line.Substring(EnvName.Length);
                    if (token.Length >= 2 && token[0] == '\'' && token[token.Length - 1] == '\'')
                    {
                        token = token.Substring(1, token.Length - 2).Replace("'\\''", "'");
                    }
                    break;
                }
            }
            else
            {
                token = text;
            }
            if (token == null || token.Split('.').Length != 3) return null;
            foreach (var c in token)
            {
                if (char.IsWhiteSpace(c)) return null;
            }
            return token;
        }

        /// <summary>The exp claim of a whole JWT; null when the token is not one.</summary>
        public static DateTimeOffset? JwtExpiry(string token)
        {
            var parts = token.Split('.');
            if (parts.Length != 3 || parts[0].Length == 0 || parts[2].Length == 0) return null;
            var payload = Base64UrlDecode(parts[1]);
            var claims = payload == null ? null : Deserialize<Claims>(payload);
            if (claims == null || !claims.Exp.HasValue) return null;
            return DateTimeOffset.FromUnixTimeSeconds((long)claims.Exp.Value);
        }

        static byte[] Base64UrlDecode(string text)
        {
            var base64 = text.Replace('-', '+').Replace('_', '/').TrimEnd('=');
            base64 += new string('=', (4 - base64.Length % 4) % 4);
            try { return Convert.FromBase64String(base64); }
            catch (FormatException) { return null; }
        }
    }
}
