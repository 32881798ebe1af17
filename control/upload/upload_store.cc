// Upload archives on disk (#16): the temp-file + fsync + rename + directory fsync sequence is
// what makes "201 Created" mean the archive survives a crash of the machine.
#include "control/upload/upload_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

#include "control/sandbox/unique_fd.h"

namespace berth::control
{

namespace fs = std::filesystem;

namespace
{

constexpr std::string_view kSuffix = ".tar.gz";
constexpr std::string_view kTempSuffix = ".tar.gz.tmp";

[[noreturn]] void throw_errno(const std::string &what)
{
    throw std::system_error(errno, std::generic_category(), what);
}

void fsync_or_throw(int fd, const std::string &what)
{
    if (::fsync(fd) != 0) throw_errno("fsync " + what);
}

} // namespace

fs::path upload_path(const std::string &uploads_dir, const std::string &deployment_id)
{
    return fs::path(uploads_dir) / (deployment_id + std::string(kSuffix));
}

void store_upload(const std::string &uploads_dir, const std::string &deployment_id,
                  std::string_view data)
{
    fs::create_directories(uploads_dir);
    // A dot name: list_uploads() tells it from a finished archive, and so can an operator.
    fs::path tmp = fs::path(uploads_dir) / ("." + deployment_id + std::string(kTempSuffix));
    try {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) throw_errno("create upload file");
        while (!data.empty()) {
            ssize_t n = ::write(fd.get(), data.data(), data.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw_errno("write upload file");
            data.remove_prefix(size_t(n));
        }
        fsync_or_throw(fd.get(), "upload file");
        if (::rename(tmp.c_str(), upload_path(uploads_dir, deployment_id).c_str()) != 0)
            throw_errno("rename upload file");
    } catch (...) {
        std::error_code ec;
        fs::remove(tmp, ec);
        throw;
    }
    // The rename itself is durable only once the directory is.
    UniqueFd dir(::open(uploads_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) throw_errno("open uploads_dir");
    fsync_or_throw(dir.get(), "uploads_dir");
}

std::string read_upload(const std::string &uploads_dir, const std::string &deployment_id)
{
    std::ifstream in(upload_path(uploads_dir, deployment_id), std::ios::binary);
    if (!in)
        throw std::runtime_error("the uploaded archive of this deployment is not in uploads_dir "
                                 "any more; upload it again");
    std::ostringstream out;
    out << in.rdbuf();
    if (in.bad()) throw std::runtime_error("cannot read the uploaded archive of this deployment");
    return std::move(out).str();
}

void remove_upload(const std::string &uploads_dir, const std::string &deployment_id)
{
    std::error_code ec;
    fs::remove(upload_path(uploads_dir, deployment_id), ec);
}

std::vector<StoredUpload> list_uploads(const std::string &uploads_dir)
{
    std::vector<StoredUpload> out;
    std::error_code ec;
    auto now = fs::file_time_type::clock::now();
    for (auto it = fs::directory_iterator(uploads_dir, ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        std::string name = it->path().filename().string();
        std::error_code time_ec;
        auto mtime = it->last_write_time(time_ec);
        if (time_ec) continue; // removed meanwhile
        auto age = std::chrono::duration_cast<std::chrono::seconds>(now - mtime);
        if (name.starts_with('.') && name.ends_with(kTempSuffix))
            out.push_back({"", it->path(), age});
        else if (name.ends_with(kSuffix))
            out.push_back({name.substr(0, name.size() - kSuffix.size()), it->path(), age});
    }
    return out;
}

} // namespace berth::control
