// Percent-encoding (RFC 3986) as URLs, query strings and form bodies carry it.
#pragma once

#include <string>
#include <string_view>

namespace berth::shared
{

// Every byte but the unreserved ones (A-Z a-z 0-9 - _ . ~) as %XX (upper- or lower-case hex);
// a space as '+' when plus_for_space (forms).
std::string percent_encode(std::string_view s, bool upper_hex = true, bool plus_for_space = false);

// %XX decoded (a '%' not followed by two hex digits stays as it is); '+' becomes a space when
// plus_is_space (query strings and forms).
std::string percent_decode(std::string_view s, bool plus_is_space);

} // namespace berth::shared
