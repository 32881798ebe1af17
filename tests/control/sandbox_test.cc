// Build commands as real sandboxed child processes (#16): output lines and streams, exit
// mapping, limits, timeout, cancel of a whole process group, environment, fds, uid.
#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include "control/sandbox/build_sandbox.h"
#include "tests/control/support/proc_scan.h"

using namespace berth::control;
using berth::test::processes_of_uid;
using berth::test::zombie_children;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace
{

// A fresh directory under /tmp, removed with everything in it.
struct TempDir {
    fs::path path;
    TempDir()
    {
        char tmpl[] = "/tmp/berth-sandbox-XXXXXX";
        REQUIRE(mkdtemp(tmpl));
        path = tmpl;
    }
    ~TempDir()
    {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

struct Captured {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<LogStream, std::string>> lines;

    SandboxLineCallback callback()
    {
        return [this](LogStream s, int64_t ts, std::string_view line) {
            CHECK(ts > 0);
            std::lock_guard lock(mu);
            lines.emplace_back(s, std::string(line));
            cv.notify_all();
        };
    }
    std::vector<std::string> of(LogStream s)
    {
        std::lock_guard lock(mu);
        std::vector<std::string> out;
        for (auto &[stream, text] : lines)
            if (stream == s) out.push_back(text);
        return out;
    }
    // Waits (on the callback, not a clock) until `text` was printed.
    bool wait_for(const std::string &text, std::chrono::seconds limit = 10s)
    {
        std::unique_lock lock(mu);
        return cv.wait_for(lock, limit, [&] {
            for (auto &l : lines)
                if (l.second == text) return true;
            return false;
        });
    }
};

SandboxSpec spec_in(const TempDir &dir, std::string command)
{
    SandboxSpec spec;
    spec.command = std::move(command);
    spec.work_dir = dir.path;
    spec.limits.wall_timeout = 30s;
    return spec;
}

SandboxResult run(SandboxSpec spec, Captured &out)
{
    BuildSandbox sandbox(std::move(spec));
    return sandbox.run(out.callback());
}

// Processes whose process group is `pgid`, from /proc (field 5 of /proc/PID/stat), zombies
// included.
std::vector<std::string> group_members(pid_t pgid)
{
    std::vector<std::string> found;
    for (const auto &entry : fs::directory_iterator("/proc")) {
        std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        auto close = line.rfind(')');
        if (close == std::string::npos) continue;
        std::istringstream rest(line.substr(close + 2));
        std::string state;
        long ppid = 0, group = 0;
        rest >> state >> ppid >> group;
        if (group == pgid) found.push_back(name + " " + state);
    }
    return found;
}

// uids of this test run's own (a build uid is dedicated: every process of it gets killed), far
// from the pipeline tests' ranges (uid_base from 1000000 up, see control_env.cc).
uid_t test_uid(int k)
{
    return uid_t(70000000 + (getpid() % 100000) * 4 + k);
}

SandboxSpec dedicated_spec(const TempDir &dir, std::string command, uid_t uid)
{
    SandboxSpec spec = spec_in(dir, std::move(command));
    spec.user.uid = uid;
    spec.user.gid = gid_t(uid);
    spec.user.dedicated = true;
    return spec;
}

void require_group_gone(pid_t pgid)
{
    REQUIRE(pgid > 0);
    errno = 0;
    CHECK(kill(-pgid, 0) == -1);
    CHECK(errno == ESRCH);
    CHECK(group_members(pgid).empty());
}

} // namespace

TEST_CASE("sandbox delivers stdout and stderr lines with their streams", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    auto r = run(spec_in(dir, "echo out1; echo err1 >&2; echo out2; printf 'err2' >&2"), out);
    CHECK(r.ok());
    CHECK(describe(r, SandboxLimits{}) == "exit 0");
    CHECK(out.of(LogStream::kStdout) == std::vector<std::string>{"out1", "out2"});
    CHECK(out.of(LogStream::kStderr) == std::vector<std::string>{"err1", "err2"});
    require_group_gone(r.pgid);
}

TEST_CASE("sandbox maps exit codes and signals", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    auto r = run(spec_in(dir, "exit 2"), out);
    CHECK(r.exit_code == 2);
    CHECK(describe(r, SandboxLimits{}) == "exit 2");
    auto segv = run(spec_in(dir, "kill -SEGV $$"), out);
    CHECK(segv.term_signal == SIGSEGV);
    CHECK(describe(segv, SandboxLimits{}) == "exit 139 (killed by SIGSEGV)");
}

TEST_CASE("sandbox splits a 20 KiB line without newline", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    auto r = run(spec_in(dir, "head -c 20480 /dev/zero | tr '\\0' a"), out);
    CHECK(r.ok());
    auto lines = out.of(LogStream::kStdout);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == std::string(8192, 'a'));
    CHECK(lines[2].size() == 4096);
}

TEST_CASE("sandbox kills a command at the wall-clock limit", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    auto spec = spec_in(dir, "sleep 30");
    spec.limits.wall_timeout = 300ms;
    auto r = run(spec, out);
    CHECK(r.timed_out);
    CHECK(describe(r, spec.limits) == "timed out after 300 ms");
    CHECK(r.wall_time < 2s);
    require_group_gone(r.pgid);
}

TEST_CASE("cancel kills the whole group within a second, TERM-ignoring grandchildren too",
          "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    // Background children, a child and grandchildren that ignore SIGTERM (ignored signals are
    // inherited through exec), and a leader that ignores it too and waits: only SIGKILL ends it.
    BuildSandbox sandbox(spec_in(dir, "sleep 30 & sleep 30 & "
                                      "sh -c 'trap \"\" TERM; sleep 30 & echo inner; sleep 30' & "
                                      "trap '' TERM; echo ready; wait"));
    SandboxResult r;
    std::thread runner([&] { r = sandbox.run(out.callback()); });
    REQUIRE(out.wait_for("ready"));
    REQUIRE(out.wait_for("inner")); // its trap is set
    auto asked = std::chrono::steady_clock::now();
    sandbox.cancel();
    runner.join();
    auto took = std::chrono::steady_clock::now() - asked;
    CHECK(took < 1s);
    CHECK(r.cancelled);
    CHECK(r.term_signal == SIGKILL); // the grace ran out
    CHECK_FALSE(r.survivors);
    CHECK(describe(r, SandboxLimits{}) == "cancelled");
    require_group_gone(r.pgid);
}

TEST_CASE("cancel before run starts nothing", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    BuildSandbox sandbox(spec_in(dir, "echo never"));
    sandbox.cancel();
    auto r = sandbox.run(out.callback());
    CHECK(r.cancelled);
    CHECK(r.pgid == 0);
    CHECK(out.lines.empty());
}

TEST_CASE("background children do not outlive the build", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    auto r = run(spec_in(dir, "sleep 30 >/dev/null 2>&1 & echo started"), out);
    CHECK(r.ok());
    CHECK(r.wall_time < 3s);
    require_group_gone(r.pgid);
}

TEST_CASE("a memory hog past RLIMIT_DATA is reported as out of memory", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    auto spec = spec_in(dir, "python3 -c 'b = bytearray(1 << 30); print(len(b))'");
    spec.limits.memory_bytes = uint64_t(256) << 20;
    auto r = run(spec, out);
    CHECK_FALSE(r.ok());
    CHECK(r.oom_output);
    CHECK(describe(r, spec.limits) == "exit 1 (out of memory: the limit is 256 MiB per process)");
}

TEST_CASE("CPU and file size limits end the command with their names", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    auto cpu = spec_in(dir, "while :; do :; done");
    cpu.limits.cpu_seconds = 1;
    auto r = run(cpu, out);
    CHECK(describe(r, cpu.limits) == "exit 152 (killed: CPU time limit of 1 s)");
    // The kernel kills at 1 s of its own accounting; rusage splits CPU time by tick samples
    // and reads up to ~15 % low on a busy machine (875 ms seen).
    CHECK(r.cpu_time >= 500ms);

    auto fsize = spec_in(dir, "head -c 3000000 /dev/zero > big");
    fsize.limits.file_size_bytes = uint64_t(1) << 20;
    auto f = run(fsize, out);
    CHECK(describe(f, fsize.limits) == "exit 153 (killed: file size limit of 1 MiB)");
}

TEST_CASE("the environment is exactly the one passed, with HOME in the build dir",
          "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    setenv("BERTH_CONTROL_ONLY", "leak", 1);
    auto spec = spec_in(dir, "env");
    spec.env = {
        {"NODE_ENV", "production"}, {"HOME", "/root"}, {"TMPDIR", "/tmp"}, {"WITH_EQ", "a=b"}};
    auto r = run(spec, out);
    unsetenv("BERTH_CONTROL_ONLY");
    REQUIRE(r.ok());
    auto lines = out.of(LogStream::kStdout);
    std::set<std::string> env(lines.begin(), lines.end());
    std::string home = (dir.path / ".berth-home").string();
    std::string tmp = (dir.path / ".berth-tmp").string();
    CHECK(env == std::set<std::string>{"CI=true", "HOME=" + home, "LANG=C.UTF-8",
                                       "NODE_ENV=production", "PATH=/usr/local/bin:/usr/bin:/bin",
                                       "PWD=" + dir.path.string(), "TMPDIR=" + tmp, "WITH_EQ=a=b"});
    CHECK(fs::is_directory(home));
    CHECK(fs::is_directory(tmp));

    auto bad = spec_in(dir, "true");
    bad.env = {{"A=B", "x"}};
    auto b = run(bad, out);
    CHECK(b.setup_error == "invalid environment variable name \"A=B\"");
}

TEST_CASE("no descriptor of control leaks into the build", "[control][sandbox]")
{
    TempDir dir;
    Captured out;
    // Deliberately without O_CLOEXEC.
    int leak = open((dir.path / "marker").c_str(), O_CREAT | O_WRONLY, 0600);
    REQUIRE(leak >= 0);
    auto r = run(spec_in(dir, "ls -l /proc/self/fd/"), out);
    close(leak);
    REQUIRE(r.ok());
    std::set<std::string> fds;
    for (const auto &line : out.of(LogStream::kStdout)) {
        CHECK(line.find("marker") == std::string::npos);
        auto arrow = line.find(" -> ");
        if (arrow == std::string::npos) continue;
        auto space = line.rfind(' ', arrow - 1);
        fds.insert(line.substr(space + 1, arrow - space - 1));
    }
    // 0-2 and the directory ls itself opened to list.
    CHECK(fds == std::set<std::string>{"0", "1", "2", "3"});
}

TEST_CASE("as root the build runs as the unprivileged user", "[control][sandbox]")
{
    if (geteuid() != 0) {
        WARN("not root: the privilege drop is not exercised");
        return;
    }
    TempDir dir;
    Captured out;
    auto r = run(spec_in(dir, "id -u; id -g; id -G; touch made-here"), out);
    REQUIRE(r.ok());
    CHECK(out.of(LogStream::kStdout) == std::vector<std::string>{"65534", "65534", "65534"});
    struct stat st {
    };
    REQUIRE(stat((dir.path / "made-here").c_str(), &st) == 0);
    CHECK(st.st_uid == 65534);

    // A uid given directly, and a directory it may not write without the chown.
    TempDir locked;
    chmod(locked.path.c_str(), 0755);
    auto spec = spec_in(locked, "true");
    spec.user.uid = 4242;
    spec.user.chown_work_dir = false;
    auto denied = run(spec, out);
    CHECK(denied.setup_error.find("is not writable as uid 4242") != std::string::npos);

    auto as_root = spec_in(dir, "true");
    as_root.user.uid = 0;
    CHECK(run(as_root, out).setup_error ==
          "refusing to run a build as root: the build user has uid 0");
    auto unknown = spec_in(dir, "true");
    unknown.user.name = "no-such-user-berth";
    CHECK(run(unknown, out).setup_error == "the build user \"no-such-user-berth\" does not exist");
}

TEST_CASE("as root a dedicated uid ends whole: processes that left the group are killed and reaped",
          "[control][sandbox][uid]")
{
    if (geteuid() != 0) {
        WARN("not root: builds run as control's own uid, nothing is dedicated");
        return;
    }
    TempDir dir;
    Captured out;
    uid_t uid = test_uid(0);
    // The audit's escape: a session of its own (out of the build's group) that loops on, a
    // double-forked sleep re-parented away from the build, and one that stops itself. Each
    // reports its pid through a FIFO of its own before the leader exits.
    auto spec = dedicated_spec(dir,
                               "mkfifo f1 f2 f3; "
                               "setsid sh -c 'echo $$ > f1; while :; do sleep 1; done' "
                               "</dev/null >/dev/null 2>&1 & read a < f1; "
                               "(setsid sh -c 'echo $$ > f2; exec sleep 300' & ) ; read b < f2; "
                               "setsid sh -c 'echo $$ > f3; kill -STOP $$' & read c < f3; "
                               "echo escaped $a $b $c",
                               uid);
    auto r = run(spec, out);
    REQUIRE(r.ok());
    CHECK_FALSE(r.survivors);
    auto lines = out.of(LogStream::kStdout);
    REQUIRE(lines.size() == 1);
    std::istringstream escaped(lines[0].substr(lines[0].find(' ') + 1));
    pid_t pid;
    int count = 0;
    while (escaped >> pid) {
        ++count;
        errno = 0;
        CHECK(kill(pid, 0) == -1); // not even a zombie: reaped
        CHECK(errno == ESRCH);
    }
    CHECK(count == 3);
    CHECK(processes_of_uid(uid).empty());
    CHECK(zombie_children(getpid()).empty());
    require_group_gone(r.pgid);

    // Cancel and timeout end the escaped processes too.
    BuildSandbox cancelled(dedicated_spec(
        dir, "setsid sh -c 'sleep 300' </dev/null >/dev/null 2>&1 & echo ready; wait", uid));
    Captured out2;
    SandboxResult c;
    std::thread runner([&] { c = cancelled.run(out2.callback()); });
    REQUIRE(out2.wait_for("ready"));
    cancelled.cancel();
    runner.join();
    CHECK(c.cancelled);
    CHECK_FALSE(c.survivors);
    CHECK(processes_of_uid(uid).empty());
    CHECK(zombie_children(getpid()).empty());

    auto slow =
        dedicated_spec(dir, "setsid sh -c 'sleep 300' </dev/null >/dev/null 2>&1 & sleep 30", uid);
    slow.limits.wall_timeout = 300ms;
    auto t = run(slow, out);
    CHECK(t.timed_out);
    CHECK(processes_of_uid(uid).empty());
    CHECK(zombie_children(getpid()).empty());
}

TEST_CASE("as root builds of two dedicated uids cannot read each other's environment",
          "[control][sandbox][uid]")
{
    if (geteuid() != 0) {
        WARN("not root: builds run as control's own uid, nothing is dedicated");
        return;
    }
    TempDir dir_a, dir_b;
    uid_t a = test_uid(1), b = test_uid(2);
    auto spec_a = dedicated_spec(dir_a, "echo \"pid $$\"; id -u; sleep 300", a);
    spec_a.env = {{"SECRET_OF_A", "s3cr3t-of-service-a"}};
    BuildSandbox box_a(spec_a);
    Captured out_a;
    SandboxResult ra;
    std::thread runner([&] { ra = box_a.run(out_a.callback()); });
    REQUIRE(out_a.wait_for(std::to_string(a))); // after "pid N"
    std::string leader = out_a.of(LogStream::kStdout)[0].substr(4);
    // The same file is readable to root (so it is the uid that denies it below).
    std::ifstream env_file("/proc/" + leader + "/environ");
    std::string env_a((std::istreambuf_iterator<char>(env_file)), std::istreambuf_iterator<char>());
    CHECK(env_a.find("SECRET_OF_A=s3cr3t-of-service-a") != std::string::npos);

    Captured out_b;
    auto rb = run(dedicated_spec(dir_b,
                                 "id -u; cat /proc/" + leader + "/environ; echo cat=$?; kill -0 " +
                                     leader + " 2>&1; echo kill=$?",
                                 b),
                  out_b);
    CHECK(rb.ok());
    auto said = out_b.of(LogStream::kStdout);
    CHECK(said.size() >= 3);
    if (!said.empty()) CHECK(said[0] == std::to_string(b));
    CHECK(std::find(said.begin(), said.end(), "cat=1") != said.end());
    CHECK(std::find(said.begin(), said.end(), "kill=1") != said.end());
    bool denied = false;
    for (const auto &line : out_b.of(LogStream::kStderr))
        denied = denied || line.find("Permission denied") != std::string::npos;
    CHECK(denied);
    for (const auto &[stream, text] : out_b.lines)
        CHECK(text.find("s3cr3t") == std::string::npos);
    // B's end killed every process of b, not A's.
    CHECK(kill(std::stoi(leader), 0) == 0);

    box_a.cancel();
    runner.join();
    CHECK(ra.cancelled);
    CHECK(processes_of_uid(a).empty());
    CHECK(processes_of_uid(b).empty());
    CHECK(zombie_children(getpid()).empty());
}
