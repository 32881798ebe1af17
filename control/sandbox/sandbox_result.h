// What a sandboxed build command ended with, and the one-line error Berth shows for it (#16).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "control/sandbox/sandbox_limits.h"

namespace berth::control
{

struct SandboxResult {
    pid_t pgid = 0;          // the build's process group (= its leader's pid); 0 if never started
    int exit_code = -1;      // the leader's exit status; -1 when a signal ended it or it never ran
    int term_signal = 0;     // the signal that ended the leader, 0 if it exited
    bool timed_out = false;  // the wall-clock limit ended it
    bool cancelled = false;  // cancel() ended it (or came before it started)
    bool oom_output = false; // an out-of-memory message (looks_like_out_of_memory) was printed
    bool survivors = false;  // some process of the group (or of a dedicated uid) outlived the
                             // last kill by the reap bound (2 s)
    std::string setup_error; // set when the command never ran: why
    std::chrono::milliseconds wall_time{0};
    std::chrono::milliseconds cpu_time{0}; // user + system, the leader and every reaped member
    long peak_rss_kib = 0;                 // the largest resident set of any reaped process

    // Ran to the end and exited 0.
    bool ok() const noexcept
    {
        return setup_error.empty() && !timed_out && !cancelled && exit_code == 0;
    }
};

// True for the messages allocators print when malloc fails under RLIMIT_DATA: "out of memory"
// (node's "JavaScript heap out of memory", awk, gcc), "Cannot allocate memory" (ENOMEM),
// "std::bad_alloc", Python's "MemoryError", Go's "cannot allocate memory", Rust's "memory
// allocation of N bytes failed". Case-insensitive where the tools vary.
bool looks_like_out_of_memory(std::string_view line);

// The error text for a result, as in "BUILD_FAILED: exit 137 (killed: out of memory)":
//   setup_error verbatim; "cancelled"; "timed out after 30 s";
//   "exit N" with, for a failure, the cause in brackets. A signal is shown the shell's way as
//   exit 128+n (a shell leader reports its killed child so too, so both read the same):
//   SIGXCPU, or SIGKILL with cpu_time at the CPU limit → "killed: CPU time limit of N s";
//   SIGXFSZ → "killed: file size limit of N MiB";
//   SIGKILL not sent by Berth (the kernel's OOM killer; RLIMIT_DATA itself makes malloc fail
//   rather than kill) → "killed: out of memory";
//   an out-of-memory message or a peak RSS at 90% of the memory limit, whatever the
//   exit (node aborts with SIGABRT or SIGTRAP, Python exits 1) → "out of memory: the limit is
//   N MiB per process";
//   another signal → "killed by SIGSEGV".
std::string describe(const SandboxResult &result, const SandboxLimits &limits);

} // namespace berth::control
