// Header-value parsers of the static handler: Range, HTTP dates, Accept-Encoding, entity-tag
// lists. Invariants: a satisfiable range lies inside the file; a parsed date formats back to
// an IMF-fixdate that parses to the same time; nothing reads outside its input.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "edge/static/conditional.h"
#include "edge/static/static_handler.h"
#include "fuzz/fuzz_check.h"
#include "shared/http/http_date.h"

using namespace berth::edge;
using berth::shared::http::format_http_date;
using berth::shared::http::kHttpDateLength;
using berth::shared::http::parse_http_date;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    uint64_t file_size;
    std::memcpy(&file_size, data, 8);
    file_size %= (uint64_t(1) << 40);
    std::string value(reinterpret_cast<const char *>(data + 8),
                      size - 8); // exact-size copy for ASan

    ByteRange r;
    RangeKind kind = parse_range(value, file_size, r);
    if (kind == RangeKind::kSingle || kind == RangeKind::kMultiple) {
        FUZZ_CHECK(file_size > 0);
        FUZZ_CHECK(r.first <= r.last);
        FUZZ_CHECK(r.last < file_size);
        FUZZ_CHECK(r.length() <= file_size);
    }

    if (auto t = parse_http_date(value)) {
        char buf[kHttpDateLength];
        format_http_date(*t, buf);
        auto again = parse_http_date(std::string_view(buf, sizeof buf));
        FUZZ_CHECK(again && *again == *t);
    }

    (void)accepts_encoding(value, "br");
    (void)accepts_encoding(value, "gzip");
    FUZZ_CHECK(etag_list_matches("*", value));
    (void)etag_list_matches(value, "\"abc\"");
    (void)is_not_modified(value, value, "\"abc\"", 784111777);
    (void)if_range_matches(value, "\"abc\"", 784111777);
    return 0;
}
