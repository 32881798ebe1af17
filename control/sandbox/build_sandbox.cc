// fork + exec rather than posix_spawn: the child needs setsid, rlimits, a uid change, a
// death signal and a chdir before exec, which glibc's posix_spawn cannot all do. Between fork
// and exec only async-signal-safe calls run, on data prepared before the fork: another thread
// of control may hold malloc's or stdio's lock in the copied memory (#16).
#include "control/sandbox/build_sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include "control/sandbox/line_splitter.h"

namespace berth::control
{

namespace
{

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr auto kKillGrace = 300ms;       // SIGTERM → SIGKILL: a cancel stays well under 1 s
constexpr auto kPollSlice = 100ms;       // the longest wait without a deadline or an event
constexpr auto kDrainAfterExit = 1000ms; // output pipes held by a process that left the group
constexpr auto kReapBound = 2000ms;      // SIGKILLed processes stuck in uninterruptible sleep
constexpr int kHelperBoundMs = 500;      // kill_all_of's helper; a build process may stop it
constexpr size_t kReadChunk = 64 * 1024;

int64_t unix_ms()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string errno_text(int err)
{
    return std::system_category().message(err);
}

// Where the child failed before exec, sent to the parent over the report pipe.
enum class Stage : int {
    kSession = 1,
    kStdio,
    kFds,
    kLimits,
    kGroups,
    kGid,
    kUid,
    kDeathSignal,
    kChdir,
    kNotWritable,
    kExec
};
struct ChildFailure {
    Stage stage;
    int err;
};

struct Identity {
    bool drop = false;
    uid_t uid = 0;
    gid_t gid = 0;
};

// Everything the child needs, built before fork so that the child allocates nothing.
struct ChildPlan {
    struct Limit {
        int resource;
        rlim_t soft, hard;
    };
    int stdin_fd, stdout_fd, stderr_fd, report_fd;
    const char *work_dir;
    char *const *argv;
    char *const *envp;
    Limit limits[5];
    int limit_count = 0;
    Identity id;
    pid_t parent;
};

[[noreturn]] void child_fail(int report_fd, Stage stage)
{
    ChildFailure f{stage, errno};
    ssize_t ignored = write(report_fd, &f, sizeof f);
    (void)ignored;
    _exit(127);
}

[[noreturn]] void run_child(const ChildPlan &p)
{
    int report = p.report_fd;
    if (setsid() < 0) child_fail(report, Stage::kSession);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Ignored signals stay ignored across exec (control ignores SIGPIPE): reset every one.
    struct sigaction dfl {
    };
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
    if (dup2(p.stdin_fd, 0) < 0 || dup2(p.stdout_fd, 1) < 0 || dup2(p.stderr_fd, 2) < 0)
        child_fail(report, Stage::kStdio);
    // The report pipe moves to fd 3 with close-on-exec, so a successful exec shows as EOF.
    if (report != 3) {
        if (dup3(report, 3, O_CLOEXEC) < 0) child_fail(report, Stage::kFds);
        report = 3;
    }
    if (close_range(4, ~0U, 0) < 0) { // kernels before 5.9
        struct rlimit nofile {
        };
        getrlimit(RLIMIT_NOFILE, &nofile);
        rlim_t top =
            nofile.rlim_cur == RLIM_INFINITY ? 65536 : std::min<rlim_t>(nofile.rlim_cur, 1 << 20);
        for (rlim_t fd = 4; fd < top; ++fd)
            close(int(fd));
    }
    for (int i = 0; i < p.limit_count; ++i) {
        struct rlimit rl {
            p.limits[i].soft, p.limits[i].hard
        };
        if (setrlimit(p.limits[i].resource, &rl) < 0) child_fail(report, Stage::kLimits);
    }
    umask(022);
    if (p.id.drop) {
        // Raw system calls: glibc's wrappers broadcast the change to every thread, machinery a
        // forked child (one thread, copied locks) must not enter.
        if (syscall(SYS_setgroups, 0, nullptr) < 0) child_fail(report, Stage::kGroups);
        if (syscall(SYS_setresgid, p.id.gid, p.id.gid, p.id.gid) < 0)
            child_fail(report, Stage::kGid);
        if (syscall(SYS_setresuid, p.id.uid, p.id.uid, p.id.uid) < 0)
            child_fail(report, Stage::kUid);
    }
    // After the uid change, which clears it; then close the race with a parent already gone.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) child_fail(report, Stage::kDeathSignal);
    if (getppid() != p.parent) _exit(127);
    if (chdir(p.work_dir) < 0) child_fail(report, Stage::kChdir);
    if (access(".", W_OK) < 0) child_fail(report, Stage::kNotWritable); // as the build's uid
    execve("/bin/sh", p.argv, p.envp);
    child_fail(report, Stage::kExec);
}

std::string failure_text(const ChildFailure &f, const SandboxSpec &spec, const Identity &id)
{
    std::string as = id.drop ? " as uid " + std::to_string(id.uid) : std::string();
    std::string why = errno_text(f.err);
    switch (f.stage) {
    case Stage::kChdir:
        return "cannot enter the build directory " + spec.work_dir.string() + as + ": " + why;
    case Stage::kNotWritable:
        return "the build directory " + spec.work_dir.string() + " is not writable" + as + ": " +
               why;
    case Stage::kExec:
        return "cannot run /bin/sh: " + why;
    case Stage::kLimits:
        return "cannot set the build's resource limits: " + why;
    case Stage::kGroups:
    case Stage::kGid:
    case Stage::kUid:
        return "cannot switch to the build user" + as + ": " + why;
    default:
        return "cannot start the build process: " + why;
    }
}

std::string resolve_identity(const SandboxUser &user, Identity &id)
{
    if (geteuid() != 0) return {};
    id.drop = true;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? size_t(size) : 16384);
    passwd pw{}, *found = nullptr;
    if (user.uid) {
        id.uid = *user.uid;
        getpwuid_r(id.uid, &pw, buf.data(), buf.size(), &found);
        id.gid = user.gid ? *user.gid : found ? found->pw_gid : gid_t(id.uid);
    } else {
        getpwnam_r(user.name.c_str(), &pw, buf.data(), buf.size(), &found);
        if (!found) return "the build user \"" + user.name + "\" does not exist";
        id.uid = found->pw_uid;
        id.gid = found->pw_gid;
    }
    if (id.uid == 0) return "refusing to run a build as root: the build user has uid 0";
    return {};
}

// Gives a tree to the build user. lchown and no symlink following: a link in a repository
// must not hand the build a file outside it.
std::string chown_tree(const fs::path &root, const Identity &id)
{
    auto fail = [&](const fs::path &p, int err) {
        return "cannot give " + p.string() + " to uid " + std::to_string(id.uid) + ": " +
               errno_text(err);
    };
    if (lchown(root.c_str(), id.uid, id.gid) < 0) return fail(root, errno);
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
        if (lchown(it->path().c_str(), id.uid, id.gid) < 0) return fail(it->path(), errno);
    return ec ? fail(root, ec.value()) : std::string();
}

// The child's environment, exactly: Berth's fixed variables, then the caller's.
std::string build_env(const SandboxSpec &spec, const fs::path &home, const fs::path &tmp,
                      std::vector<std::string> &out)
{
    std::map<std::string, std::string> vars = {
        {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"LANG", "C.UTF-8"}, {"CI", "true"}};
    for (const auto &[name, value] : spec.env) {
        if (name.empty() || name.find_first_of(std::string_view("=\0", 2)) != std::string::npos)
            return "invalid environment variable name \"" + name + "\"";
        if (value.find('\0') != std::string::npos)
            return "environment variable " + name + " holds a NUL byte";
        if (name != "HOME" && name != "PWD" && name != "TMPDIR") vars[name] = value;
    }
    vars["HOME"] = home.string();
    vars["TMPDIR"] = tmp.string();
    vars["PWD"] = spec.work_dir.string();
    for (const auto &[name, value] : vars)
        out.push_back(name + "=" + value);
    return {};
}

// Pipe ends at fd 3 or above, so the child's dup2 onto 0-2 never clobbers one of them.
UniqueFd above_stdio(UniqueFd fd)
{
    if (!fd || fd.get() > 2) return fd;
    return UniqueFd(fcntl(fd.get(), F_DUPFD_CLOEXEC, 3));
}

bool make_pipe(UniqueFd &read_end, UniqueFd &write_end)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return false;
    read_end = above_stdio(UniqueFd(fds[0]));
    write_end = above_stdio(UniqueFd(fds[1]));
    return read_end && write_end;
}

