#include "tests/support/shell_command.h"

#include <sys/wait.h>

#include <cstdio>

namespace berth::test
{

ShellResult run_shell(const std::string &command_line)
{
    ShellResult r;
    FILE *p = popen(command_line.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        r.out.append(buf, n);
    int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

} // namespace berth::test
