// berth-control CLI: argv → subcommand; config errors print `file:line: message` and exit 2.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "control/control_app.h"
#include "control/store/db.h"

using namespace berth::control;

namespace
{

int usage()
{
    std::fprintf(stderr,
                 "usage: berth-control --config FILE COMMAND\n"
                 "  serve                          API and pipeline workers\n"
                 "  migrate                        apply pending database migrations\n"
                 "  token create --user NAME [--admin]\n"
                 "                                 print a new API token (last line of stdout)\n"
                 "  token revoke --user NAME       delete every token of a user\n"
                 "  audit verify                   check the audit log's hash chain\n");
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    std::string config_path = "conf/control.toml";
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[++i];
        else if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h"))
            return usage(), 0;
        else
            args.emplace_back(argv[i]);
    }
    if (args.empty()) return usage();
    try {
        ControlConfig config = load_control_config(config_path);
        if (args[0] == "serve" && args.size() == 1) return run_serve(config);
        if (args[0] == "migrate" && args.size() == 1) return run_migrate(config);
        if (args[0] == "audit" && args.size() == 2 && args[1] == "verify")
            return run_audit_verify(config);
        if (args[0] == "token" && args.size() == 4 && args[1] == "revoke" && args[2] == "--user")
            return run_token_revoke(config, args[3]);
        if (args[0] == "token" && args.size() >= 2 && args[1] == "create") {
            std::string user;
            bool admin = false;
            for (size_t i = 2; i < args.size(); ++i) {
                if (args[i] == "--user" && i + 1 < args.size())
                    user = args[++i];
                else if (args[i] == "--admin")
                    admin = true;
                else
                    return usage();
            }
            if (user.empty()) return usage();
            // The users table's own rule, said plainly rather than as a constraint error.
            if (user.size() > 100 || user.find_first_of(std::string("\0\n\r", 3)) != user.npos) {
                std::fprintf(stderr, "berth-control: --user must be 1 to 100 characters, without "
                                     "line breaks or NUL\n");
                return 2;
            }
            return run_token_create(config, user, admin);
        }
        return usage();
    } catch (const ConfigError &e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 2;
    } catch (const DbUnavailable &e) {
        std::fprintf(stderr, "berth-control: %s\n", e.what());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "berth-control: %s\n", e.what());
        return 1;
    }
}
