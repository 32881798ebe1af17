// FileCache and Site against a real temporary deployments root: kinds, ETags, bodies,
// precompressed siblings, symlink containment and revalidation.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "edge/cache/file_cache.h"
#include "edge/io/resident_pages.h"

namespace fs = std::filesystem;
using namespace berth::edge;

namespace
{

// A deployments root in /tmp, removed with everything in it at the end of the test.
class TempRoot
{
public:
    TempRoot()
    {
        std::string tmpl = (fs::temp_directory_path() / "berth-file-cache-XXXXXX").string();
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path_ = tmpl;
    }
    ~TempRoot()
    {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempRoot(const TempRoot &) = delete;
    TempRoot &operator=(const TempRoot &) = delete;

    const fs::path &path() const { return path_; }

    void write(const std::string &rel, const std::string &content) const
    {
        fs::path p = path_ / rel;
        fs::create_directories(p.parent_path());
        std::ofstream f(p, std::ios::binary | std::ios::trunc);
        f << content;
        REQUIRE(f.good());
    }
    void mkdir(const std::string &rel) const { fs::create_directories(path_ / rel); }
    void symlink(const std::string &target, const std::string &rel) const
    {
        fs::path p = path_ / rel;
        fs::create_directories(p.parent_path());
        fs::create_symlink(target, p);
    }
    void set_mtime(const std::string &rel, std::time_t t) const
    {
        struct timespec times[2] = {{t, 0}, {t, 0}};
        REQUIRE(utimensat(AT_FDCWD, (path_ / rel).c_str(), times, 0) == 0);
    }

private:
    fs::path path_;
};

// A libuv loop for caches that use its threadpool, closed once they are gone (and checked to
// have nothing left running then).
class TestLoop
{
public:
    TestLoop() { REQUIRE(uv_loop_init(&loop_) == 0); }
    ~TestLoop()
    {
        if (!closed_) uv_loop_close(&loop_); // a test that failed early
    }
    TestLoop(const TestLoop &) = delete;
    TestLoop &operator=(const TestLoop &) = delete;

