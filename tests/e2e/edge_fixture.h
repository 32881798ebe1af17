// The shared end-to-end fixture: one deployments tree and one berth-edge serving it in quick
// mode plus a route table, reused by the static tests (starting a process per test is slow).
#pragma once

#include <memory>
#include <string>

#include "tests/support/edge_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_tree.h"

namespace berth::test
{

struct EdgeFixture {
    TempTree tree;
    std::unique_ptr<EdgeProcess> edge;
    std::string big;  // > small_file_bytes, goes out by sendfile
    std::string huge; // > 1 MiB: its ETag is hashed on the threadpool

    int port() const { return edge->port(); }
};

// Builds the tree once and starts the edge on first use.
EdgeFixture &edge_fixture();

// Writes conf text to a file in the tree and returns its path.
std::string write_config(const TempTree &tree, const std::string &name, const std::string &toml);

} // namespace berth::test
