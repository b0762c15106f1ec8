#pragma once

#include <Poco/Net/ServerSocket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/snapshot.h"
#include "net/event_loop.h"
#include "observe/event_log.h"
#include "observe/request_id.h"
#include "observe/span_exporter.h"
#include "proxy/http_date.h"
#include "router/regex.h"
#include "upstream/pool.h"

namespace gatehouse::proxy {

class ClientConnection;
class PluginRunner;
class Worker;

/// Posts tasks to a worker's loop from any thread, safely after the worker is gone (a plugin
/// may call resume() at any time): then the task is dropped.
class LoopPoster {
public:
    explicit LoopPoster(net::EventLoop* loop) : loop_(loop) {}
    void post(std::function<void()> task) {
        std::lock_guard lock(mutex_);
        if (loop_) loop_->post(std::move(task));
    }
    void detach() {
        std::lock_guard lock(mutex_);
        loop_ = nullptr;
    }

private:
    std::mutex mutex_;
    net::EventLoop* loop_;
};

/// A worker's hold on one snapshot. Requests pin it through this worker-local count, so a
/// request costs no atomic operation on a reference count shared by all workers.
struct PinnedSnapshot {
    std::shared_ptr<const config::Snapshot> snapshot;
    uint32_t users = 0;
};

/// A request's pin on the snapshot it started with. Worker thread only; move-only.
class SnapshotRef {
public:
    SnapshotRef() = default;
    SnapshotRef(Worker* worker, PinnedSnapshot* pin);
    SnapshotRef(SnapshotRef&& o) noexcept : worker_(o.worker_), pin_(o.pin_) { o.pin_ = nullptr; }
    SnapshotRef& operator=(SnapshotRef&& o) noexcept;
    SnapshotRef(const SnapshotRef&) = delete;
    SnapshotRef& operator=(const SnapshotRef&) = delete;
    ~SnapshotRef() { reset(); }

    void reset();
    explicit operator bool() const { return pin_ != nullptr; }
    const config::Snapshot& operator*() const { return *pin_->snapshot; }
    const config::Snapshot* operator->() const { return pin_->snapshot.get(); }

private:
    Worker* worker_ = nullptr;
    PinnedSnapshot* pin_ = nullptr;
};

/// Counters a worker publishes for the control side (relaxed atomics, written by the worker).
/// The worker is the only writer, so updates are plain loads and stores (no locked
/// instruction on the data plane); readers see values at most one update old.
struct WorkerStats {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> connectionsAccepted{0};
    std::atomic<int64_t> connectionsOpen{0};
    std::atomic<int64_t> requestsInFlight{0};  // connections with a request under way

    template <class T>
    static void add(std::atomic<T>& a, T d) {
        a.store(a.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
    }
};

/// One data-plane thread: an event loop, its own SO_REUSEPORT listener, its client
/// connections and its upstream connection pools. Nothing here is shared with other workers
/// except the snapshot holder (read) and the target states (atomic counters).
class Worker {
public:
    /// `spans` (may be null) receives the sampled requests' spans.
    Worker(unsigned index, Poco::Net::ServerSocket listener, config::SnapshotHolder& snapshots,
           observe::EventLog& log, observe::SpanExporter* spans = nullptr);
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
    /// The current snapshot, for reads that end before the event does.
    const config::Snapshot& snapshot();
    /// The current snapshot, pinned for a request's lifetime.
    SnapshotRef pinSnapshot();
    void unpin(PinnedSnapshot* pin);
    void retireSnapshot(std::shared_ptr<const config::Snapshot> s);
    observe::RequestIdGenerator& ids() { return ids_; }
    router::RegexScratch& regexScratch() { return regex_; }
    HttpDate& date() { return date_; }
    observe::EventLog& log() { return log_; }
    /// The span exporter when export is on, else null.
    observe::SpanExporter* spans() { return spans_; }
    unsigned index() const { return index_; }
    bool draining() const { return draining_; }
    const std::string& listenerPort() const { return port_; }
    PluginRunner& plugins() { return *plugins_; }
    const std::shared_ptr<LoopPoster>& poster() const { return poster_; }
    void connectionClosed(ClientConnection* c);

    WorkerStats& stats() { return stats_; }
    /// Idle keep-alive connections in this worker's upstream pool (any thread).
    int64_t idleUpstreamConnections() const { return pool_.idleGauge(); }

private:
    class Acceptor;
    void acceptAll();
    void finishDrain();

    unsigned index_;
    Poco::Net::ServerSocket listener_;
    config::SnapshotHolder& snapshots_;
    observe::EventLog& log_;
    observe::SpanExporter* spans_;
    std::string port_;

    net::EventLoop loop_;
    std::shared_ptr<LoopPoster> poster_;
    std::unique_ptr<PluginRunner> plugins_;
    upstream::ConnectionPool pool_;
    std::unique_ptr<Acceptor> acceptor_;
    observe::RequestIdGenerator ids_;
    router::RegexScratch regex_;
    HttpDate date_;
    std::unique_ptr<PinnedSnapshot> current_;
    std::vector<std::unique_ptr<PinnedSnapshot>> retired_;  // older snapshots still pinned
    uint64_t generation_ = ~0ull;

    ClientConnection* connections_ = nullptr;  // intrusive list, owned
    bool draining_ = false;
    bool listening_ = true;
    net::Timer drainTimer_;
    WorkerStats stats_;
    std::thread thread_;
};

}  // namespace gatehouse::proxy