    uv_loop_t *get() { return &loop_; }
    // Runs until nothing is queued on the loop or its threadpool.
    void run() { REQUIRE(uv_run(&loop_, UV_RUN_DEFAULT) == 0); }
    void close()
    {
        REQUIRE(uv_loop_close(&loop_) == 0);
        closed_ = true;
    }

private:
    uv_loop_t loop_;
    bool closed_ = false;
};

CacheLimits revalidate_every(uint64_t ms)
{
    CacheLimits l;
    l.revalidate_ms = ms;
    return l;
}

CacheLimits no_revalidate()
{
    return revalidate_every(0);
}

FileEntryRef lookup(FileCache &cache, std::string_view site, std::string_view path,
                    uint64_t now_ms = 0)
{
    Site *s = cache.site(site, now_ms);
    REQUIRE(s != nullptr);
    FileEntryRef e = s->lookup(path, now_ms, cache.limits());
    REQUIRE(e != nullptr);
    return e;
}

bool contains(const std::string &haystack, std::string_view needle)
{
    return haystack.find(needle) != std::string::npos;
}

// Drops the file's pages from the page cache; false if some stay (tmpfs keeps them all).
bool evict(const fs::path &file)
{
    int fd = open(file.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    fdatasync(fd); // clean pages can be dropped
    struct stat st;
    REQUIRE(fstat(fd, &st) == 0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    bool evicted = !pages_resident(fd, 0, uint64_t(st.st_size));
    close(fd);
    return evicted;
}

} // namespace

TEST_CASE("file cache tells files, directories and missing paths apart", "[static]")
{
    TempRoot root;
    root.write("site/index.html", "<h1>hi</h1>");
    root.mkdir("site/docs");
    FileCache cache(root.path().string(), no_revalidate());

    FileEntryRef index = lookup(cache, "site", "/index.html");
    CHECK(index->kind == FileEntry::Kind::kFile);
    CHECK(index->content_type == "text/html; charset=utf-8");
    CHECK(index->html);
    CHECK(index->identity.size == 11);
    CHECK(index->identity.in_memory());
    CHECK(index->identity.data == "<h1>hi</h1>");

    CHECK(lookup(cache, "site", "/docs")->kind == FileEntry::Kind::kDirectory);
    CHECK(lookup(cache, "site", "/")->kind == FileEntry::Kind::kDirectory);
    CHECK(lookup(cache, "site", "/missing.js")->kind == FileEntry::Kind::kMissing);
    CHECK(lookup(cache, "site", "/docs/missing/deeper")->kind == FileEntry::Kind::kMissing);

    // The same entry comes back from the cache.
    CHECK(lookup(cache, "site", "/index.html") == index);
    Site *s = cache.site("site", 0);
    CHECK(s->dir() == root.path().string() + "/site");
}

TEST_CASE("file cache returns no site for missing or escaping directories", "[static]")
{
    TempRoot root;
    root.mkdir("deploy/site");
    root.write("outside/secret.txt", "secret");
    FileCache cache((root.path() / "deploy").string(), no_revalidate());
    CHECK(cache.site("site", 0) != nullptr);
    CHECK(cache.site("nope", 0) == nullptr);
    CHECK(cache.site("", 0) == nullptr);
    CHECK(cache.site("../outside", 0) == nullptr);
    CHECK(cache.site("site/../../outside", 0) == nullptr);
    CHECK(cache.site(root.path().string(), 0) == nullptr);
    CHECK(cache.site_count() >= 2);
    cache.clear();
    CHECK(cache.site_count() == 0);
}

TEST_CASE("file cache ETags depend on content only", "[static]")
{
    TempRoot root;
    root.write("d-1/app.js", "console.log('same');");
    root.write("d-2/app.js", "console.log('same');");
    root.write("d-3/app.js", "console.log('diff');");
    root.set_mtime("d-1/app.js", 1000000000);
    root.set_mtime("d-2/app.js", 1700000000);
    FileCache cache(root.path().string(), no_revalidate());

    FileEntryRef a = lookup(cache, "d-1", "/app.js");
    FileEntryRef b = lookup(cache, "d-2", "/app.js");
    FileEntryRef c = lookup(cache, "d-3", "/app.js");
    REQUIRE(a->kind == FileEntry::Kind::kFile);
    CHECK(a->identity.etag.size() == 34);
    CHECK(a->identity.etag.front() == '"');
    CHECK(a->identity.etag.back() == '"');
    CHECK(a->identity.etag == b->identity.etag);
    CHECK(a->identity.etag != c->identity.etag);
    CHECK(a->last_modified != b->last_modified);
}

TEST_CASE("file cache keeps small bodies in memory and large ones as descriptors", "[static]")
{
    TempRoot root;
    const std::string big(5000, 'x');
    root.write("site/small.txt", "tiny");
    root.write("site/big.txt", big);
    root.write("site/empty.txt", "");
    CacheLimits limits = no_revalidate();
    limits.small_body_bytes = 16;
    FileCache cache(root.path().string(), limits);

    FileEntryRef small = lookup(cache, "site", "/small.txt");
    CHECK(small->identity.in_memory());
    CHECK(small->identity.data == "tiny");

    FileEntryRef large = lookup(cache, "site", "/big.txt");
    REQUIRE(large->kind == FileEntry::Kind::kFile);
    CHECK_FALSE(large->identity.in_memory());
    CHECK(large->identity.fd >= 0);
    CHECK(large->identity.data.empty());
    CHECK(large->identity.size == big.size());
    char first[4] = {};
    CHECK(pread(large->identity.fd, first, sizeof first, 0) == 4);
    CHECK(std::string(first, 4) == "xxxx");

    FileEntryRef empty = lookup(cache, "site", "/empty.txt");
    CHECK(empty->kind == FileEntry::Kind::kFile);
    CHECK(empty->identity.size == 0);
    CHECK(empty->identity.in_memory());

    // The ETag is the same whether the body was read into memory or hashed from the fd.
    FileCache roomy(root.path().string(), no_revalidate());
    FileEntryRef in_memory = lookup(roomy, "site", "/big.txt");
    CHECK(in_memory->identity.in_memory());
    CHECK(in_memory->identity.etag == large->identity.etag);
}

TEST_CASE("in-memory bodies stay within memory_bytes, a body let go frees its share", "[static]")
{
    TempRoot root;
    root.write("site/a.txt", std::string(600, 'a'));
    root.write("site/b.txt", std::string(600, 'b'));
    root.write("site/c.txt", std::string(300, 'c'));
    CacheLimits limits = no_revalidate();
    limits.small_body_bytes = 1000;
    limits.memory_bytes = 1000;
    FileCache cache(root.path().string(), limits);

    FileEntryRef a = lookup(cache, "site", "/a.txt");
    CHECK(a->identity.in_memory());
    // 600 + 600 > 1000: b goes out from its descriptor, with the same bytes and ETag rules.
    FileEntryRef b = lookup(cache, "site", "/b.txt");
    CHECK_FALSE(b->identity.in_memory());
    CHECK(b->identity.fd >= 0);
    CHECK(b->identity.size == 600);
    FileEntryRef c = lookup(cache, "site", "/c.txt"); // 600 + 300 fits
    CHECK(c->identity.in_memory());
    CHECK(c->identity.data == std::string(300, 'c'));

    // A new route table drops the entries; a response still holding `a` keeps its bytes
    // counted until it lets go.
    cache.clear();
    b.reset();
    c.reset();
    FileEntryRef b2 = lookup(cache, "site", "/b.txt"); // 600 (a) + 600 > 1000
    CHECK_FALSE(b2->identity.in_memory());
    a.reset();
    cache.clear();
    b2.reset();
    FileEntryRef b3 = lookup(cache, "site", "/b.txt");
    CHECK(b3->identity.in_memory());
    CHECK(b3->identity.data == std::string(600, 'b'));
}

TEST_CASE("file cache hashes large files on the loop's threadpool", "[static]")
{
    TempRoot root;
    std::string big(3 * 1024 * 1024, 'z');
    big[12345] = 'q';
    root.write("site/big.bin", big);
    CacheLimits limits = no_revalidate();
    limits.small_body_bytes = 1024;
    limits.inline_hash_bytes = 64 * 1024;

    // The reference: the same bytes hashed inline (no loop).
    FileCache inline_cache(root.path().string(), limits);
    FileEntryRef reference = lookup(inline_cache, "site", "/big.bin");
    REQUIRE(reference->identity.etag.size() == 34);

    TestLoop loop;
    {
        FileCache cache(root.path().string(), limits, loop.get());
        FileEntryRef e = lookup(cache, "site", "/big.bin");
        REQUIRE(e->kind == FileEntry::Kind::kFile);
        // Served meanwhile without a validator other than Last-Modified.
        CHECK(e->identity.etag.empty());
        CHECK_FALSE(contains(e->identity.headers, "ETag:"));
        CHECK(contains(e->identity.headers, "Last-Modified: "));
        CHECK(contains(e->identity.headers, "Content-Length: 3145728\r\n"));

        loop.run(); // returns once the hash job is done
        CHECK(e->identity.etag == reference->identity.etag);
        CHECK(contains(e->identity.headers, "ETag: " + reference->identity.etag + "\r\n"));
        CHECK(contains(e->identity.headers, "Content-Length: 3145728\r\n"));
        // A lookup afterwards returns the same, now complete, entry.
        CHECK(lookup(cache, "site", "/big.bin") == e);

        // Files at or under the inline limit are hashed at once, even with a loop.
        root.write("site/medium.bin", std::string(32 * 1024, 'm'));
        CHECK(lookup(cache, "site", "/medium.bin")->identity.etag.size() == 34);
    }
    loop.close();
}

namespace
{
struct CountingWaiter : Waiter {
    int calls = 0;
    std::function<void()> then;
    void on_wake() override
    {
        ++calls;
        if (then) then();
    }
};
} // namespace

TEST_CASE("with a loop, a file not cached yet is loaded on the threadpool while requests wait",
          "[static]")
{
    TempRoot root;
    root.write("site/app.js", "app();\n");
    root.write("site/page.html", "<p>page</p>\n");
    CacheLimits limits = no_revalidate();
    FileCache inline_cache(root.path().string(), limits);
    FileEntryRef reference = lookup(inline_cache, "site", "/app.js");

    TestLoop loop;
    {
        FileCache cache(root.path().string(), limits, loop.get());
        Site *site = cache.site("site", 0);
        REQUIRE(site != nullptr);
        FileLoadRef load, again;
        CHECK(site->lookup("/app.js", 0, limits, &load) == nullptr); // queued, not read here
        REQUIRE(load);
        CHECK(site->lookup("/app.js", 0, limits, &again) == nullptr);
        CHECK(again == load); // one load for every request that needs the file
        CountingWaiter a, gone, b, dropped;
        a.then = [&] { load->forget(&dropped); }; // a waiter woken first may end another's wait
        load->wait(&a);
        load->wait(&gone);
        load->wait(&b);
        load->wait(&dropped);
        load->forget(&gone); // its connection closed meanwhile
        loop.run();
        CHECK(a.calls == 1);
        CHECK(b.calls == 1);
        CHECK(gone.calls == 0);
        CHECK(dropped.calls == 0);

        FileLoadRef none;
        FileEntryRef e = site->lookup("/app.js", 0, limits, &none);
        REQUIRE(e != nullptr);
        CHECK_FALSE(none);
        CHECK(e->identity.data == "app();\n");
        CHECK(e->identity.etag == reference->identity.etag);
        CHECK(contains(e->identity.headers, "ETag: " + reference->identity.etag + "\r\n"));

        // A missing file is an answer the cache keeps as well.
        FileLoadRef miss;
        CHECK(site->lookup("/nope.js", 0, limits, &miss) == nullptr);
        loop.run();
        FileEntryRef missing = site->lookup("/nope.js", 0, limits, &miss);
        REQUIRE(missing != nullptr);
        CHECK(missing->kind == FileEntry::Kind::kMissing);

        // A route-table swap drops the site with a load in flight: its waiters still hear of
        // it, and the new site loads the file again.
        FileLoadRef swapped;
        CHECK(site->lookup("/page.html", 0, limits, &swapped) == nullptr);
        CountingWaiter c;
        swapped->wait(&c);
        cache.clear();
        loop.run();
        CHECK(c.calls == 1);
        Site *fresh = cache.site("site", 0);
        REQUIRE(fresh != nullptr);
        FileLoadRef reload;
        CHECK(fresh->lookup("/page.html", 0, limits, &reload) == nullptr);
        loop.run();
        FileEntryRef page = fresh->lookup("/page.html", 0, limits, &reload);
        REQUIRE(page != nullptr);
        CHECK(page->identity.data == "<p>page</p>\n");
    }
    loop.close();
}

TEST_CASE("with a loop, a site directory is opened on the threadpool while requests wait",
          "[static]")
{
    TestLoop loop;
    TempRoot root;
    root.write("site/index.html", "<p>home</p>\n");
    CacheLimits limits = revalidate_every(1000);
    {
        FileCache cache(root.path().string(), limits, loop.get());
        FileLoadRef open, again;
        CHECK(cache.site("site", 0, &open) == nullptr); // queued, not opened here
        REQUIRE(open);
        CHECK(cache.site("site", 0, &again) == nullptr);
        CHECK(again == open); // one open for every request that needs the directory
        CountingWaiter w;
        open->wait(&w);
        loop.run();
        CHECK(w.calls == 1);
        FileLoadRef none;
        Site *site = cache.site("site", 0, &none);
        REQUIRE(site != nullptr);
        CHECK_FALSE(none);
        CHECK(site->dir() == root.path().string() + "/site");
        CHECK(site->lookup("/index.html", 0, limits)->identity.data == "<p>home</p>\n");

        // A missing directory: opened off the loop, then remembered as missing for the window.
        FileLoadRef missing;
        CHECK(cache.site("later", 0, &missing) == nullptr);
        REQUIRE(missing);
        loop.run();
        FileLoadRef within;
        CHECK(cache.site("later", 500, &within) == nullptr);
        CHECK_FALSE(within); // an answer: not there
        root.mkdir("later");
        FileLoadRef after;
        CHECK(cache.site("later", 1500, &after) == nullptr);
        REQUIRE(after); // looked at again
        loop.run();
        CHECK(cache.site("later", 1500, &none) != nullptr);

        // A route table swap mid-open: the waiter is woken, the stale open is not installed,
        // and the next request opens the directory again.
        root.mkdir("swapped");
        FileLoadRef before_swap;
        CHECK(cache.site("swapped", 2000, &before_swap) == nullptr);
        REQUIRE(before_swap);
        CountingWaiter s;
        before_swap->wait(&s);
        cache.clear();
        loop.run();
        CHECK(s.calls == 1);
        FileLoadRef reopen;
        CHECK(cache.site("swapped", 2000, &reopen) == nullptr);
        REQUIRE(reopen);
        CHECK(reopen != before_swap);
        loop.run();
        CHECK(cache.site("swapped", 2000, &none) != nullptr);
    }
    loop.close();
}

TEST_CASE("a small file not in the page cache is neither read nor hashed on the loop thread, "
          "and is loaded into memory once its pages are in",
          "[static]")
{
    TempRoot root;
    std::string bytes(40 * 1024, 'c');
    bytes[777] = 'd';
    root.write("site/cold.bin", bytes);
    if (!evict(root.path() / "site/cold.bin")) {
        WARN("this filesystem keeps the file in memory (tmpfs?): nothing to test");
        return;
    }
    CacheLimits limits = no_revalidate();
    TestLoop loop;
    {
        FileCache cache(root.path().string(), limits, loop.get());
        FileEntryRef e = lookup(cache, "site", "/cold.bin");
        REQUIRE(e->kind == FileEntry::Kind::kFile);
        CHECK_FALSE(e->identity.in_memory()); // sent from its descriptor, warmed first
        CHECK(e->identity.fd >= 0);
        CHECK(e->identity.etag.empty()); // hashed on the threadpool
        loop.run();
        CHECK(e->identity.etag.size() == 34);
        CHECK(lookup(cache, "site", "/cold.bin") == e); // still cold: the same entry

        // Its pages come in (a send reads them), and the OutputQueue, checking before it
        // sends, finds them there: the next lookup loads the file into memory, same ETag.
        std::string scratch(bytes.size(), '\0');
        REQUIRE(pread(e->identity.fd, scratch.data(), scratch.size(), 0) == ssize_t(bytes.size()));
        REQUIRE(pages_resident(e->identity.fd, 0, bytes.size()));
        e->identity.resident_checked_ms = 1;
        FileEntryRef w = lookup(cache, "site", "/cold.bin");
        CHECK(w != e);
        CHECK(w->identity.in_memory());
        CHECK(w->identity.data == bytes);
        CHECK(w->identity.etag == e->identity.etag);
        CHECK(lookup(cache, "site", "/cold.bin") == w);
    }
    loop.close();
}

TEST_CASE("a file not in the page cache is read and hashed by its threadpool load: its first "
          "answer has the body in memory and the ETag",
          "[static]")
{
    TempRoot root;
    std::string small(40 * 1024, 's'), large(300 * 1024, 'l');
    small[99] = 'x';
    large[12345] = 'y';
    root.write("site/cold.css", small);
    root.write("site/cold.bin", large); // above small_body_bytes, below inline_hash_bytes
    auto evict_both = [&] {
        return evict(root.path() / "site/cold.css") && evict(root.path() / "site/cold.bin");
    };
    if (!evict_both()) {
        WARN("this filesystem keeps the files in memory (tmpfs?): nothing to test");
        return;
    }
    CacheLimits limits = no_revalidate();
    FileCache inline_cache(root.path().string(), limits); // no loop: reads inline
    std::string small_etag = lookup(inline_cache, "site", "/cold.css")->identity.etag;
    std::string large_etag = lookup(inline_cache, "site", "/cold.bin")->identity.etag;
    REQUIRE(small_etag.size() == 34);
    REQUIRE(large_etag.size() == 34);
    if (!evict_both()) { // cold again
        WARN("the kernel kept the files' pages: nothing to test this run");
        return;
    }

    TestLoop loop;
    {
        FileCache cache(root.path().string(), limits, loop.get());
        Site *site = cache.site("site", 0);
        REQUIRE(site != nullptr);
        FileLoadRef a, b;
        CHECK(site->lookup("/cold.css", 0, limits, &a) == nullptr);
        CHECK(site->lookup("/cold.bin", 0, limits, &b) == nullptr);
        REQUIRE(a);
        REQUIRE(b);
        CountingWaiter wa, wb;
        a->wait(&wa);
        b->wait(&wb);
        loop.run();
        REQUIRE(wa.calls == 1);
        REQUIRE(wb.calls == 1);

        FileLoadRef none;
        FileEntryRef css = site->lookup("/cold.css", 0, limits, &none);
        REQUIRE(css != nullptr);
        CHECK(css->identity.in_memory());
        CHECK_FALSE(css->identity.cold);
        CHECK(css->identity.data == small);
        CHECK(css->identity.etag == small_etag);
        CHECK(contains(css->identity.headers, "ETag: " + small_etag + "\r\n"));

        FileEntryRef bin = site->lookup("/cold.bin", 0, limits, &none);
        REQUIRE(bin != nullptr);
        CHECK_FALSE(bin->identity.in_memory()); // sent with sendfile
        CHECK(bin->identity.etag == large_etag);
        CHECK(contains(bin->identity.headers, "ETag: " + large_etag + "\r\n"));
        CHECK_FALSE(none);
    }
    loop.close();
}

TEST_CASE("file cache drops background hashes after stop", "[static]")
{
    TempRoot root;
    root.write("site/big.bin", std::string(2 * 1024 * 1024, 'y'));
    CacheLimits limits = no_revalidate();
    limits.small_body_bytes = 1024;
    limits.inline_hash_bytes = 1024;
    TestLoop loop;
    {
        FileCache cache(root.path().string(), limits, loop.get());
        FileEntryRef e = lookup(cache, "site", "/big.bin");
        cache.stop_background(); // the worker drains
        loop.run();
        CHECK(e->identity.etag.empty());
        CHECK_FALSE(contains(e->identity.headers, "ETag:"));
        // After stop, new entries are hashed inline rather than not at all.
        root.write("site/later.bin", std::string(4096, 'l'));
        CHECK(lookup(cache, "site", "/later.bin")->identity.etag.size() == 34);
    }
    loop.close();
}

TEST_CASE("large-file ETags are shared between caches and kept across a clear", "[static]")
{
    TempRoot root;
    root.write("site/big.bin", std::string(3 * 1024 * 1024, 'b'));
    root.write("site/small.txt", "small");
    CacheLimits limits = no_revalidate();
    limits.small_body_bytes = 1024;
    limits.inline_hash_bytes = 64 * 1024;
    DigestMemo digests;

    TestLoop loop;
    {
        // One worker hashes it on the threadpool; the digest lands in the memo.
        FileCache first(root.path().string(), limits, loop.get(), &digests);
        FileEntryRef a = lookup(first, "site", "/big.bin");
        CHECK(a->identity.etag.empty());
        loop.run();
        REQUIRE(a->identity.etag.size() == 34);
        CHECK(digests.size() == 1);
        CHECK(lookup(first, "site", "/small.txt")->identity.in_memory());
        CHECK(digests.size() == 1); // bodies in memory are cheap to hash: not kept

        // Another worker, and the first after a route-table swap, have the ETag at once.
        FileCache second(root.path().string(), limits, loop.get(), &digests);
        FileEntryRef b = lookup(second, "site", "/big.bin");
        CHECK(b->identity.etag == a->identity.etag);
        CHECK(contains(b->identity.headers, "ETag: " + a->identity.etag + "\r\n"));
        first.clear();
        CHECK(lookup(first, "site", "/big.bin")->identity.etag == a->identity.etag);
        loop.run(); // nothing was queued
    }
    loop.close();
}

TEST_CASE("the ETag memo is keyed by the file's identity, not its name", "[static]")
{
    TempRoot root;
    root.write("site/big.bin", std::string(200 * 1024, 'c'));
    CacheLimits limits = no_revalidate();
    limits.small_body_bytes = 1024;
    DigestMemo digests;

    // What the memo holds is what a cache takes: a planted entry proves it is consulted.
    int fd = open((root.path() / "site/big.bin").c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    auto key = DigestMemo::key_of(fd);
    ::close(fd);
    REQUIRE(key);
    digests.put(*key, "\"planted\"");
    FileCache cache(root.path().string(), limits, nullptr, &digests);
    CHECK(lookup(cache, "site", "/big.bin")->identity.etag == "\"planted\"");

    // Rewritten in place (same name, same size), with another mtime: hashed afresh. (A bare
    // rewrite changes ctime too, but within a clock tick only on kernels with fine-grained
    // timestamps, so the test does not lean on that.)
    root.write("site/big.bin", std::string(200 * 1024, 'd'));
    root.set_mtime("site/big.bin", 1000000);
    cache.clear();
    std::string fresh = lookup(cache, "site", "/big.bin")->identity.etag;
    CHECK(fresh.size() == 34);
    CHECK(fresh != "\"planted\"");
    CHECK(digests.size() == 2);
}

TEST_CASE("file cache pre-builds the 200 header lines", "[static]")
{
    TempRoot root;
    root.write("site/style.css", "body{}");
    root.set_mtime("site/style.css", 784111777);
    FileCache cache(root.path().string(), no_revalidate());
    FileEntryRef e = lookup(cache, "site", "/style.css");
    CHECK(e->mtime == 784111777);
    CHECK(e->last_modified == "Sun, 06 Nov 1994 08:49:37 GMT");
    const std::string &h = e->identity.headers;
    CHECK(contains(h, "Content-Type: text/css; charset=utf-8\r\n"));
    CHECK(contains(h, "Content-Length: 6\r\n"));
    CHECK(contains(h, "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
    CHECK(contains(h, "ETag: " + e->identity.etag + "\r\n"));
    CHECK(contains(h, "Accept-Ranges: bytes\r\n"));
    CHECK(contains(h, "X-Content-Type-Options: nosniff\r\n"));
    CHECK_FALSE(contains(h, "Vary:"));
    CHECK_FALSE(contains(h, "Content-Encoding:"));
    CHECK_FALSE(e->br);
    CHECK_FALSE(e->gzip);
}

TEST_CASE("file cache picks up precompressed .br and .gz siblings", "[static]")
{
    TempRoot root;
    root.write("site/app.js", "let a = 1; let b = 2; let c = 3;");
    root.write("site/app.js.br", "BR-BYTES");
    root.write("site/app.js.gz", "GZIP-BYTES");
    root.write("site/only-gz.css", "a{}");
    root.write("site/only-gz.css.gz", "GZ");
    root.mkdir("site/dir-sibling.js.br"); // not a regular file: ignored
    root.write("site/dir-sibling.js", "x");
    FileCache cache(root.path().string(), no_revalidate());

    FileEntryRef e = lookup(cache, "site", "/app.js");
    REQUIRE(e->br);
    REQUIRE(e->gzip);
    CHECK(e->br->encoding == "br");
    CHECK(e->br->data == "BR-BYTES");
    CHECK(e->br->size == 8);
    CHECK(e->gzip->encoding == "gzip");
    CHECK(e->gzip->data == "GZIP-BYTES");
    CHECK(e->br->etag != e->identity.etag);
    CHECK(e->gzip->etag != e->br->etag);
    CHECK(contains(e->br->headers, "Content-Encoding: br\r\n"));
    CHECK(contains(e->br->headers, "Content-Length: 8\r\n"));
    CHECK(contains(e->br->headers, "Content-Type: text/javascript; charset=utf-8\r\n"));
    CHECK(contains(e->gzip->headers, "Content-Encoding: gzip\r\n"));
    CHECK(contains(e->identity.headers, "Vary: Accept-Encoding\r\n"));
    CHECK(contains(e->br->headers, "Vary: Accept-Encoding\r\n"));
    CHECK_FALSE(contains(e->identity.headers, "Content-Encoding"));

    FileEntryRef g = lookup(cache, "site", "/only-gz.css");
    CHECK_FALSE(g->br);
    REQUIRE(g->gzip);
    CHECK(g->gzip->data == "GZ");

    FileEntryRef d = lookup(cache, "site", "/dir-sibling.js");
    CHECK_FALSE(d->br);
    CHECK_FALSE(contains(d->identity.headers, "Vary:"));
}

TEST_CASE("file cache treats symlinks leaving the site as missing", "[static]")
{
    TempRoot root;
    root.write("outside/secret.txt", "secret");
    root.write("site/real.txt", "real");
    root.write("site/sub/inner.txt", "inner");
    root.symlink((root.path() / "outside/secret.txt").string(), "site/abs-escape.txt");
    root.symlink("../outside/secret.txt", "site/rel-escape.txt");
    root.symlink("../outside", "site/escape-dir");
    root.symlink("/etc/passwd", "site/passwd");
    root.symlink("real.txt", "site/inside.txt");
    root.symlink("../real.txt", "site/sub/up-inside.txt");
    root.symlink("sub", "site/sub-link");
    root.write("outside/app.js", "x");
    root.write("site/app.js", "y");
    root.symlink("../outside/secret.txt", "site/app.js.br");
    FileCache cache(root.path().string(), no_revalidate());

    CHECK(lookup(cache, "site", "/abs-escape.txt")->kind == FileEntry::Kind::kMissing);
    CHECK(lookup(cache, "site", "/rel-escape.txt")->kind == FileEntry::Kind::kMissing);
    CHECK(lookup(cache, "site", "/escape-dir/secret.txt")->kind == FileEntry::Kind::kMissing);
    CHECK(lookup(cache, "site", "/escape-dir")->kind == FileEntry::Kind::kMissing);
    CHECK(lookup(cache, "site", "/passwd")->kind == FileEntry::Kind::kMissing);

    FileEntryRef inside = lookup(cache, "site", "/inside.txt");
    REQUIRE(inside->kind == FileEntry::Kind::kFile);
    CHECK(inside->identity.data == "real");
    FileEntryRef up = lookup(cache, "site", "/sub/up-inside.txt");
    REQUIRE(up->kind == FileEntry::Kind::kFile);
    CHECK(up->identity.data == "real");
    FileEntryRef via_dir = lookup(cache, "site", "/sub-link/inner.txt");
    REQUIRE(via_dir->kind == FileEntry::Kind::kFile);
    CHECK(via_dir->identity.data == "inner");

    // A precompressed sibling that escapes is ignored, not served.
    FileEntryRef app = lookup(cache, "site", "/app.js");
    CHECK(app->kind == FileEntry::Kind::kFile);
    CHECK_FALSE(app->br);
}

TEST_CASE("file cache never serves fifos", "[static]")
{
    TempRoot root;
    root.mkdir("site");
    REQUIRE(mkfifo((root.path() / "site/pipe").c_str(), 0600) == 0);
    FileCache cache(root.path().string(), no_revalidate());
    CHECK(lookup(cache, "site", "/pipe")->kind == FileEntry::Kind::kMissing);
}

TEST_CASE("file cache re-checks the disk after revalidate_ms", "[static]")
{
    TempRoot root;
    root.write("site/page.txt", "version one");
    CacheLimits limits = revalidate_every(1000);
    FileCache cache(root.path().string(), limits);

    FileEntryRef first = lookup(cache, "site", "/page.txt", 0);
    CHECK(first->identity.data == "version one");
    CHECK(lookup(cache, "site", "/late.txt", 0)->kind == FileEntry::Kind::kMissing);

    root.write("site/page.txt", "version two, longer");
    root.write("site/late.txt", "late");
    // Within the window: the cached entries stand.
    CHECK(lookup(cache, "site", "/page.txt", 500) == first);
    CHECK(lookup(cache, "site", "/late.txt", 500)->kind == FileEntry::Kind::kMissing);
    // After it: the changes are seen.
    FileEntryRef second = lookup(cache, "site", "/page.txt", 1500);
    CHECK(second->identity.data == "version two, longer");
    CHECK(second->identity.etag != first->identity.etag);
    CHECK(lookup(cache, "site", "/late.txt", 1500)->kind == FileEntry::Kind::kFile);
    // Unchanged files keep their entry after a re-check.
    CHECK(lookup(cache, "site", "/page.txt", 3000) == second);

    // A site directory created later is found once the window has passed.
    CHECK(cache.site("new-site", 0) == nullptr);
    root.mkdir("new-site");
    CHECK(cache.site("new-site", 500) == nullptr);
    CHECK(cache.site("new-site", 1500) != nullptr);
}

TEST_CASE("with a loop, a revalidation stats the file on the threadpool while requests wait",
          "[static]")
{
    TempRoot root;
    root.write("site/page.txt", "version one");
    CacheLimits limits = revalidate_every(1000);
    TestLoop loop;
    {
        FileCache cache(root.path().string(), limits, loop.get());
        Site *site = cache.site("site", 0);
        REQUIRE(site != nullptr);
        // Looks path up at `now`, waiting for the threadpool when the cache asks to.
        auto lookup_at = [&](std::string_view path, uint64_t now, bool expect_wait) {
            FileLoadRef load;
            FileEntryRef e = site->lookup(path, now, limits, &load);
            CHECK((e == nullptr) == expect_wait);
            if (!e) {
                REQUIRE(load);
                FileLoadRef again;
                CHECK(site->lookup(path, now, limits, &again) == nullptr);
                CHECK(again == load); // a second request shares the revalidation
                CountingWaiter w;
                load->wait(&w);
                loop.run();
                CHECK(w.calls == 1);
                e = site->lookup(path, now, limits, &load);
            }
            REQUIRE(e != nullptr);
            return e;
        };

        FileEntryRef first = lookup_at("/page.txt", 0, true);
        CHECK(first->identity.data == "version one");
        CHECK(lookup_at("/late.txt", 0, true)->kind == FileEntry::Kind::kMissing);
        // Within the window: the cached entries stand, no threadpool trip.
        CHECK(lookup_at("/page.txt", 500, false) == first);
        // After it, unchanged: the same entry, checked on the threadpool, good for another
        // window from then.
        CHECK(lookup_at("/page.txt", 1500, true) == first);
        CHECK(first->checked_ms >= 1500); // plus the time the threadpool took
        CHECK(lookup_at("/page.txt", 2000, false) == first);

        root.write("site/page.txt", "version two, longer");
        root.write("site/late.txt", "late");
        FileEntryRef second = lookup_at("/page.txt", 2600, true);
        CHECK(second != first);
        CHECK(second->identity.data == "version two, longer");
        CHECK(second->identity.etag != first->identity.etag);
        FileEntryRef late = lookup_at("/late.txt", 2600, true);
        CHECK(late->kind == FileEntry::Kind::kFile);
        CHECK(late->identity.data == "late");

        std::filesystem::remove(root.path() / "site/late.txt");
        CHECK(lookup_at("/late.txt", 4000, true)->kind == FileEntry::Kind::kMissing);
        CHECK(lookup_at("/page.txt", 4000, true) == second);
    }
    loop.close();
}

TEST_CASE("file cache recognises content-hashed asset names", "[static]")
{
    CHECK(is_content_hashed_name("app.3f9a1b2c.js"));
    CHECK(is_content_hashed_name("/assets/app.3f9a1b2c.js"));
    CHECK(is_content_hashed_name("index-BqRt3x_Z.css"));
    CHECK(is_content_hashed_name("/assets/chunk.a1b2c3d4e5f6.mjs"));
    CHECK_FALSE(is_content_hashed_name("app.3f9a.js"));
    CHECK_FALSE(is_content_hashed_name("bootstrap.min.js"));
    CHECK_FALSE(is_content_hashed_name("index.html"));
    CHECK_FALSE(is_content_hashed_name("my-component.js")); // no digit
    CHECK_FALSE(is_content_hashed_name("app.3f9a1b2c"));    // no extension: stem has no separator
    CHECK_FALSE(is_content_hashed_name("/app.3f9a1b2c.js/x")); // the last segment counts
    CHECK_FALSE(is_content_hashed_name("app.3f9a-1b2c.js"));   // token "1b2c" too short
    CHECK_FALSE(is_content_hashed_name("app.3f9a1b2c!.js"));
    CHECK_FALSE(is_content_hashed_name(".3f9a1b2c"));
    CHECK_FALSE(is_content_hashed_name(""));
}
