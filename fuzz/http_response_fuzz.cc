// The upstream response parser (#14): bytes in pseudo-random splits of one contiguous buffer.
// Invariants: consumed <= len; after kError nothing more is consumed; a complete head has a
// status 100..599, token field names and values without CR, LF or NUL, never Content-Length
// with chunked, and views inside the received bytes; a Content-Length body arrives whole.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "shared/http/header_token.h"
#include "shared/http/response_parser.h"

using namespace berth::shared::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static ResponseParser parser(4096);
    parser.reset();
    parser.set_head_request(data[0] & 1);
    uint8_t seed = data[0];
    std::string_view in(reinterpret_cast<const char *>(data + 1), size - 1);
    const char *base = in.data();
    size_t pos = 0, body = 0;
    bool failed = false;
    for (int guard = 0; guard < 100000 && pos <= in.size(); ++guard) {
        size_t step = 1 + (seed = uint8_t(seed * 33 + 7)) % 64;
        size_t len = std::min(step, in.size() - pos);
        ResponseParse r = parser.feed(base + pos, len);
        FUZZ_CHECK(r.consumed <= len);
        if (failed) FUZZ_CHECK(r.event == ResponseEvent::kError && r.consumed == 0);
        pos += r.consumed;
        switch (r.event) {
        case ResponseEvent::kError:
            failed = true;
            FUZZ_CHECK(parser.error_reason() != nullptr);
            break;
        case ResponseEvent::kHeadComplete: {
            const ResponseHead &h = parser.head();
            FUZZ_CHECK(h.status >= 100 && h.status <= 599);
            FUZZ_CHECK(!(h.chunked && h.has_content_length));
            for (uint16_t i = 0; i < h.header_count; ++i) {
                FUZZ_CHECK(!h.headers[i].name.empty());
                FUZZ_CHECK(h.headers[i].name.data() >= base &&
                           h.headers[i].name.data() + h.headers[i].name.size() <= base + pos);
                for (char c : h.headers[i].name)
                    FUZZ_CHECK(is_tchar(c));
                for (char c : h.headers[i].value)
                    FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
            }
            body = 0;
            break;
        }
        case ResponseEvent::kBody:
            FUZZ_CHECK(!parser.body().empty());
            body += parser.body().size();
            if (parser.head().has_content_length) FUZZ_CHECK(body <= parser.head().content_length);
            break;
        case ResponseEvent::kMessageComplete:
            if (parser.head().has_content_length && parser.head().status >= 200 &&
                parser.head().status != 204 && parser.head().status != 304 && !(data[0] & 1))
                FUZZ_CHECK(body == parser.head().content_length);
            parser.reset_message();
            break;
        case ResponseEvent::kNeedMore:
            if (pos == in.size()) {
                parser.finish();
                return 0;
            }
            break;
        }
        if (failed && pos == in.size()) break;
        if (failed) break;
    }
    return 0;
}
