#include "shared/archive/pack_directory.h"

#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace berth::shared
{

namespace
{

namespace fs = std::filesystem;

// Where the archive goes: a string, or a file (fd >= 0) so a large one is never in memory.
struct Sink {
    std::string out;
    int fd = -1;
    uint64_t written = 0;
    uint64_t max_bytes = 0;
    bool over = false;
    int error = 0; // errno of a failed write to fd
};

la_ssize_t append(archive *, void *data, const void *buf, size_t len)
{
    auto *sink = static_cast<Sink *>(data);
    if (sink->written + len > sink->max_bytes) {
        sink->over = true;
        return -1;
    }
    if (sink->fd < 0) {
        sink->out.append(static_cast<const char *>(buf), len);
    } else {
        for (size_t done = 0; done < len;) {
            ssize_t n = ::write(sink->fd, static_cast<const char *>(buf) + done, len - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                sink->error = errno;
                return -1;
            }
            done += size_t(n);
        }
    }
    sink->written += len;
    return la_ssize_t(len);
}

struct Fd {
    int fd;
    ~Fd()
    {
        if (fd >= 0) ::close(fd);
    }
};

// The tree's paths, parents before children, siblings sorted: the archive does not depend on
// the order the file system lists them in.
std::vector<fs::path> sorted_tree(const fs::path &dir)
{
    std::vector<fs::path> paths;
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, ec), end;
    if (ec) throw std::runtime_error(dir.string() + ": " + ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) throw std::runtime_error(dir.string() + ": " + ec.message());
        paths.push_back(it->path().lexically_relative(dir));
    }
    if (ec) throw std::runtime_error(dir.string() + ": " + ec.message());
    std::sort(paths.begin(), paths.end());
    return paths;
}

void pack_into(const fs::path &dir, Sink &sink)
{
    uint64_t max_bytes = sink.max_bytes;
    std::unique_ptr<archive, decltype(&archive_write_free)> a(archive_write_new(),
                                                              archive_write_free);
    if (!a) throw std::runtime_error("out of memory");
    auto check = [&](int rc, const std::string &what) {
        if (rc >= ARCHIVE_WARN) return;
        if (sink.over)
            throw std::runtime_error(dir.string() + ": the archive exceeds " +
                                     std::to_string(max_bytes) + " bytes");
        if (sink.error)
            throw std::runtime_error(dir.string() +
                                     ": cannot write the archive: " + strerror(sink.error));
        const char *why = archive_error_string(a.get());
        throw std::runtime_error(what + ": " + (why ? why : "cannot write the archive"));
    };
    archive_write_set_format_pax_restricted(a.get());
    archive_write_add_filter_gzip(a.get());
    // No time in the gzip header either: the same tree must pack to the same bytes.
    check(archive_write_set_filter_option(a.get(), "gzip", "timestamp", nullptr), dir.string());
    archive_write_set_bytes_in_last_block(a.get(), 1); // no padding to 10 KiB
    check(archive_write_open2(a.get(), &sink, nullptr, append, nullptr, nullptr), dir.string());

    std::vector<char> buf(256 << 10);
    for (const fs::path &rel : sorted_tree(dir)) {
        fs::path full = dir / rel;
        struct stat st;
        if (::lstat(full.c_str(), &st) != 0)
            throw std::runtime_error(full.string() + ": " + strerror(errno));
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                        archive_entry_free);
        archive_entry_set_pathname(e.get(), rel.c_str());
        std::string target;
        if (S_ISDIR(st.st_mode)) {
            archive_entry_set_filetype(e.get(), AE_IFDIR);
            archive_entry_set_perm(e.get(), 0755);
        } else if (S_ISREG(st.st_mode)) {
            archive_entry_set_filetype(e.get(), AE_IFREG);
            archive_entry_set_perm(e.get(), (st.st_mode & 0111) ? 0755 : 0644);
            archive_entry_set_size(e.get(), la_int64_t(st.st_size));
        } else if (S_ISLNK(st.st_mode)) {
            std::error_code ec;
            target = fs::read_symlink(full, ec).string();
            if (ec) throw std::runtime_error(full.string() + ": " + ec.message());
            archive_entry_set_filetype(e.get(), AE_IFLNK);
            archive_entry_set_perm(e.get(), 0777);
            archive_entry_set_symlink(e.get(), target.c_str());
        } else {
            throw std::runtime_error(full.string() +
                                     ": not a file, directory or symlink; cannot be packed");
        }
        check(archive_write_header(a.get(), e.get()), full.string());
        if (!S_ISREG(st.st_mode)) continue;
        Fd in{::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)};
        if (in.fd < 0) throw std::runtime_error(full.string() + ": " + strerror(errno));
        uint64_t left = uint64_t(st.st_size); // the size the header promised
        while (left > 0) {
            ssize_t n = ::read(in.fd, buf.data(), std::min<uint64_t>(buf.size(), left));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error(full.string() + ": " + strerror(errno));
            if (n == 0) throw std::runtime_error(full.string() + ": shrank while packed");
            la_ssize_t w = archive_write_data(a.get(), buf.data(), size_t(n));
            if (w != n) check(ARCHIVE_FATAL, full.string());
            left -= uint64_t(n);
        }
    }
    check(archive_write_close(a.get()), dir.string());
}

} // namespace

std::string pack_directory(const fs::path &dir, uint64_t max_bytes)
{
    Sink sink;
    sink.max_bytes = max_bytes;
    pack_into(dir, sink);
    return std::move(sink.out);
}

uint64_t pack_directory_to_fd(const fs::path &dir, int fd, uint64_t max_bytes)
{
    Sink sink;
    sink.max_bytes = max_bytes;
    sink.fd = fd;
    pack_into(dir, sink);
    return sink.written;
}

} // namespace berth::shared
