// Content-derived ETags: a digest of the bytes, so an unchanged file keeps its ETag across
// redeploys and clients keep getting 304s.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

namespace berth::edge
{

// The quoted ETag of a body held in memory.
std::string etag_of_bytes(const char *data, size_t len);

// The quoted ETag of the whole file behind fd (read with pread, so the descriptor may be
// shared). Empty when reading fails, or when *stop turns true part-way (shutdown).
std::string etag_of_file(int fd, const std::atomic<bool> *stop = nullptr);

} // namespace berth::edge
