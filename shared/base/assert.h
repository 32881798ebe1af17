// BERTH_ASSERT: an invariant whose failure would otherwise corrupt state. Always checked (also
// in release builds): it prints file:line and the condition, then aborts, so a fuzz run or a
// core dump points at the broken rule instead of at the damage it did later.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace berth::shared
{

[[noreturn]] inline void assert_failed(const char *condition, const char *file, int line) noexcept
{
    std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
    std::abort();
}

} // namespace berth::shared

#define BERTH_ASSERT(condition)                                                                    \
    ((condition) ? (void)0 : ::berth::shared::assert_failed(#condition, __FILE__, __LINE__))
