// The operator's command-line client for the admin socket.
#pragma once

#include <string>
#include <vector>

namespace berth::edge
{

// `berth-edge admin [--socket PATH | --config FILE] COMMAND [JSON | @FILE]`: sends one request,
// prints the reply. Exit 0 when the reply says ok, 1 when it does not, 2 on usage or I/O errors.
int run_admin_client(const std::vector<std::string> &args);

} // namespace berth::edge
