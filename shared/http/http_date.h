// IMF-fixdate (RFC 9110 5.6.7) formatting and parsing for Date, Last-Modified, If-Modified-Since.
#pragma once

#include <ctime>
#include <optional>
#include <string_view>

namespace berth::shared::http
{

inline constexpr size_t kHttpDateLength = 29; // "Sun, 06 Nov 1994 08:49:37 GMT"

// Writes exactly kHttpDateLength bytes to out.
void format_http_date(std::time_t t, char *out) noexcept;

// Accepts IMF-fixdate, and the obsolete RFC 850 and asctime forms as RFC 9110 requires.
std::optional<std::time_t> parse_http_date(std::string_view s) noexcept;

} // namespace berth::shared::http