void add_usage(SandboxResult &r, const rusage &ru)
{
    auto ms = [](const timeval &t) { return milliseconds(t.tv_sec * 1000 + t.tv_usec / 1000); };
    r.cpu_time += ms(ru.ru_utime) + ms(ru.ru_stime);
    r.peak_rss_kib = std::max(r.peak_rss_kib, ru.ru_maxrss);
}

// SIGKILL to every process of `uid`, from a helper child that becomes `uid` and calls
// kill(-1, SIGKILL): kill(2) sends that to every process the caller may signal (those whose
// real or saved uid is the caller's), except init and the caller itself. As root, kill(-1)
// would reach everything; as the uid it reaches exactly the build, in and out of its group.
// The helper is one of the uid's processes while it runs, so a build process may stop it; it
// is SIGKILLed if it has not finished in kHelperBoundMs, and the caller's loop tries again.
void kill_all_of(uid_t uid)
{
    pid_t helper = fork();
    if (helper < 0) return;
    if (helper == 0) {
        // Async-signal-safe only (see the top of the file); a raw setresuid like run_child's.
        if (syscall(SYS_setresuid, uid, uid, uid) == 0) kill(-1, SIGKILL);
        _exit(0);
    }
    UniqueFd pidfd(int(syscall(SYS_pidfd_open, helper, 0)));
    if (pidfd) {
        pollfd p{pidfd.get(), POLLIN, 0};
        while (poll(&p, 1, kHelperBoundMs) < 0 && errno == EINTR) {
        }
    } else {
        auto give_up = Clock::now() + milliseconds(kHelperBoundMs);
        while (waitpid(helper, nullptr, WNOHANG) == 0 && Clock::now() < give_up)
            std::this_thread::sleep_for(1ms);
    }
    if (waitpid(helper, nullptr, WNOHANG) == helper) return;
    kill(helper, SIGKILL);
    while (waitpid(helper, nullptr, 0) < 0 && errno == EINTR) {
    }
}

