// A fast 128-bit, non-cryptographic content digest for validators (ETags). Not for security:
// it only has to tell different file contents apart, and to stay the same for equal bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace berth::shared
{

class ContentHash
{
public:
    // Feed bytes in any split: the digest depends only on the concatenated bytes.
    void update(const void *data, size_t len) noexcept;
    // 32 lower-case hex digits of the two 64-bit lanes, and the total length folded in.
    std::string hex() const;

private:
    void block(uint64_t w) noexcept;

    uint64_t a_ = 0x243F6A8885A308D3ull; // digits of pi: any fixed, distinct seeds do
    uint64_t b_ = 0x13198A2E03707344ull;
    uint64_t total_ = 0;
    unsigned char tail_[8];
    size_t tail_len_ = 0;
};

} // namespace berth::shared
