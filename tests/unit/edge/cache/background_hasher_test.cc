// BackgroundHasher and FileDigest against real files and a real libuv loop and threadpool.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <uv.h>

#include "edge/cache/background_hasher.h"
#include "edge/cache/file_etag.h"

using namespace berth::edge;
namespace fs = std::filesystem;

namespace
{

// A file in /tmp with the given bytes, open for reading; removed at the end of the test.
class TempFile
{
public:
    explicit TempFile(const std::string &bytes)
    {
        std::string tmpl = (fs::temp_directory_path() / "berth-hasher-XXXXXX").string();
        int w = mkstemp(tmpl.data());
        REQUIRE(w >= 0);
        path_ = tmpl;
        REQUIRE(write(w, bytes.data(), bytes.size()) == ssize_t(bytes.size()));
        close(w);
        fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        REQUIRE(fd_ >= 0);
    }
    ~TempFile()
    {
        close(fd_);
        unlink(path_.c_str());
    }
    TempFile(const TempFile &) = delete;
    TempFile &operator=(const TempFile &) = delete;
    int fd() const { return fd_; }

private:
    std::string path_;
    int fd_ = -1;
};

std::string pattern(size_t n)
{
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i)
        s[i] = char((i * 131 + i / 7) & 0xff);
    return s;
}

} // namespace

TEST_CASE("a file digest is the same in slices of any size, and equals the in-memory ETag",
          "[static]")
{
    std::string bytes = pattern(3 * 65536 + 12345);
    TempFile f(bytes);
    const std::string expected = etag_of_bytes(bytes.data(), bytes.size());
    CHECK(etag_of_file(f.fd()) == expected);
    for (size_t slice : {size_t(4093), size_t(65536), size_t(65536 * 3 + 12345), size_t(1) << 20}) {
        INFO("slice " << slice);
        FileDigest d;
        FileDigest::Step step;
        int steps = 0;
        while ((step = d.advance(f.fd(), slice)) == FileDigest::Step::kMore)
            ++steps;
        CHECK(step == FileDigest::Step::kDone);
        CHECK(steps == int(bytes.size() / slice)); // a last, short or empty, slice ends it
        CHECK(d.etag() == expected);
    }
    FileDigest bad;
    CHECK(bad.advance(-1, 100) == FileDigest::Step::kFailed);
}

TEST_CASE("large files hashed in slices do not hold the threadpool against later jobs", "[static]")
{
    // Eight files' worth of hashing (more than the pool's threads), then one small job, as a
    // first load queued behind them would be: it must finish before any of the hashes does,
    // because each hash gives its thread back after every slice.
    std::string bytes = pattern(4 << 20);
    TempFile f(bytes);
    const std::string expected = etag_of_bytes(bytes.data(), bytes.size());
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    std::vector<std::string> order;
    {
        BackgroundHasher hasher(&loop, 64 * 1024);
        std::vector<std::string> etags;
        for (int i = 0; i < 8; ++i)
            REQUIRE(hasher.submit(f.fd(), [&](std::string etag) {
                order.push_back("hash");
                etags.push_back(std::move(etag));
            }));
        uv_work_t small{};
        small.data = &order;
        REQUIRE(uv_queue_work(
                    &loop, &small, [](uv_work_t *) {},
                    [](uv_work_t *req, int) {
                        static_cast<std::vector<std::string> *>(req->data)->push_back("small");
                    }) == 0);
        REQUIRE(uv_run(&loop, UV_RUN_DEFAULT) == 0);
        REQUIRE(order.size() == 9);
        CHECK(order.front() == "small");
        REQUIRE(etags.size() == 8);
        for (const std::string &e : etags)
            CHECK(e == expected);
    }
    REQUIRE(uv_loop_close(&loop) == 0);
}

TEST_CASE("a stopped hasher ends its jobs at the next slice and reports nothing", "[static]")
{
    std::string bytes = pattern(2 << 20);
    TempFile f(bytes);
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    {
        BackgroundHasher hasher(&loop, 64 * 1024);
        int reported = 0;
        REQUIRE(hasher.submit(f.fd(), [&](std::string) { ++reported; }));
        hasher.stop();
        CHECK_FALSE(hasher.submit(f.fd(), [&](std::string) { ++reported; }));
        REQUIRE(uv_run(&loop, UV_RUN_DEFAULT) == 0);
        CHECK(reported == 0);
    }
    REQUIRE(uv_loop_close(&loop) == 0);
}