struct UidProcess {
    pid_t pid;
    pid_t ppid;
};

// The processes whose real, effective or saved uid is `uid` (zombies included: their
// credentials stay until they are reaped), from /proc/PID/status.
std::vector<UidProcess> processes_of(uid_t uid)
{
    std::vector<UidProcess> found;
    std::error_code ec;
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        UniqueFd fd(open((it->path() / "status").c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) continue; // gone meanwhile
        char buf[8192];
        ssize_t n = read(fd.get(), buf, sizeof buf - 1);
        if (n <= 0) continue;
        buf[n] = '\0';
        const char *ppid = std::strstr(buf, "\nPPid:");
        const char *uids = std::strstr(buf, "\nUid:");
        if (!ppid || !uids) continue;
        unsigned long real = 0, effective = 0, saved = 0;
        if (std::sscanf(uids + 5, "%lu %lu %lu", &real, &effective, &saved) != 3) continue;
        if (real != uid && effective != uid && saved != uid) continue;
        found.push_back({pid_t(std::stol(name)), pid_t(std::atol(ppid + 6))});
    }
    return found;
}

// Owns the started process group: whatever way run() is left, the group is killed and every
// member re-parented to us reaped, and the leader's status and usage land in the result. With
// a dedicated uid, every process of that uid too.
class ProcessGroup
{
public:
    ProcessGroup(pid_t leader, SandboxResult &result, std::optional<uid_t> dedicated)
        : leader_(leader), result_(result), dedicated_(dedicated)
    {
    }
    ProcessGroup(const ProcessGroup &) = delete;
    ProcessGroup &operator=(const ProcessGroup &) = delete;
    ~ProcessGroup() { finish(); }

    void signal(int sig) const { kill(-leader_, sig); }
    bool leader_exited() const { return leader_reaped_; }

    // Reaps the leader if it has ended; then the rest of the group is killed at once.
    bool poll_leader()
    {
        if (leader_reaped_) return true;
        int status = 0;
        rusage ru{};
        if (wait4(leader_, &status, WNOHANG, &ru) != leader_) return false;
        record_leader(status, ru);
        signal(SIGKILL);                          // nothing of a build outlives it
        if (dedicated_) kill_all_of(*dedicated_); // nor escapes its group: their pipes close now
        return true;
    }

