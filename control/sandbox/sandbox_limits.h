// Resource bounds of one sandboxed build command (#16).
#pragma once

#include <chrono>
#include <cstdint>

namespace berth::control
{

// Each rlimit is set as both soft and hard limit in the child, so the build cannot raise it
// (RLIMIT_CPU's hard limit is 2 s above the soft one: SIGXCPU first, SIGKILL if ignored).
// 0 leaves the limit control itself runs with.
struct SandboxLimits {
    // RLIMIT_DATA: private writable memory (heap, anonymous mappings) per process. Not
    // RLIMIT_AS: V8 reserves gigabytes of PROT_NONE address space (WebAssembly guard regions,
    // the pointer-compression cage), and vite 7's build dies under a 4 GiB RLIMIT_AS.
    uint64_t memory_bytes = uint64_t(4) << 30;
    uint64_t cpu_seconds = 1800;                  // RLIMIT_CPU, per process
    uint64_t open_files = 4096;                   // RLIMIT_NOFILE
    uint64_t file_size_bytes = uint64_t(4) << 30; // RLIMIT_FSIZE: the largest file written
    // RLIMIT_NPROC counts every process of the build's uid, not of the build: with the
    // pipeline's per-service uid that is the build alone, with a shared `nobody` its other
    // processes too. It does not apply to root (when control is not root, the build runs as
    // control's own user and counts its processes).
    uint64_t processes = 1024;
    std::chrono::milliseconds wall_timeout{std::chrono::minutes(30)};
};

} // namespace berth::control
