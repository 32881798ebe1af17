// UPLOAD archives (#16) and fleet deployment archives: real gzip'd tars written with
// libarchive's writer (so hostile entries can be made at all) or packed from a directory,
// checked entry by entry and unpacked into a temp directory.
#include <catch2/catch.hpp>

#include <archive_entry.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "shared/archive/pack_directory.h"
#include "shared/archive/tarball.h"
#include "shared/fleet/signature.h"
#include "tests/control/support/tarball_writer.h"
#include "tests/support/temp_tree.h"

using namespace berth::shared;
using berth::test::make_tarball;
namespace fs = std::filesystem;

namespace
{

std::string slurp(const fs::path &p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> listing(const TarballCheck &c)
{
    std::vector<std::string> out;
    for (const RefusedEntry &r : c.refused)
        out.push_back(r.path + ": " + r.reason);
    return out;
}

} // namespace

TEST_CASE("an upload tarball unpacks files, directories and links inside the tree",
          "[control][upload]")
{
    std::string tgz = make_tarball({
        {AE_IFDIR, "./", "", 0755},
        {AE_IFDIR, "./dist", "", 0755},
        {AE_IFREG, "./dist/index.html", "<h1>hi</h1>"},
        {AE_IFREG, "dist/run.sh", "#!/bin/sh\n", 04755}, // set-uid is dropped
        {AE_IFREG, "deep/er/file.txt", "deep"},          // parents without entries
        {AE_IFLNK, "dist/latest", "index.html"},
        {AE_IFLNK, "deep/er/up", "../../dist"},
        {AE_IFREG, "dist/copy.html", "./dist/index.html", 0644, true},
    });
    TarballCheck c = check_tarball(tgz);
    CHECK(c.error.empty());
    CHECK(listing(c).empty());
    CHECK(c.entries == 8);
    CHECK(c.unpacked_bytes == 11 + 10 + 4);

    berth::test::TempTree t;
    fs::path dest = t.path("out");
    fs::create_directories(dest);
    extract_tarball(tgz, dest);
    CHECK(slurp(dest / "dist/index.html") == "<h1>hi</h1>");
    CHECK(slurp(dest / "deep/er/file.txt") == "deep");
    CHECK(fs::read_symlink(dest / "dist/latest") == "index.html");
    CHECK(fs::read_symlink(dest / "deep/er/up") == "../../dist");
    CHECK(slurp(dest / "dist/copy.html") == "<h1>hi</h1>");
    struct stat st {
    };
    REQUIRE(::stat((dest / "dist/run.sh").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    REQUIRE(::stat((dest / "dist/index.html").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);

    // A plain (not gzip'd) tar is read too.
    CHECK(check_tarball(make_tarball({{AE_IFREG, "a.txt", "a"}}, false)).ok());
}

TEST_CASE("a hostile upload tarball is refused entry by entry and nothing is written",
          "[control][upload]")
{
    std::string tgz = make_tarball({
        {AE_IFREG, "ok.txt", "fine"},
        {AE_IFREG, "/etc/cron.d/evil", "x"},
        {AE_IFREG, "../outside", "x"},
        {AE_IFREG, "a/../../outside", "x"},
        {AE_IFLNK, "up", "../../etc"},
        {AE_IFLNK, "abs", "/etc/passwd"},
        {AE_IFCHR, "null", ""},
        {AE_IFIFO, "pipe", ""},
        {AE_IFLNK, "inner", "ok.txt"},
        {AE_IFREG, "inner/x", "through a symlink"},
        {AE_IFREG, "ok.txt/y", "below a file"},
        {AE_IFREG, "ok.txt", "again"},
        {AE_IFREG, "hard", "/etc/shadow", 0644, true},
        {AE_IFREG, "hard2", "missing.txt", 0644, true},
        {AE_IFREG, "bell\a", "x"},
    });
    TarballCheck c = check_tarball(tgz);
    CHECK(c.error.empty());
    CHECK(listing(c) == std::vector<std::string>{
                            "/etc/cron.d/evil: absolute path",
                            "../outside: '..' in the path",
                            "a/../../outside: '..' in the path",
                            "up: symlink to ../../etc leaves the tree",
                            "abs: symlink to /etc/passwd leaves the tree",
                            "null: device file",
                            "pipe: FIFO",
                            "inner/x: path goes through inner, which is not a directory",
                            "ok.txt/y: path goes through ok.txt, which is not a directory",
                            "ok.txt: appears twice in the archive",
                            "hard: hard link leaves the tree",
                            "hard2: hard link to missing.txt, which is not a file earlier in "
                            "the archive",
                            "bell\a: control character in the path",
                        });
    CHECK_FALSE(c.ok());

    berth::test::TempTree t;
    fs::path dest = t.path("out");
    fs::create_directories(dest);
    CHECK_THROWS_WITH(extract_tarball(tgz, dest), "/etc/cron.d/evil: absolute path");
    CHECK(fs::is_empty(dest));
}

TEST_CASE("symlinks that leave the tree only through each other are refused", "[control][upload]")
{
    // Each link alone stays inside, lexically: d/up -> .. lands on the tree's top, and
    // esc -> d/up/../.. reads as the top again. On disk, d/up/.. is the tree's parent and esc
    // lands outside it. Loops are refused too. A chain that stays inside (a pnpm-style
    // node_modules) is kept.
    const std::vector<berth::test::TarItem> pnpm = {
        {AE_IFREG, "node_modules/.pnpm/foo@1/node_modules/foo/bin/x", "#!/bin/sh\n", 0755},
        {AE_IFLNK, "node_modules/foo", ".pnpm/foo@1/node_modules/foo"},
        {AE_IFLNK, "node_modules/.bin/x", "../foo/bin/x"},
        {AE_IFDIR, "d", ""},
        {AE_IFLNK, "d/up", ".."}};
    std::vector<berth::test::TarItem> hostile = pnpm;
    const std::vector<std::pair<std::string, std::string>> escapes = {{"esc", "d/up/../.."},
                                                                      {"esc2", "later/.."},
                                                                      {"later", "d/up/.."},
                                                                      {"loop1", "loop2/x"},
                                                                      {"loop2", "loop1/y"}};
    for (const auto &[path, target] : escapes)
        hostile.push_back({AE_IFLNK, path, target});
    std::string tgz = make_tarball(hostile);
    TarballCheck c = check_tarball(tgz);
    CHECK(c.error.empty());
    const std::string how = " leaves the tree through the archive's other symlinks";
    CHECK(listing(c) == std::vector<std::string>{
                            "esc: symlink to d/up/../.." + how,
                            "esc2: symlink to later/.." + how,
                            "later: symlink to d/up/.." + how,
                            "loop1: symlink to loop2/x" + how,
                            "loop2: symlink to loop1/y" + how,
                        });
    berth::test::TempTree t;
    fs::create_directories(t.path("out"));
    CHECK_THROWS(extract_tarball(tgz, t.path("out")));
    CHECK(fs::is_empty(t.path("out")));

    std::string fine = make_tarball(pnpm);
    CHECK(check_tarball(fine).ok());
    extract_tarball(fine, t.path("out"));
    CHECK(slurp(t.path("out/node_modules/.bin/x")) == "#!/bin/sh\n");
}

TEST_CASE("upload tarball limits and unreadable archives", "[control][upload]")
{
    TarballLimits small;
    small.max_unpacked_bytes = 1000;
    small.max_entries = 3;
    small.max_path_bytes = 20;
    std::string data(600, 'x');
    TarballCheck big =
        check_tarball(make_tarball({{AE_IFREG, "a", data}, {AE_IFREG, "b", data}}), small);
    CHECK(listing(big) == std::vector<std::string>{"b: unpacks past the limit of 1000 bytes"});
    TarballCheck many = check_tarball(
        make_tarball(
            {{AE_IFREG, "1", ""}, {AE_IFREG, "2", ""}, {AE_IFREG, "3", ""}, {AE_IFREG, "4", ""}}),
        small);
    CHECK(listing(many) == std::vector<std::string>{": more than 3 entries"});
    TarballCheck longer =
        check_tarball(make_tarball({{AE_IFREG, std::string(21, 'p'), ""}}), small);
    CHECK(listing(longer) ==
          std::vector<std::string>{std::string(21, 'p') + ": path longer than 20 bytes"});

    CHECK_FALSE(check_tarball("this is not an archive at all").error.empty());
    CHECK_FALSE(check_tarball("").error.empty());
    std::string noise(100000, '\0');
    uint32_t x = 1;
    for (char &ch : noise) // incompressible, so half the archive is half the data
        ch = char((x = x * 1664525u + 1013904223u) >> 24);
    std::string cut = make_tarball({{AE_IFREG, "a", noise}});
    cut.resize(cut.size() / 2);
    // A truncated gzip stream: the header reads, the data does not; extraction says so.
    berth::test::TempTree t;
    fs::path dest = t.path("out");
    fs::create_directories(dest);
    CHECK_THROWS(extract_tarball(cut, dest));
}

TEST_CASE("a deployment directory packs into an archive that unpacks to the same tree",
          "[control][fleet]")
{
    berth::test::TempTree t;
    t.write("site/index.html", "<h1>home</h1>");
    t.write("site/assets/app.3f9a.js", std::string(300000, 'j')); // several read blocks
    t.write("site/run.sh", "#!/bin/sh\n");
    t.write("site/empty.txt", "");
    fs::permissions(t.path("site/run.sh"), fs::perms(0755));
    fs::create_directories(t.path("site/empty-dir"));
    fs::create_symlink("index.html", t.path("site/latest"));
    fs::create_symlink("../index.html", t.path("site/assets/up"));

    std::string tgz = pack_directory(t.path("site"), 1 << 20);
    CHECK(tgz.size() < 10000); // compressed
    // The same tree packs to the same bytes: no owners or times inside, none in the gzip
    // header either (its MTIME field, bytes 4-7, is zero).
    CHECK(pack_directory(t.path("site"), 1 << 20) == tgz);
    CHECK(tgz.substr(0, 2) == "\x1f\x8b");
    CHECK(tgz.substr(4, 4) == std::string(4, '\0'));
    TarballCheck c = check_tarball(tgz);
    CHECK(c.ok());
    CHECK(c.entries == 8);

    fs::path dest = t.path("out");
    fs::create_directories(dest);
    extract_tarball(tgz, dest);
    CHECK(slurp(dest / "index.html") == "<h1>home</h1>");
    CHECK(slurp(dest / "assets/app.3f9a.js") == std::string(300000, 'j'));
    CHECK(slurp(dest / "empty.txt").empty());
    CHECK(fs::is_directory(dest / "empty-dir"));
    CHECK(fs::read_symlink(dest / "latest") == "index.html");
    CHECK(fs::read_symlink(dest / "assets/up") == "../index.html");
    struct stat st {
    };
    REQUIRE(::stat((dest / "run.sh").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);

    // Over the limit: a clear error, not a truncated archive.
    CHECK_THROWS_WITH(pack_directory(t.path("site"), 200),
                      Catch::Contains("the archive exceeds 200 bytes"));
    // Only files, directories and symlinks are packed.
    REQUIRE(::mkfifo(t.path("site/pipe").c_str(), 0644) == 0);
    CHECK_THROWS_WITH(pack_directory(t.path("site"), 1 << 20),
                      Catch::Contains("pipe: not a file, directory or symlink"));
    CHECK_THROWS_WITH(pack_directory(t.path("nowhere"), 1 << 20), Catch::Contains("nowhere"));
}

TEST_CASE("a deployment archive packed to a file and signed in pieces is the same archive",
          "[control][fleet]")
{
    // Control packs into a file and sends it in chunks; an edge writes the chunks to a file,
    // signs them piece by piece and unpacks from the file. Each must equal the whole-string way.
    berth::test::TempTree t;
    t.write("site/index.html", "<h1>home</h1>");
    t.write("site/assets/app.js", std::string(300000, 'j'));
    std::string tgz = pack_directory(t.path("site"), 1 << 20);
    FILE *file = std::fopen(t.path("packed.tgz").c_str(), "w+");
    REQUIRE(file);
    CHECK(pack_directory_to_fd(t.path("site"), fileno(file), 1 << 20) == tgz.size());
    std::fclose(file);
    CHECK(slurp(t.path("packed.tgz")) == tgz);

    const std::string key = "0123456789abcdef0123456789abcdef";
    berth::shared::fleet::ArchiveSigner signer(key, "site/v1");
    for (size_t at = 0; at < tgz.size(); at += 1000)
        signer.update(std::string_view(tgz).substr(at, 1000));
    std::string whole = berth::shared::fleet::sign_archive(key, "site/v1", tgz);
    CHECK(signer.hex() == whole);
    berth::shared::fleet::ArchiveSigner other_root(key, "site/v2");
    other_root.update(tgz);
    CHECK(other_root.problem(whole) ==
          "its signature does not match this edge's [redis] signing_key_file");
    berth::shared::fleet::ArchiveSigner unsigned_edge("", "site/v1");
    unsigned_edge.update(tgz);
    CHECK(unsigned_edge.problem("") == "");

    fs::create_directories(t.path("out"));
    extract_tarball_file(t.path("packed.tgz"), t.path("out"));
    CHECK(slurp(t.path("out/index.html")) == "<h1>home</h1>");
    CHECK(slurp(t.path("out/assets/app.js")) == std::string(300000, 'j'));
    // A hostile archive in a file is refused like one in memory, before anything is written.
    t.write("hostile.tgz", make_tarball({{AE_IFREG, "ok.txt", "ok"}, {AE_IFREG, "../x", "x"}}));
    fs::create_directories(t.path("out2"));
    CHECK_THROWS_WITH(extract_tarball_file(t.path("hostile.tgz"), t.path("out2")),
                      Catch::Contains("../x"));
    CHECK(fs::is_empty(t.path("out2")));
    // Over the limit into a file: the same clear error.
    FILE *small = std::fopen(t.path("small.tgz").c_str(), "w");
    REQUIRE(small);
    CHECK_THROWS_WITH(pack_directory_to_fd(t.path("site"), fileno(small), 200),
                      Catch::Contains("the archive exceeds 200 bytes"));
    std::fclose(small);
}
