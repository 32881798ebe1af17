// The build phase (#16): install (or restore the dependency cache), build, find the output.
#include "control/pipeline/build_step.h"

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "control/pipeline/dependency_cache.h"

namespace berth::control
{

namespace fs = std::filesystem;

namespace
{

int64_t now_ms()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string seconds(std::chrono::milliseconds ms)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", double(ms.count()) / 1000.0);
    return buf;
}

// While it lives, polls `cancelled` every 200 ms and cancels `box` when it answers true, so a
// cancel from the API ends the command's process group within a second.
class CancelWatch
{
public:
    CancelWatch(const std::function<bool()> &cancelled, BuildSandbox &box)
    {
        if (!cancelled) return;
        thread_ = std::thread([this, &cancelled, &box] {
            std::unique_lock lock(mu_);
            while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return done_; })) {
                lock.unlock();
                bool stop = cancelled();
                lock.lock();
                if (stop) {
                    box.cancel();
                    return;
                }
            }
        });
    }
    ~CancelWatch()
    {
        {
            std::lock_guard lock(mu_);
            done_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

// `rel` under `base`, resolved (symlinks and ".." included); a path that leaves `base` is a
// build error, since what lies outside was not built here.
fs::path inside(const fs::path &base, const std::string &rel, const std::string &what)
{
    fs::path canon_base = fs::weakly_canonical(base);
    fs::path p = fs::weakly_canonical(canon_base / (rel.empty() ? "." : rel));
    auto [b, _] = std::mismatch(canon_base.begin(), canon_base.end(), p.begin(), p.end());
    if (b != canon_base.end()) throw BuildError(what + " " + rel + " leaves the tree");
    return p;
}

// The last lines a command printed, for the error on the deployment row.
std::string last_output(const BuildLog &log)
{
    auto tail = log.tail();
    size_t from = tail.size() > 5 ? tail.size() - 5 : 0;
    std::string out;
    for (size_t i = from; i < tail.size(); ++i)
        out += (out.empty() ? "" : " | ") + tail[i];
    if (out.size() > 1000) out = "…" + out.substr(out.size() - 1000);
    return out;
}

} // namespace

BuildOutput build_step(const BuildInput &in)
{
    const BuildPlan &plan = in.plan;
    fs::path root = inside(in.checkout, in.root_directory, "root_directory");
    if (!fs::is_directory(root))
        throw BuildError("root_directory " + in.root_directory +
                         " is not a directory in the repository");
    if (plan.needs_container_runtime)
        throw BuildError("a Dockerfile build needs the container runtime, which this build agent "
                         "does not have");
    if (plan.kind == BuildKind::kService)
        throw BuildError(std::string(framework_name(plan.framework)) +
                         " is an app service (start: " + plan.start_command +
                         "); this build agent publishes static output only");

    BuildLog log(LogMasker(in.secret_values), in.log_cap, in.log);
    auto say = [&](const std::string &line) { log.add(LogStream::kSystem, now_ms(), line); };
    BuildOutput out;
    auto run = [&](const char *phase, const std::string &command) {
        say("$ " + command);
        SandboxSpec spec{command, root, {}, in.env, in.limits, in.user};
        spec.private_dir = in.checkout;
        BuildSandbox box(std::move(spec));
        SandboxResult r;
        {
            CancelWatch watch(in.cancelled, box);
            r = box.run(
                [&](LogStream s, int64_t ts, std::string_view text) { log.add(s, ts, text); });
        }
        out.commands.push_back({phase, command, r.wall_time, false});
        if (!r.ok()) {
            std::string why = describe(r, in.limits) + " in `" + command + "`";
            if (r.cancelled) throw BuildError(why);
            std::string tail = last_output(log);
            throw BuildError(tail.empty() ? why : why + "; last output: " + tail);
        }
        say(std::string(phase) + " done in " + seconds(r.wall_time) + " (CPU " +
            seconds(r.cpu_time) + ", peak RSS " + std::to_string(r.peak_rss_kib / 1024) + " MiB)");
    };

    say("framework " + std::string(framework_name(plan.framework)) +
        (plan.lockfile.empty() ? "" : ", lockfile " + plan.lockfile));
    if (in.user.uid && in.user.dedicated)
        say("commands run as uid " + std::to_string(*in.user.uid) + ", this service's own");
    if (!plan.install_command.empty()) {
        std::optional<DependencyCache> cache;
        if (!in.cache_dir.empty()) cache.emplace(in.cache_dir, plan, root);
        if (cache && cache->enabled() && cache->restore()) {
            say("dependency cache hit (" + plan.lockfile + " " + cache->key() +
                "): node_modules restored, `" + plan.install_command + "` skipped");
            out.commands.push_back({"install", plan.install_command, {}, true});
        } else {
            if (cache && cache->enabled())
                say("dependency cache miss (" + plan.lockfile + " " + cache->key() + ")");
            run("install", plan.install_command);
            if (cache && cache->enabled()) {
                std::string err = cache->store();
                say(err.empty() ? "dependency cache: node_modules kept for " + cache->key()
                                : "dependency cache not written: " + err);
            }
        }
    }
    if (!plan.build_command.empty()) run("build", plan.build_command);

    std::string shown = plan.output_directory == "." || plan.output_directory.empty()
                            ? std::string("/")
                            : plan.output_directory;
    fs::path output = inside(root, plan.output_directory, "output directory");
    if (!fs::is_directory(output))
        throw BuildError(
            "output directory " + shown + " does not exist after the build" +
            (plan.build_command.empty() ? std::string() : " (`" + plan.build_command + "`)"));
    std::string detail = std::string(framework_name(plan.framework)) + ":";
    for (const CommandRun &c : out.commands)
        detail += " " + c.command + (c.from_cache ? " (cached)" : " " + seconds(c.wall)) + ";";
    if (out.commands.empty()) detail += " no build command;";
    out.output_dir = output;
    out.detail = detail + " published " + shown;
    say("publishing " + shown);
    return out;
}

} // namespace berth::control
