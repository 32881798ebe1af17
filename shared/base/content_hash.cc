// Two multiply-rotate lanes over 8-byte words; a final avalanche makes every bit count.
#include "shared/base/content_hash.h"

#include <cstring>

namespace berth::shared
{

namespace
{
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kOdd = 0xD6E8FEB86659FD93ull;

inline uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

inline uint64_t avalanche(uint64_t x)
{
    x ^= x >> 31;
    x *= kOdd;
    x ^= x >> 29;
    x *= kGolden;
    x ^= x >> 32;
    return x;
}
} // namespace

void ContentHash::block(uint64_t w) noexcept
{
    a_ = rotl(a_ ^ (w * kGolden), 29) * kOdd;
    b_ = rotl(b_ + (w ^ kOdd), 37) * kGolden ^ a_;
}

void ContentHash::update(const void *data, size_t len) noexcept
{
    if (len == 0) return; // data may be null for an empty file
    const unsigned char *p = static_cast<const unsigned char *>(data);
    total_ += len;
    if (tail_len_) {
        size_t take = std::min(len, 8 - tail_len_);
        std::memcpy(tail_ + tail_len_, p, take);
        tail_len_ += take;
        p += take;
        len -= take;
        if (tail_len_ < 8) return;
        uint64_t w;
        std::memcpy(&w, tail_, 8);
        block(w);
        tail_len_ = 0;
    }
    while (len >= 8) {
        uint64_t w;
        std::memcpy(&w, p, 8);
        block(w);
        p += 8;
        len -= 8;
    }
    std::memcpy(tail_, p, len);
    tail_len_ = len;
}

std::string ContentHash::hex() const
{
    uint64_t a = a_, b = b_;
    uint64_t last = 0;
    std::memcpy(&last, tail_, tail_len_);
    a = avalanche(a ^ last ^ (total_ * kGolden));
    b = avalanche(b + (last ^ total_) + a);
    a = avalanche(a ^ b);
    static const char digits[] = "0123456789abcdef";
    std::string s(32, '0');
    for (int i = 0; i < 16; ++i) {
        s[size_t(i)] = digits[(a >> (60 - 4 * i)) & 15];
        s[size_t(16 + i)] = digits[(b >> (60 - 4 * i)) & 15];
    }
    return s;
}

} // namespace berth::shared
