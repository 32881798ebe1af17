// Runs one build command (install, build) as a sandboxed child process group (#16).
//
// The command runs as `/bin/sh -c <command>` in `work_dir`:
//  - in a new session and process group (setsid), so the whole build can be signalled at once;
//  - with the rlimits of SandboxLimits (soft = hard), stdin from /dev/null, every other fd of
//    control closed (close_range), signal mask and ignored signals reset;
//  - with exactly this environment: PATH=/usr/local/bin:/usr/bin:/bin, HOME=<home_dir>,
//    TMPDIR=<tmp_dir>, LANG=C.UTF-8, CI=true, PWD=<work_dir>, then `env` (which may override
//    PATH, LANG and CI; HOME, TMPDIR and PWD are always the sandbox's). Nothing is inherited
//    from control;
//  - when control runs as root (euid 0), as an unprivileged user: SandboxUser's uid/gid, or
//    its `name` looked up in the password database (default "nobody"). Supplementary groups
//    are cleared, then gid, then uid are set (setgroups, setresgid, setresuid). With
//    `chown_work_dir` (default) the work dir tree is given to that user first (lchown:
//    symlinks are never followed); otherwise a work dir the user cannot write fails the run
//    with a setup_error naming the directory and the uid. HOME, TMPDIR and `private_dir`
//    (mode 0700) are given to it either way. uid 0 is refused. When control is not root the
//    command runs as control's own user.
//
// Termination: at the wall-clock limit or on cancel(), SIGTERM to the group, SIGKILL 300 ms
// later; when the leader exits (however it ends) the rest of its group is SIGKILLed, since
// nothing of a build may outlive it. run() returns once no process of the group is left:
// the calling process makes itself a child subreaper (PR_SET_CHILD_SUBREAPER, process-wide,
// once) so orphans of the build are re-parented to control and reaped here by process group
// (PID 1 of a container often reaps nothing, and a zombie still counts as a group member).
//
// A `dedicated` uid (the pipeline's per-service build uid, as root) is the build's alone, so
// the build is also every process of that uid: before the command starts, when the leader
// exits and when run() ends, every process of the uid is SIGKILLed (a helper child that
// becomes the uid calls kill(-1, SIGKILL): kill(2) sends that to every process the caller may
// signal except init and itself), and run() returns once none is left, having waited by PID
// for each one that was re-parented to control (never wait(-1): other code waits for its own
// children). A process that left the group (setsid, setpgid) is ended with the rest.
//
// Limits: with a uid that is not dedicated (a shared `name`, or control's own when not root),
// a process that leaves the group escapes the kill and is not waited for. Only the leader gets
// PR_SET_PDEATHSIG: if control dies mid-build, the leader dies, the rest of the build does not
// (the next build of the same dedicated uid kills it). A cgroup per build would close both.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "control/sandbox/log_line.h"
#include "control/sandbox/sandbox_limits.h"
#include "control/sandbox/sandbox_result.h"
#include "control/sandbox/unique_fd.h"

namespace berth::control
{

// Who the build runs as when control is root.
struct SandboxUser {
    std::string name = "nobody";
    std::optional<uid_t> uid; // when set, used instead of `name`
    std::optional<gid_t> gid; // with uid: the group (default: the uid's primary group, or uid)
    bool chown_work_dir = true;
    // No process runs as this uid but the build's: every process of it is killed (and those
    // re-parented to control reaped) before, and at the end of, the run. Only for a uid of the
    // build's own, such as the pipeline's per-service uid, and never two runs of one uid at
    // once; not for "nobody".
    bool dedicated = false;
};

// Why `user` could not reach `dir` (search permission on `dir` and every directory above it),
// or "" when it can, or when builds run as control's own user (control is not root). Builds run
// in and below such directories, so an unreachable one fails every build that runs a command.
std::string build_user_reach_problem(const SandboxUser &user, const std::filesystem::path &dir);

struct SandboxSpec {
    std::string command;            // run by /bin/sh -c
    std::filesystem::path work_dir; // must exist
    std::filesystem::path home_dir; // empty: work_dir/.berth-home (created, mode 0700)
    std::vector<std::pair<std::string, std::string>> env;
    SandboxLimits limits;
    SandboxUser user;
    std::filesystem::path tmp_dir; // TMPDIR; empty: work_dir/.berth-tmp (created, mode 0700)
    // The build's own directory at or above work_dir (the checkout): as root, given to the
    // build user with mode 0700 (that directory alone, not its tree), so no other build's
    // uid can enter it. Empty: none.
    std::filesystem::path private_dir;
};

// One line of output: stdout/stderr, read time in Unix ms, the text (split at
// LineSplitter::kMaxLine). Called on run()'s thread, in the order lines are read (each
// stream's lines in their order; the two streams interleave as the reads happen).
using SandboxLineCallback = std::function<void(LogStream, int64_t, std::string_view)>;

class BuildSandbox
{
public:
    explicit BuildSandbox(SandboxSpec spec);
    BuildSandbox(const BuildSandbox &) = delete;
    BuildSandbox &operator=(const BuildSandbox &) = delete;
    ~BuildSandbox();

    // Runs the command to its end (once per BuildSandbox), delivering output to on_line.
    // Blocks the calling thread. Errors before the command could start (bad env name, missing
    // directory, unknown user, not writable, exec failure) come back as setup_error. If
    // on_line throws, the group is killed and reaped and the exception propagates.
    SandboxResult run(const SandboxLineCallback &on_line);

    // Thread-safe and async-signal-safe, any time: ends a running command as described above
    // (within ~0.3 s plus reaping); before run(), run() returns `cancelled` without starting.
    void cancel() noexcept;

    const SandboxSpec &spec() const noexcept { return spec_; }

private:
    SandboxSpec spec_;
    std::atomic<bool> cancelled_{false};
    UniqueFd cancel_fd_; // eventfd: wakes run()'s poll at once on cancel()
    bool ran_ = false;
};

} // namespace berth::control
