// Processes as /proc shows them, for tests of what a build leaves behind (#16): the processes
// of a uid and the unreaped children of a process, zombies included.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace berth::test
{

// One field of /proc/PID/status ("PPid", "Uid", "State"), "" when the process is gone.
inline std::string proc_status_field(const std::string &pid, const std::string &field)
{
    std::ifstream in("/proc/" + pid + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
    return "";
}

inline std::vector<std::string> proc_pids()
{
    std::vector<std::string> pids;
    for (const auto &entry : std::filesystem::directory_iterator("/proc")) {
        std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") == std::string::npos) pids.push_back(name);
    }
    return pids;
}

// "PID STATE" of every process (zombies included) whose real, effective or saved uid is `uid`.
inline std::vector<std::string> processes_of_uid(uid_t uid)
{
    std::vector<std::string> found;
    for (const auto &pid : proc_pids()) {
        std::istringstream ids(proc_status_field(pid, "Uid"));
        uid_t real = 0, effective = 0, saved = 0;
        if (ids >> real >> effective >> saved && (real == uid || effective == uid || saved == uid))
            found.push_back(pid + " " + proc_status_field(pid, "State"));
    }
    return found;
}

// The children of `parent` that ended and were not waited for.
inline std::vector<std::string> zombie_children(pid_t parent)
{
    std::vector<std::string> found;
    std::string want = std::to_string(parent);
    for (const auto &pid : proc_pids()) {
        std::istringstream ppid(proc_status_field(pid, "PPid"));
        std::string got;
        ppid >> got;
        if (got == want && proc_status_field(pid, "State").find('Z') != std::string::npos)
            found.push_back(pid);
    }
    return found;
}

} // namespace berth::test
