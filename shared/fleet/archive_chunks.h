// How a deployment archive lies in Redis, between control (control/edges/deployment_files.*,
// which writes it) and fleet edges (edge/fleet/deployment_fetcher.*, which read it). An archive
// may be hundreds of megabytes: in pieces, neither side ever holds more than one of them in
// memory, and no single Redis value approaches proto-max-bulk-len.
//
// <prefix>:files:<root> is a hash:
//   chunk:0 ... chunk:<n-1>   the gzip'd tar's bytes, in order
//   size, chunks              its total size and n (decimal), written after every chunk, so a
//                             reader that finds them finds the chunks too
//   signature                 shared/fleet/signature.h's archive signature of the whole
//                             (ArchiveSigner over the chunks), "" unsigned
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace berth::shared::fleet
{

inline constexpr size_t kArchiveChunkBytes = 4u << 20;     // what control writes
inline constexpr size_t kMaxArchiveChunkBytes = 16u << 20; // the most an edge takes in one

inline std::string archive_chunk_field(uint64_t index)
{
    return "chunk:" + std::to_string(index);
}

} // namespace berth::shared::fleet
