#pragma once

#include <Poco/Net/ServerSocket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "config/snapshot.h"
#include "net/event_loop.h"
#include "observe/event_log.h"
#include "observe/request_id.h"
#include "proxy/http_date.h"
#include "router/regex.h"
#include "upstream/pool.h"

namespace gatehouse::proxy {

class ClientConnection;

/// Counters a worker publishes for the control side (relaxed atomics, written by the worker).
struct WorkerStats {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> connectionsAccepted{0};
    std::atomic<int64_t> connectionsOpen{0};
};

/// One data-plane thread: an event loop, its own SO_REUSEPORT listener, its client
/// connections and its upstream connection pools. Nothing here is shared with other workers
/// except the snapshot holder (read) and the target states (atomic counters).
class Worker {
  public:
    Worker(unsigned index, Poco::Net::ServerSocket listener, config::SnapshotHolder& snapshots,
           observe::EventLog& log);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    void start();
    /// Thread-safe: stop accepting, finish in-flight requests, close idle connections; the
    /// loop ends when no connection is left or after `timeoutMs` (then closes the rest).
    void beginDrain(uint32_t timeoutMs);
    void join();

    // Worker thread only.
    net::EventLoop& loop() { return loop_; }
    upstream::ConnectionPool& pool() { return pool_; }
    const std::shared_ptr<const config::Snapshot>& snapshot();
    observe::RequestIdGenerator& ids() { return ids_; }
    router::RegexScratch& regexScratch() { return regex_; }
    HttpDate& date() { return date_; }
    observe::EventLog& log() { return log_; }
    unsigned index() const { return index_; }
    bool draining() const { return draining_; }
    const std::string& listenerPort() const { return port_; }
    void connectionClosed(ClientConnection* c);

    WorkerStats& stats() { return stats_; }

  private:
    class Acceptor;
    void acceptAll();
    void finishDrain();

    unsigned index_;
    Poco::Net::ServerSocket listener_;
    config::SnapshotHolder& snapshots_;
    observe::EventLog& log_;
    std::string port_;

    net::EventLoop loop_;
    upstream::ConnectionPool pool_;
    std::unique_ptr<Acceptor> acceptor_;
    observe::RequestIdGenerator ids_;
    router::RegexScratch regex_;
    HttpDate date_;
    std::shared_ptr<const config::Snapshot> snapshot_;
    uint64_t generation_ = ~0ull;

    ClientConnection* connections_ = nullptr;  // intrusive list, owned
    bool draining_ = false;
    bool listening_ = true;
    net::Timer drainTimer_;
    WorkerStats stats_;
    std::thread thread_;
};

}  // namespace gatehouse::proxy
