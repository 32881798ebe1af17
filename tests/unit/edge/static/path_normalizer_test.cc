// normalize_path: every traversal, dotfile and encoding trick is refused; plain paths pass.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "edge/static/path_normalizer.h"

using berth::edge::normalize_path;
using berth::edge::NormalizedPath;
using berth::edge::PathVerdict;

namespace
{

struct Result {
    PathVerdict verdict;
    std::string path;
    bool trailing_slash;
};

Result norm(std::string_view raw, size_t cap = 1024)
{
    std::vector<char> buf(cap + 1, '~');
    NormalizedPath n = normalize_path(raw, buf.data(), cap);
    if (n.verdict == PathVerdict::kOk) {
        REQUIRE(n.path.data() == buf.data());
        REQUIRE(n.path.size() <= cap);
    }
    REQUIRE(buf[cap] == '~'); // never writes past cap
    return {n.verdict, std::string(n.path), n.trailing_slash};
}

bool rejected(std::string_view raw)
{
    return norm(raw).verdict == PathVerdict::kRejected;
}

std::string ok_path(std::string_view raw)
{
    Result r = norm(raw);
    INFO("raw: " << raw);
    REQUIRE(r.verdict == PathVerdict::kOk);
    return r.path;
}

std::vector<std::string> segments(std::string_view path)
{
    std::vector<std::string> out;
    size_t start = 1;
    while (start <= path.size()) {
        size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        out.emplace_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return out;
}

} // namespace

TEST_CASE("path normaliser passes plain paths through", "[static]")
{
    CHECK(ok_path("/") == "/");
    CHECK(ok_path("/index.html") == "/index.html");
    CHECK(ok_path("/assets/app.3f9a1b2c.js") == "/assets/app.3f9a1b2c.js");
    CHECK(ok_path("/a..b/c...d/file.") == "/a..b/c...d/file.");
    CHECK(ok_path("/a-b_c~d/e+f=g,h;i@j") == "/a-b_c~d/e+f=g,h;i@j");
}

TEST_CASE("path normaliser rejects dot segments", "[static]")
{
    for (const char *raw : {"/.", "/..", "/./", "/../", "/a/.", "/a/..", "/a/./b", "/a/../b",
                            "/../etc/passwd", "/a/b/../../..", "//..//x", "/.../x"}) {
        CAPTURE(raw);
        CHECK(rejected(raw));
    }
}

TEST_CASE("path normaliser rejects percent-encoded dot segments", "[static]")
{
    for (const char *raw : {"/%2e%2e", "/%2e%2e/etc/passwd", "/%2E%2E/x", "/%2E%2e%2f",
                            "/%2E%2e%2fetc%2fpasswd", "/.%2e", "/.%2e/x", "/%2e./x", "/%2e",
                            "/a/%2e/b", "/a%2f..%2fb", "/a%2f%2e%2e%2fb", "/%2e%2e%5cx"}) {
        CAPTURE(raw);
        CHECK(rejected(raw));
    }
}

TEST_CASE("path normaliser rejects overlong UTF-8 dots and slashes", "[static]")
{
    for (const char *raw : {"/%c0%ae", "/%c0%ae%c0%ae/x", "/%C0%AE%C0%AE%C0%AF", "/a%c0%afb",
                            "/%c0%af", "/%e0%80%ae", "/%f0%80%80%ae", "/%c1%bf"}) {
        CAPTURE(raw);
        CHECK(rejected(raw));
    }
}

TEST_CASE("path normaliser rejects invalid UTF-8 and accepts valid UTF-8", "[static]")
{
    for (const char *raw : {"/%ff", "/%fe", "/%c3", "/%c3%28", "/%80", "/%ed%a0%80",
                            "/%f4%90%80%80", "/%f8%88%80%80%80", "/caf\xc3", "/\xff"}) {
        CAPTURE(raw);
        CHECK(rejected(raw));
    }
    CHECK(ok_path("/caf%C3%A9.html") == "/caf\xc3\xa9.html");
    CHECK(ok_path("/caf\xc3\xa9.html") == "/caf\xc3\xa9.html");
    CHECK(ok_path("/%e2%82%ac/%f0%9f%98%80") == "/\xe2\x82\xac/\xf0\x9f\x98\x80");
    CHECK(ok_path("/%f4%8f%bf%bf") == "/\xf4\x8f\xbf\xbf");
}

TEST_CASE("path normaliser rejects backslashes in any encoding", "[static]")
{
    for (const char *raw : {"/a\\b", "/..\\x", "/\\..\\x", "/%5c", "/%5C..%5Cx", "/a%5cb"}) {
        CAPTURE(raw);
        CHECK(rejected(raw));
    }
}

TEST_CASE("path normaliser rejects NUL and control bytes", "[static]")
{
    CHECK(rejected("/a%00"));
    CHECK(rejected("/a%00.html"));
    CHECK(rejected("/%00/x"));
    CHECK(rejected(std::string_view("/a\0b", 4)));
    CHECK(rejected("/a%0a"));
    CHECK(rejected("/a%0D%0ASet-Cookie:x"));
    CHECK(rejected("/a%09b"));
    CHECK(rejected("/a%7f"));
    CHECK(rejected("/a\x7f"));
    CHECK(rejected("/a\tb"));
}

TEST_CASE("path normaliser decodes exactly once", "[static]")
{
    // "%252e%252e" decodes to the literal name "%2e%2e", which names a file and cannot escape.
    CHECK(ok_path("/%252e%252e") == "/%2e%2e");
    CHECK(ok_path("/%252e%252e/%252e%252e/etc/passwd") == "/%2e%2e/%2e%2e/etc/passwd");
    CHECK(ok_path("/%252f") == "/%2f");
    CHECK(ok_path("/a%20b") == "/a b");
    CHECK(ok_path("/%41%62c") == "/Abc");
    CHECK(ok_path("/a%2fb") == "/a/b");
}

TEST_CASE("path normaliser rejects malformed escapes", "[static]")
{
    for (const char *raw : {"/%", "/%2", "/a%", "/a%g0", "/%zz", "/%2x", "/% 2e", "/%%2e"}) {
        CAPTURE(raw);
        CHECK(rejected(raw));
    }
}

TEST_CASE("path normaliser rejects paths that are not absolute", "[static]")
{
    CHECK(rejected(""));
    CHECK(rejected("a/b"));
    CHECK(rejected("*"));
    CHECK(rejected("%2fa"));
    CHECK(rejected("http://a.test/x"));
}

TEST_CASE("path normaliser rejects dotfiles and hidden directories", "[static]")
{
    for (const char *raw :
         {"/.env", "/.git/config", "/.git/", "/a/.htpasswd", "/a/b/.DS_Store", "/%2egit/config",
          "/%2Eenv", "//.env", "/.well-known.evil/x", "/.WELL-KNOWN/x", "/a/.well-known",
          "/a/.well-known/x", "/.well-known/.secret", "/.well-known/../.git"}) {
        CAPTURE(raw);
        CHECK(rejected(raw));
    }
}

TEST_CASE("path normaliser allows only a leading /.well-known/", "[static]")
{
    CHECK(ok_path("/.well-known/acme-challenge/x") == "/.well-known/acme-challenge/x");
    CHECK(ok_path("/.well-known/security.txt") == "/.well-known/security.txt");
    CHECK(ok_path("//.well-known//acme-challenge/tok") == "/.well-known/acme-challenge/tok");
    CHECK(ok_path("/%2ewell-known/x") == "/.well-known/x");
}

TEST_CASE("path normaliser collapses repeated slashes", "[static]")
{
    CHECK(ok_path("//") == "/");
    CHECK(ok_path("///a") == "/a");
    CHECK(ok_path("/a//b///c") == "/a/b/c");
    CHECK(ok_path("/a/%2f/b") == "/a/b");
}

TEST_CASE("path normaliser flags a trailing slash without keeping it", "[static]")
{
    Result r = norm("/docs/");
    CHECK(r.verdict == PathVerdict::kOk);
    CHECK(r.path == "/docs");
    CHECK(r.trailing_slash);

    r = norm("/docs//");
    CHECK(r.path == "/docs");
    CHECK(r.trailing_slash);

    r = norm("/docs%2f");
    CHECK(r.path == "/docs");
    CHECK(r.trailing_slash);

    r = norm("/docs");
    CHECK_FALSE(r.trailing_slash);

    // The root is not "a directory with a trailing slash".
    CHECK_FALSE(norm("/").trailing_slash);
    CHECK_FALSE(norm("///").trailing_slash);
}

TEST_CASE("path normaliser returns kTooLong when the decoded path does not fit", "[static]")
{
    CHECK(norm("/abcdefg", 8).verdict == PathVerdict::kOk);
    CHECK(norm("/abcdefgh", 8).verdict == PathVerdict::kTooLong);
    CHECK(norm("/abc%20efgh", 8).verdict == PathVerdict::kTooLong);
    CHECK(norm("/" + std::string(5000, 'a'), 4096).verdict == PathVerdict::kTooLong);

    // Escapes shrink: the decoded length counts, not the raw one.
    Result r = norm("/%61%62%63", 4);
    CHECK(r.verdict == PathVerdict::kOk);
    CHECK(r.path == "/abc");

    CHECK(norm("/", 0).verdict == PathVerdict::kRejected);
    CHECK(norm("/", 1).path == "/");
}

TEST_CASE("path normaliser output never contains a dot segment (property)", "[static]")
{
    // Paths built from pieces chosen to hit every branch: escapes of '.', '/', '\', '%', NUL,
    // overlong forms, ".well-known", plain names and repeated slashes.
    const std::vector<std::string> pieces = {"/",      "/",           "//",
                                             ".",      "..",          "%2e",
                                             "%2E",    "%2f",         "%2F",
                                             "%5c",    "\\",          "%",
                                             "%25",    "%252e",       "%c0%ae",
                                             "%c0%af", "%00",         "a",
                                             "b.c",    "-",           "%41",
                                             "%e2%82", "%ac",         "\xc3\xa9",
                                             "\xc3",   ".well-known", "%2ewell-known",
                                             "~",      ".git",        "x%",
                                             "%2",     "e",           "%20",
                                             "\x7f",   "\t",          "?",
                                             "#",      "%ff"};
    std::mt19937 rng(20261122);
    int ok = 0, rejected_count = 0;
    for (int i = 0; i < 50000; ++i) {
        std::string raw = (rng() % 16 == 0) ? "" : "/";
        size_t n = rng() % 9;
        for (size_t k = 0; k < n; ++k)
            raw += pieces[rng() % pieces.size()];
        size_t cap = (rng() % 4 == 0) ? rng() % 12 : 256;
        Result r = norm(raw, cap);
        if (r.verdict != PathVerdict::kOk) {
            ++rejected_count;
            continue;
        }
        ++ok;
        INFO("raw: " << raw << " -> " << r.path);
        REQUIRE(!r.path.empty());
        REQUIRE(r.path.front() == '/');
        REQUIRE(r.path.find('\\') == std::string::npos);
        REQUIRE(r.path.find('\0') == std::string::npos);
        REQUIRE(r.path.find("//") == std::string::npos);
        if (r.path == "/") continue;
        REQUIRE(r.path.back() != '/');
        std::vector<std::string> segs = segments(r.path);
        for (size_t s = 0; s < segs.size(); ++s) {
            REQUIRE(segs[s] != ".");
            REQUIRE(segs[s] != "..");
            REQUIRE(!segs[s].empty());
            if (segs[s].front() == '.') REQUIRE((s == 0 && segs[s] == ".well-known"));
        }
        // Normal output is a fixed point when no escape is left to decode.
        if (r.path.find('%') == std::string::npos) {
            Result again = norm(r.path, 256);
            REQUIRE(again.verdict == PathVerdict::kOk);
            REQUIRE(again.path == r.path);
        }
    }
    // The generator must exercise both outcomes for the property to mean anything.
    CHECK(ok > 1000);
    CHECK(rejected_count > 1000);
}
