// A throwaway PostgreSQL cluster for tests: initdb into a temp dir, postgres on a free
// loopback port, stopped by its PID and removed in the destructor.
#pragma once

#include <functional>
#include <string>
#include <sys/types.h>

namespace berth::test
{

// Binaries come from /usr/lib/postgresql/15/bin (override with $BERTH_PG_BIN). When the tests
// run as root, initdb and postgres run as the `postgres` user (they refuse root).
class PgInstance
{
public:
    PgInstance();  // initdb + start; throws std::runtime_error with the server log on failure
    ~PgInstance(); // stop + remove the directory
    PgInstance(const PgInstance &) = delete;
    PgInstance &operator=(const PgInstance &) = delete;

    void start(); // (re)starts on the same port and data directory; waits until it accepts
    void stop();  // fast shutdown by PID; waits for the process to exit
    bool running() const noexcept { return pid_ > 0; }

    int port() const noexcept { return port_; }
    // postgresql://berth@127.0.0.1:PORT/postgres (berth is the superuser; trust auth).
    std::string url() const;
    const std::string &dir() const noexcept { return dir_; }

private:
    std::string dir_;
    std::string bin_;
    int port_ = 0;
    pid_t pid_ = -1;
};

// A free TCP port on 127.0.0.1 (bound to port 0 and released).
int free_loopback_port();

// Picks a free port and runs start(); another process may take the port between the pick and
// the bind, so up to three ports are tried. On final failure dir is removed and the error
// rethrown.
void start_on_free_port(int &port, const std::function<void()> &start, const std::string &dir);

// A new empty directory /tmp/<prefix>-XXXXXX.
std::string make_temp_dir(const char *prefix);

// Removes a directory tree (best effort).
void remove_tree(const std::string &dir);

} // namespace berth::test
