// ContentHash: the digest depends on the concatenated bytes only, and tells contents apart.
#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <string>

#include "shared/base/content_hash.h"

using berth::shared::ContentHash;

namespace
{

std::string digest(std::string_view bytes)
{
    ContentHash h;
    h.update(bytes.data(), bytes.size());
    return h.hex();
}

std::string random_bytes(std::mt19937 &rng, size_t n)
{
    std::string s(n, '\0');
    for (char &c : s)
        c = char(rng() & 0xFF);
    return s;
}

} // namespace

TEST_CASE("content hash is 32 lower-case hex digits", "[base]")
{
    for (std::string_view s : {std::string_view(), std::string_view("a"),
                               std::string_view("hello, world: a longer input")}) {
        std::string hex = digest(s);
        CHECK(hex.size() == 32);
        CHECK(hex.find_first_not_of("0123456789abcdef") == std::string::npos);
    }
}

TEST_CASE("content hash gives the same digest for the same bytes in any split", "[base]")
{
    std::mt19937 rng(1234);
    for (size_t len : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 63u, 64u, 65u, 1000u, 4099u}) {
        std::string data = random_bytes(rng, len);
        const std::string whole = digest(data);
        CAPTURE(len);

        // Every single split point.
        for (size_t cut = 0; cut <= len && cut < 80; ++cut) {
            ContentHash h;
            h.update(data.data(), cut);
            h.update(data.data() + cut, len - cut);
            CHECK(h.hex() == whole);
        }
        // Byte at a time, with empty updates in between.
        ContentHash bytewise;
        for (size_t i = 0; i < len; ++i) {
            bytewise.update(data.data() + i, 1);
            bytewise.update(data.data() + i, 0);
        }
        CHECK(bytewise.hex() == whole);
        // Random pieces.
        for (int trial = 0; trial < 20; ++trial) {
            ContentHash h;
            size_t pos = 0;
            while (pos < len) {
                size_t piece = std::min<size_t>(len - pos, rng() % 23);
                h.update(data.data() + pos, piece);
                pos += piece;
            }
            CHECK(h.hex() == whole);
        }
    }
}

TEST_CASE("content hash is stable across calls to hex", "[base]")
{
    ContentHash h;
    h.update("abcdefghij", 10);
    std::string first = h.hex();
    CHECK(h.hex() == first);
    h.update("k", 1);
    CHECK(h.hex() != first);
    CHECK(h.hex() == digest("abcdefghijk"));
}

TEST_CASE("content hash tells different bytes apart", "[base]")
{
    // Length alone, zero padding of the tail, single-bit flips, swapped words.
    CHECK(digest("") != digest(std::string(1, '\0')));
    CHECK(digest(std::string(1, '\0')) != digest(std::string(2, '\0')));
    CHECK(digest(std::string(8, '\0')) != digest(std::string(16, '\0')));
    CHECK(digest("a") != digest(std::string("a\0", 2)));
    CHECK(digest("abcdefgh12345678") != digest("12345678abcdefgh"));

    std::mt19937 rng(99);
    std::set<std::string> seen;
    std::string base = random_bytes(rng, 100);
    seen.insert(digest(base));
    for (size_t bit = 0; bit < base.size() * 8; ++bit) {
        std::string flipped = base;
        flipped[bit / 8] = char(flipped[bit / 8] ^ (1 << (bit % 8)));
        seen.insert(digest(flipped));
    }
    CHECK(seen.size() == 1 + base.size() * 8);

    // Many short inputs, including every one- and two-byte string: no collisions.
    std::set<std::string> small;
    size_t count = 0;
    for (int a = 0; a < 256; ++a) {
        small.insert(digest(std::string(1, char(a))));
        ++count;
        for (int b = 0; b < 256; b += 3) {
            char two[2] = {char(a), char(b)};
            small.insert(digest(std::string_view(two, 2)));
            ++count;
        }
    }
    CHECK(small.size() == count);
}
