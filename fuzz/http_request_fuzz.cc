// bytes → RequestParser, fed in pseudo-random splits of one contiguous buffer as the edge does,
// with occasional compaction (the head moves, rebase()) and invariants checked at every event.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz/fuzz_check.h"
#include "shared/http/request_parser.h"

using namespace berth::shared::http;

namespace
{

// Split sizes and options come from a PRNG seeded by the input, so the corpus stays plain HTTP.
struct Rng {
    uint64_t s;
    uint64_t next()
    {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

uint64_t seed_of(const uint8_t *data, size_t size)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ size;
    for (size_t i = 0; i < size; ++i)
        h = (h ^ data[i]) * 0x100000001B3ull;
    return h | 1;
}

// The received bytes [off, avail) live in `store`; a logical position i is at store + (i - off).
struct Buffer {
    std::unique_ptr<char[]> store;
    size_t off = 0;
    const char *at(size_t i) const { return store.get() + (i - off); }
};

volatile unsigned g_sink; // reading every view lets ASan catch a stale one

void touch(std::string_view v)
{
    unsigned sum = 0;
    for (char c : v)
        sum += static_cast<unsigned char>(c);
    g_sink = g_sink + sum;
}

bool inside(std::string_view v, const Buffer &buf, size_t avail)
{
    if (v.empty()) return true;
    return v.data() >= buf.at(buf.off) && v.data() + v.size() <= buf.at(avail);
}

// Field names are tokens and values carry no CR, LF or NUL (RFC 9110 5.1, 5.5). Off by default
// while the parser accepts obs-fold and spaces in names (a known bug); set
// BERTH_FUZZ_STRICT_FIELDS=1 to check it.
const bool g_strict_fields = std::getenv("BERTH_FUZZ_STRICT_FIELDS") != nullptr;

bool is_token(std::string_view name)
{
    if (name.empty()) return false;
    for (char c : name) {
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos)
            return false;
    }
    return true;
}

bool has_ows_edge(std::string_view v)
{
    return !v.empty() &&
           (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t');
}

void check_head(const RequestParser &p, const ParserLimits &limits, const Buffer &buf, size_t avail)
{
    const RequestHead &h = p.head();
    FUZZ_CHECK(p.head_complete());
    FUZZ_CHECK(h.version_major == 1);
    FUZZ_CHECK(inside(h.method_name, buf, avail));
    FUZZ_CHECK(inside(h.target, buf, avail));
    FUZZ_CHECK(inside(h.query, buf, avail));
    FUZZ_CHECK(inside(h.host, buf, avail));
    // An absolute-form target without a path gets the static "/".
    FUZZ_CHECK(inside(h.path, buf, avail) || h.path == "/");
    FUZZ_CHECK(!h.method_name.empty());
    FUZZ_CHECK(h.target.size() <= limits.max_target_bytes);
    FUZZ_CHECK(!h.path.empty());
    FUZZ_CHECK(h.path.front() == '/' || (h.path == "*" && h.method == Method::kOptions));
    FUZZ_CHECK(h.host.find_first_of(" \t,/@\\") == std::string_view::npos);
    FUZZ_CHECK(h.header_count <= limits.max_header_count && h.header_count <= kMaxHeaderCount);
    FUZZ_CHECK(h.has_body == (h.chunked || h.content_length > 0));
    FUZZ_CHECK(h.chunked || h.content_length <= limits.max_body_bytes);
    touch(h.method_name);
    touch(h.target);
    touch(h.path);
    touch(h.query);
    touch(h.host);
    int hosts = 0;
    for (uint16_t i = 0; i < h.header_count; ++i) {
        const Header &f = h.headers[i];
        FUZZ_CHECK(inside(f.name, buf, avail));
        FUZZ_CHECK(inside(f.value, buf, avail));
        FUZZ_CHECK(f.token == header_token(f.name));
        FUZZ_CHECK(!has_ows_edge(f.value));
        if (g_strict_fields) {
            FUZZ_CHECK(is_token(f.name));
            FUZZ_CHECK(f.value.find_first_of(std::string_view("\r\n\0", 3)) ==
                       std::string_view::npos);
        }
        touch(f.name);
        touch(f.value);
        hosts += f.token == HeaderToken::kHost;
    }
    FUZZ_CHECK(hosts <= 1);
    FUZZ_CHECK(hosts == 1 || h.version_minor == 0);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Rng rng{seed_of(data, size)};
    ParserLimits limits;
    if (rng.next() % 4 == 0) { // small limits reach 413/414/431 with short inputs
        limits.max_head_bytes = 64 + rng.next() % 512;
        limits.max_target_bytes = 16 + rng.next() % 128;
        limits.max_header_count = 1 + rng.next() % 12;
        limits.max_body_bytes = rng.next() % 256;
    }
    Buffer buf;
    buf.store = std::make_unique<char[]>(size + 1);
    if (size) std::memcpy(buf.store.get(), data, size);

    RequestParser parser(limits);
    std::string body;
    parser.set_body_sink(&body);

    size_t pos = 0;       // parsed up to here
    size_t avail = 0;     // "received" up to here
    size_t msg_start = 0; // where the current message began (for compaction)
    uint64_t declared = 0;
    bool chunked = false;
    for (size_t rounds = 0; rounds < 4 * size + 64; ++rounds) {
        if (pos == avail) {
            if (avail == size) break;
            size_t chunk = 1 + rng.next() % (rng.next() % 2 ? 8 : 512);
            avail += std::min(chunk, size - avail);
        }
        size_t offered = avail - pos;
        ParseResult r = parser.feed(buf.at(pos), offered);
        FUZZ_CHECK(r.consumed <= offered);
        pos += r.consumed;
        switch (r.event) {
        case ParseEvent::kNeedMore:
            FUZZ_CHECK(r.consumed == offered);
            FUZZ_CHECK(body.size() <= limits.max_body_bytes);
            // Compaction, as Connection::compact(): move the unfinished head to a new buffer.
            if (parser.in_message() && !parser.head_complete() && rng.next() % 4 == 0) {
                Buffer moved;
                moved.off = msg_start;
                moved.store = std::make_unique<char[]>(size - msg_start + 1);
                std::memcpy(moved.store.get(), buf.at(msg_start), size - msg_start);
                parser.rebase(moved.at(msg_start) - buf.at(msg_start));
                buf = std::move(moved); // the old buffer is freed: stale views would be caught
            }
            break;
        case ParseEvent::kHeadComplete:
            check_head(parser, limits, buf, pos);
            FUZZ_CHECK(parser.head().has_body);
            declared = parser.head().content_length;
            chunked = parser.head().chunked;
            break;
        case ParseEvent::kMessageComplete:
            check_head(parser, limits, buf, pos);
            FUZZ_CHECK(parser.in_message());
            FUZZ_CHECK(body.size() <= limits.max_body_bytes);
            if (parser.head().has_body) {
                FUZZ_CHECK(parser.head().content_length == declared);
                FUZZ_CHECK(parser.head().chunked == chunked);
            }
            if (!parser.head().chunked) FUZZ_CHECK(body.size() == parser.head().content_length);
            FUZZ_CHECK(parser.finish());
            // A second feed before reset_message() consumes nothing.
            if (pos < avail) {
                ParseResult again = parser.feed(buf.at(pos), avail - pos);
                FUZZ_CHECK(again.event == ParseEvent::kMessageComplete && again.consumed == 0);
            }
            parser.reset_message();
            FUZZ_CHECK(!parser.in_message() && !parser.head_complete());
            FUZZ_CHECK(parser.head().header_count == 0);
            body.clear();
            declared = 0;
            chunked = false;
            msg_start = pos;
            break;
        case ParseEvent::kError: {
            int status = parser.error_status();
            FUZZ_CHECK(status >= 400 && status <= 599);
            FUZZ_CHECK(!parser.error_reason().empty());
            ParseResult again = parser.feed(buf.at(pos), avail - pos);
            FUZZ_CHECK(again.event == ParseEvent::kError && again.consumed == 0);
            return 0;
        }
        }
    }
    (void)parser.finish();
    return 0;
}
