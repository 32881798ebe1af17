// Host header normalisation: lower-case, port and trailing dot stripped, characters checked.
#pragma once

#include <cstddef>
#include <string_view>

namespace berth::shared::http
{

// Writes the normalised host into out (capacity cap) and returns a view of it, or an empty
// view when the host is malformed or longer than cap. "[::1]:8080" → "[::1]",
// "Demo.Example.TEST.:8080" → "demo.example.test".
std::string_view normalize_host(std::string_view host, char *out, size_t cap) noexcept;

inline constexpr size_t kMaxHostLength = 255;

} // namespace berth::shared::http
