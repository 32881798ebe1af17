// One deployment archive on its way from Redis (laid out as shared/fleet/archive_chunks.h says)
// to its root under deployments_root. It gets a stage beside the root, "<root>.partial-<random>",
// flock'ed while in use so that nobody takes it for a stale one. Each chunk is appended to
// the stage's archive.tgz and fed to the signature check on the threadpool, so memory holds
// one chunk however large the archive is. Once all are in, the size and signature are checked,
// the archive is checked entry by entry (shared/archive/tarball.h), unpacked into the stage's
// tree/ and renamed into place: the edge never serves half a deployment. The stage goes in
// every case. Driven from one loop, one step at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <uv.h>

struct redisReply;

namespace berth::edge
{

class ArchiveDownload
{
public:
    using Done = std::function<void(const std::string &error)>; // "" or why it was refused

    // From the reply to "HMGET <key> size chunks signature". Null when there is nothing to
    // fetch: `error` empty when Redis holds no whole archive (yet), else why what it announces
    // cannot be taken.
    // `root` is relative to deployments_root (its text already checked: no "..", not absolute).
    static std::unique_ptr<ArchiveDownload> start(uv_loop_t *loop,
                                                  const std::filesystem::path &deployments_root,
                                                  std::string_view root, const redisReply *head,
                                                  std::string_view signing_key, std::string &error);
    ArchiveDownload(const ArchiveDownload &) = delete;
    ArchiveDownload &operator=(const ArchiveDownload &) = delete;
    // Abandoned before done: the partial file is removed on the threadpool, `done` is not called.
    ~ArchiveDownload();

    uint64_t next_chunk() const; // the index to ask for
    bool all_received() const;
    // After finish(): this download's rename put the root in place (not another edge's, nor a
    // copy that arrived meanwhile); only such roots are this edge's to remove later.
    bool installed() const;

    enum class ChunkLength : uint8_t { kFine, kAbsent, kInvalid };
    // The reply to "HSTRLEN <key> chunk:<next_chunk()>", asked before the chunk itself: a
    // hostile length is refused before hiredis reads that much into memory.
    ChunkLength chunk_length(const redisReply *reply) const;
    // The reply to "HGET <key> chunk:<next_chunk()>". False, starting nothing, when Redis no
    // longer has it (control is writing the archive again); otherwise the chunk is written on
    // the threadpool and `done` says how that went (at once for a reply that is no chunk).
    bool take(const redisReply *chunk, Done done);
    // After the last chunk: checks, unpacks and renames on the threadpool, then `done`.
    void finish(Done done);

    struct State; // shared with the job under way

private:
    explicit ArchiveDownload(std::shared_ptr<State> state);
    static void clean_up_later(const std::shared_ptr<State> &state);
    // A chunk of n bytes is within the limit and the announced size.
    bool chunk_fits(uint64_t n) const;
    void run(std::string chunk, bool finishing, Done done);

    std::shared_ptr<State> state_;
};

} // namespace berth::edge
