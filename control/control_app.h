// The berth-control subcommands as functions (main.cc only maps argv to these).
#pragma once

#include <string>

#include "control/config/control_config.h"

namespace berth::control
{

// `migrate`: applies pending migrations; prints each applied name, or "up to date".
int run_migrate(const ControlConfig &config);

// `token create --user NAME [--admin]`: prints the token alone on the last line of stdout.
int run_token_create(const ControlConfig &config, const std::string &user, bool admin);

// `token revoke --user NAME`: deletes every token of the user; prints how many.
int run_token_revoke(const ControlConfig &config, const std::string &user);

// `audit verify`: exit 0 and "audit log OK: N rows"; exit 1 naming the first broken row.
int run_audit_verify(const ControlConfig &config);

// `serve`: API + pipeline workers until SIGINT/SIGTERM. Prints
// "berth-control: listening on HOST:PORT" (the bound port, so tests may listen on :0).
int run_serve(const ControlConfig &config);

} // namespace berth::control