    // Kills and reaps until kill(-pgid, 0) says the group is gone (or kReapBound passed). The
    // leader's pid stays reserved as a pgid while any member exists, so it cannot be reused.
    // Then, with a dedicated uid, the same for every process of the uid.
    void finish()
    {
        if (finished_) return;
        finished_ = true;
        finish_group();
        if (dedicated_) finish_uid(*dedicated_);
    }

private:
    void finish_group()
    {
        auto give_up = Clock::now() + kReapBound;
        while (true) {
            signal(SIGKILL);
            int status = 0;
            rusage ru{};
            pid_t pid;
            while ((pid = wait4(-leader_, &status, WNOHANG, &ru)) > 0) {
                if (pid == leader_)
                    record_leader(status, ru);
                else
                    add_usage(result_, ru);
            }
            if (!leader_reaped_ && wait4(leader_, &status, WNOHANG, &ru) == leader_)
                record_leader(status, ru);
            if (leader_reaped_ && kill(-leader_, 0) < 0 && errno == ESRCH) return;
            if (Clock::now() >= give_up) {
                result_.survivors = true;
                return;
            }
            // Killed processes take a few scheduler ticks to exit; nothing signals it to us.
            std::this_thread::sleep_for(2ms);
        }
    }

    // Kills every process of `uid` and waits, by PID, for each that was re-parented to us (we
    // are a child subreaper), until /proc shows none of the uid (or kReapBound passed).
    void finish_uid(uid_t uid)
    {
        auto give_up = Clock::now() + kReapBound;
        pid_t self = getpid();
        while (true) {
            kill_all_of(uid);
            bool left = false;
            for (const UidProcess &p : processes_of(uid)) {
                int status = 0;
                rusage ru{};
                if (p.ppid == self && wait4(p.pid, &status, WNOHANG, &ru) == p.pid)
                    add_usage(result_, ru);
                else
                    left = true; // still dying, or a zombie whose parent is still dying
            }
            if (!left) return;
            if (Clock::now() >= give_up) {
                result_.survivors = true;
                return;
            }
            std::this_thread::sleep_for(2ms);
        }
    }

    void record_leader(int status, const rusage &ru)
    {
        leader_reaped_ = true;
        if (WIFEXITED(status)) result_.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) result_.term_signal = WTERMSIG(status);
        add_usage(result_, ru);
    }

    pid_t leader_;
    SandboxResult &result_;
    std::optional<uid_t> dedicated_;
    bool leader_reaped_ = false;
    bool finished_ = false;
};

struct OutputPipe {
    LogStream stream;
    UniqueFd fd;
    LineSplitter splitter;
};

} // namespace

std::string build_user_reach_problem(const SandboxUser &user, const fs::path &dir)
{
    Identity id;
    if (std::string err = resolve_identity(user, id); !err.empty() || !id.drop) return err;
    std::error_code ec;
    fs::path p = fs::absolute(dir, ec).lexically_normal();
    if (ec) return "cannot resolve " + dir.string() + ": " + ec.message();
    // Walk down from "/" to the first directory that does not exist yet (control creates it
    // with mode 0755).
    fs::path at;
    for (const fs::path &part : p) {
        at /= part;
        struct stat st {
        };
        if (stat(at.c_str(), &st) < 0) break;
        mode_t need = st.st_uid == id.uid ? S_IXUSR : st.st_gid == id.gid ? S_IXGRP : S_IXOTH;
        if (!(st.st_mode & need)) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
            return "the build user (uid " + std::to_string(id.uid) + ") cannot enter " +
                   at.string() + " (mode " + mode + "), on the way to " + p.string();
        }
    }
    return {};
}

BuildSandbox::BuildSandbox(SandboxSpec spec)
    : spec_(std::move(spec)), cancel_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))
{
}

BuildSandbox::~BuildSandbox() = default;

void BuildSandbox::cancel() noexcept
{
    cancelled_.store(true);
    uint64_t one = 1;
    ssize_t ignored = write(cancel_fd_.get(), &one, sizeof one);
    (void)ignored;
}

