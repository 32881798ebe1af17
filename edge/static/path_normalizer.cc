// Path normalisation by rejection: a request that needs resolving of dot segments is never served.
#include "edge/static/path_normalizer.h"

#include <cstring>

namespace berth::edge
{

namespace
{

int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        unsigned min;
        unsigned cp;
        if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += len;
    }
    return true;
}

} // namespace

NormalizedPath normalize_path(std::string_view raw, char *out, size_t cap) noexcept
{
    NormalizedPath result;
    if (raw.empty() || raw.front() != '/' || cap < 1) return result;

    // Fast path: plain ASCII with no escapes, no dot-leading segment and no "//" is already
    // normal; copy it as it is (the common case for every asset request).
    if (raw.size() <= cap) {
        bool plain = true;
        char prev = 0;
        for (char c : raw) {
            unsigned char u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7F || c == '%' || c == '\\' ||
                (prev == '/' && (c == '.' || c == '/'))) {
                plain = false;
                break;
            }
            prev = c;
        }
        if (plain) {
            std::memcpy(out, raw.data(), raw.size());
            result.verdict = PathVerdict::kOk;
            result.trailing_slash = raw.size() > 1 && raw.back() == '/';
            result.path = std::string_view(out, raw.size() - (result.trailing_slash ? 1 : 0));
            return result;
        }
    }

    // Pass 1: decode into out, refusing bytes that have no business in a file path.
    size_t n = 0;
    for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c == '%') {
            if (i + 2 >= raw.size()) return result;
            int hi = hex_value(raw[i + 1]), lo = hex_value(raw[i + 2]);
            if (hi < 0 || lo < 0) return result;
            c = char(hi * 16 + lo);
            i += 2;
        }
        unsigned char u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7F || c == '\\') return result;
        if (n >= cap) return {PathVerdict::kTooLong, {}, false};
        out[n++] = c;
    }
    if (!valid_utf8(reinterpret_cast<const unsigned char *>(out), n)) return result;
    bool trailing_slash = out[n - 1] == '/';

    // Pass 2: collapse repeated slashes in place and check every segment.
    size_t w = 0;
    size_t segment_index = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && out[i] == '/')
            ++i;
        if (i >= n) break;
        size_t start = i;
        while (i < n && out[i] != '/')
            ++i;
        std::string_view seg(out + start, i - start);
        if (seg.front() == '.') {
            // ".", "..", ".env", ".git": never served. Only /.well-known/ is public.
            if (!(segment_index == 0 && seg == ".well-known")) return result;
        }
        out[w++] = '/';
        for (size_t k = start; k < i; ++k)
            out[w++] = out[k];
        ++segment_index;
    }
    if (w == 0) out[w++] = '/';
    result.verdict = PathVerdict::kOk;
    result.path = std::string_view(out, w);
    result.trailing_slash = trailing_slash && w > 1;
    return result;
}

} // namespace berth::edge
