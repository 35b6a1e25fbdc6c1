// Drives Examples/readers/csharp for Tests/python/test_readers.py. Prints one JSON line per token
// returned, with its SHA-256 instead of the token.
//
//   mono check.exe follow MS PATH...   read each path in turn for MS milliseconds
//   mono check.exe once WAIT_MS PATH   one GetTokenAsync with that wait; an error as JSON
//   mono check.exe parse 0 PATH...     TokenFile.Parse of each file's text: its token's SHA-256 or null
using System;
using System.Collections.Generic;
using System.Security.Cryptography;
using System.Text;
using MixedReality.TokenFile;

static class CSharpReaderCheck
{
    static string Json(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";

    static string Segment(string part)
    {
        var base64 = part.Replace('-', '+').Replace('_', '/');
        base64 += new string('=', (4 - base64.Length % 4) % 4);
        return base64;
    }

    static string Sha256(string text)
    {
        using (var sha = SHA256.Create())
        {
            return BitConverter.ToString(sha.ComputeHash(Encoding.UTF8.GetBytes(text))).Replace("-", "").ToLowerInvariant();
        }
    }

    static string Describe(string path, MixedRealityToken token)
    {
        var parts = token.Token.Split('.');
        var header = Encoding.UTF8.GetString(Convert.FromBase64String(Segment(parts[0])));
        var claims = Encoding.UTF8.GetString(Convert.FromBase64String(Segment(parts[1])));
        var signature = Convert.FromBase64String(Segment(parts[2]));
        var digest = Sha256(token.Token);
        // The header and claims go out as they are, for the test to read alg, aid and exp.
        return "{\"path\":" + Json(path) + ",\"sha256\":" + Json(digest)
            + ",\"expiresOnTimestamp\":" + token.ExpiresOn.ToUnixTimeMilliseconds()
            + ",\"returnedAt\":" + DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()
            + ",\"header\":" + header + ",\"claims\":" + claims + ",\"signatureBytes\":" + signature.Length + "}";
    }

    static int Main(string[] args)
    {
        if (args.Length < 3)
        {
            Console.Error.WriteLine("usage: check.exe follow MS PATH... | once WAIT_MS PATH");
            return 2;
        }
        var ms = int.Parse(args[1]);
        if (args[0] == "follow")
        {
            var readers = new List<TokenFile>();
            for (var i = 2; i < args.Length; i++)
            {
                readers.Add(new TokenFile(args[i]) { Wait = TimeSpan.FromSeconds(30), MinValidity = TimeSpan.FromMilliseconds(200) });
            }
            var end = DateTime.UtcNow.AddMilliseconds(ms);
            while (DateTime.UtcNow < end)
            {
                foreach (var reader in readers)
                {
                    Console.WriteLine(Describe(reader.Path, reader.GetTokenAsync().GetAwaiter().GetResult()));
                }
            }
            return 0;
        }
        if (args[0] == "parse")
        {
            for (var i = 2; i < args.Length; i++)
            {
                var token = TokenFile.Parse(System.IO.File.ReadAllText(args[i]));
                Console.WriteLine("{\"path\":" + Json(args[i]) + ",\"sha256\":" + (token == null ? "null" : Json(Sha256(token))) + "}");
            }
            return 0;
        }
        var once = new TokenFile(args[2]) { Wait = TimeSpan.FromMilliseconds(ms), MinValidity = TimeSpan.FromMilliseconds(100) };
        try
        {
            Console.WriteLine(Describe(once.Path, once.GetTokenAsync().GetAwaiter().GetResult()));
        }
        catch (TokenFileException error)
        {
            Console.WriteLine("{\"error\":\"TokenFileError\",\"message\":" + Json(error.Message) + "}");
        }
        return 0;
    }
}