SandboxResult BuildSandbox::run(const SandboxLineCallback &on_line)
{
    SandboxResult result;
    auto started = Clock::now();
    if (ran_) {
        result.setup_error = "a BuildSandbox runs its command once";
        return result;
    }
    ran_ = true;
    if (cancelled_.load()) {
        result.cancelled = true;
        return result;
    }
    auto fail = [&](std::string why) {
        result.setup_error = std::move(why);
        return result;
    };

    // Before anything runs: a build's orphans must come back to us to be reaped.
    static std::once_flag subreaper;
    std::call_once(subreaper, [] { prctl(PR_SET_CHILD_SUBREAPER, 1); });

    std::error_code ec;
    if (!fs::is_directory(spec_.work_dir, ec))
        return fail("the build directory " + spec_.work_dir.string() + " does not exist");
    Identity id;
    if (std::string e = resolve_identity(spec_.user, id); !e.empty()) return fail(e);
    std::optional<uid_t> dedicated;
    if (id.drop && spec_.user.dedicated) dedicated = id.uid;
    // Whatever an earlier build of this uid left (control died mid-build) goes first.
    if (dedicated) kill_all_of(*dedicated);
    fs::path home = spec_.home_dir.empty() ? spec_.work_dir / ".berth-home" : spec_.home_dir;
    fs::path tmp = spec_.tmp_dir.empty() ? spec_.work_dir / ".berth-tmp" : spec_.tmp_dir;
    for (const auto &[what, dir] :
         {std::pair<const char *, const fs::path &>{"HOME", home}, {"TMPDIR", tmp}})
        if (mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST)
            return fail(std::string("cannot create ") + what + " " + dir.string() + ": " +
                        errno_text(errno));
    if (id.drop) {
        if (spec_.user.chown_work_dir) {
            if (std::string e = chown_tree(spec_.work_dir, id); !e.empty()) return fail(e);
        }
        auto give = [&](const char *what, const fs::path &dir) {
            return "cannot give " + std::string(what) + dir.string() + " to uid " +
                   std::to_string(id.uid) + ": " + errno_text(errno);
        };
        if (lchown(home.c_str(), id.uid, id.gid) < 0) return fail(give("HOME ", home));
        if (lchown(tmp.c_str(), id.uid, id.gid) < 0) return fail(give("TMPDIR ", tmp));
        // The directory alone. It sits in a directory of control's (builds_dir), so the build
        // cannot swap it for a link between the lstat and the chmod.
        if (const fs::path &p = spec_.private_dir; !p.empty()) {
            struct stat st {
            };
            if (lstat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) errno = ENOTDIR;
            if (!S_ISDIR(st.st_mode) || lchown(p.c_str(), id.uid, id.gid) < 0 ||
                chmod(p.c_str(), 0700) < 0)
                return fail(give("", p));
        }
    }
    std::vector<std::string> env;
    if (std::string e = build_env(spec_, home, tmp, env); !e.empty()) return fail(e);

    std::vector<char *> envp;
    for (auto &var : env)
        envp.push_back(var.data());
    envp.push_back(nullptr);
    std::string sh = "sh", dash_c = "-c", command = spec_.command;
    std::vector<char *> argv = {sh.data(), dash_c.data(), command.data(), nullptr};
    std::string work_dir = spec_.work_dir.string();

    UniqueFd null_in = above_stdio(UniqueFd(open("/dev/null", O_RDONLY | O_CLOEXEC)));
    UniqueFd out_r, out_w, err_r, err_w, report_r, report_w;
    if (!null_in || !make_pipe(out_r, out_w) || !make_pipe(err_r, err_w) ||
        !make_pipe(report_r, report_w))
        return fail("cannot create the build's pipes: " + errno_text(errno));
    fcntl(out_r.get(), F_SETFL, O_NONBLOCK);
    fcntl(err_r.get(), F_SETFL, O_NONBLOCK);

    ChildPlan plan{};
    plan.stdin_fd = null_in.get();
    plan.stdout_fd = out_w.get();
    plan.stderr_fd = err_w.get();
    plan.report_fd = report_w.get();
    plan.work_dir = work_dir.c_str();
    plan.argv = argv.data();
    plan.envp = envp.data();
    plan.id = id;
    plan.parent = getpid();
    const SandboxLimits &lim = spec_.limits;
    auto limit = [&](int resource, uint64_t value, uint64_t hard_extra = 0) {
        if (value)
            plan.limits[plan.limit_count++] = {resource, rlim_t(value), rlim_t(value + hard_extra)};
    };
    limit(RLIMIT_DATA, lim.memory_bytes);
    limit(RLIMIT_CPU, lim.cpu_seconds, 2);
    limit(RLIMIT_NOFILE, lim.open_files);
    limit(RLIMIT_FSIZE, lim.file_size_bytes);
    limit(RLIMIT_NPROC, lim.processes);

    pid_t pid = fork();
    if (pid < 0) return fail("cannot start the build process: " + errno_text(errno));
    if (pid == 0) run_child(plan);

    ProcessGroup group(pid, result, dedicated);
    result.pgid = pid;
    // Readable when the leader exits; without it (kernels before 5.3) the slice bounds the wait.
    UniqueFd pidfd(int(syscall(SYS_pidfd_open, pid, 0)));
    null_in.reset();
    out_w.reset();
    err_w.reset();
    report_w.reset();
    // EOF on the report pipe means exec succeeded (and so setsid: the group exists).
    ChildFailure failure{};
    ssize_t got;
    while ((got = read(report_r.get(), &failure, sizeof failure)) < 0 && errno == EINTR) {
    }
    if (got == ssize_t(sizeof failure)) {
        group.finish();
        result.exit_code = -1;
        return fail(failure_text(failure, spec_, id));
    }

    auto deadline = started + lim.wall_timeout;
    std::optional<Clock::time_point> term_sent, leader_exit;
    bool kill_sent = false;
    OutputPipe pipes[2] = {{LogStream::kStdout, std::move(out_r), LineSplitter()},
                           {LogStream::kStderr, std::move(err_r), LineSplitter()}};
    auto deliver = [&](LogStream stream) {
        return [&on_line, &result, stream](std::string_view line) {
            if (looks_like_out_of_memory(line)) result.oom_output = true;
            on_line(stream, unix_ms(), line);
        };
    };
    std::vector<char> buf(kReadChunk);
    while (true) {
        auto now = Clock::now();
        if (!group.leader_exited() && !term_sent && (cancelled_.load() || now >= deadline)) {
            (cancelled_.load() ? result.cancelled : result.timed_out) = true;
            group.signal(SIGTERM);
            term_sent = now;
        }
        if (term_sent && !kill_sent && now >= *term_sent + kKillGrace) {
            group.signal(SIGKILL);
            kill_sent = true;
        }
        if (!leader_exit && group.poll_leader()) leader_exit = now;
        bool open = pipes[0].fd || pipes[1].fd;
        if (leader_exit && (!open || now >= *leader_exit + kDrainAfterExit)) break;

        pollfd fds[4];
        OutputPipe *owner[4] = {};
        nfds_t n = 0;
        for (auto &p : pipes)
            if (p.fd) {
                owner[n] = &p;
                fds[n++] = {p.fd.get(), POLLIN, 0};
            }
        if (!term_sent && !leader_exit) fds[n++] = {cancel_fd_.get(), POLLIN, 0};
        if (pidfd && !leader_exit) fds[n++] = {pidfd.get(), POLLIN, 0};
        auto wait = milliseconds(kPollSlice);
        if (!term_sent)
            wait = std::min(wait, std::chrono::duration_cast<milliseconds>(deadline - now));
        else if (!kill_sent)
            wait = std::min(
                wait, std::chrono::duration_cast<milliseconds>(*term_sent + kKillGrace - now));
        if (poll(fds, n, int(std::max<milliseconds::rep>(wait.count(), 0) + 1)) < 0 &&
            errno != EINTR)
            break;
        for (nfds_t i = 0; i < n; ++i) {
            if (!owner[i] || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            OutputPipe &p = *owner[i];
            ssize_t r = read(p.fd.get(), buf.data(), buf.size());
            if (r > 0) {
                p.splitter.feed({buf.data(), size_t(r)}, deliver(p.stream));
            } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
                p.splitter.finish(deliver(p.stream));
                p.fd.reset();
            }
        }
    }
    for (auto &p : pipes)
        p.splitter.finish(deliver(p.stream));
    group.finish();
    result.wall_time = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    return result;
}

} // namespace berth::control
