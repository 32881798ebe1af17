// Runs a shell command line and collects what it prints, for tests of command-line behaviour
// (exit codes and messages). Add "2>&1" to the line to collect stderr too.
#pragma once

#include <string>

namespace berth::test
{

struct ShellResult {
    int exit_code = -1; // -1: killed by a signal
    std::string out;
};

ShellResult run_shell(const std::string &command_line);

} // namespace berth::test
