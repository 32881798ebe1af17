// The reconciler thread of `serve` (#15): every [edges] sync_interval_ms it brings each edge
// to the expected route table (EdgeSync::sync_all); while an edge is down or behind it looks
// again every 250 ms, so an edge that comes back is brought up to date at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "control/config/control_config.h"

namespace berth::control
{

class Db;

class EdgeReconciler
{
public:
    EdgeReconciler(const ControlConfig &config, Db &db) : config_(config), db_(db) {}
    ~EdgeReconciler() { stop(); }
    EdgeReconciler(const EdgeReconciler &) = delete;
    EdgeReconciler &operator=(const EdgeReconciler &) = delete;

    void start(); // no-op without configured edges
    void stop();  // joins; a pass in progress finishes first (each call is bounded)

private:
    void loop();

    const ControlConfig &config_;
    Db &db_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, std::string> last_state_; // socket → last logged state
    std::string last_publish_error_;
    std::string last_files_error_; // logged when it changes
};

} // namespace berth::control
