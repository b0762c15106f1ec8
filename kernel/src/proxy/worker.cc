#include "proxy/worker.h"

#include <Poco/Exception.h>

#include <algorithm>
#include <utility>

#include "net/listener.h"
#include "proxy/client_connection.h"
#include "proxy/plugin_runner.h"

namespace gatehouse::proxy {

/// The listener's readiness handler: accepts until the queue is empty.
class Worker::Acceptor final : public net::IoHandler {
public:
    explicit Acceptor(Worker& w) : worker_(w) {}
    void onIo(uint32_t) override { worker_.acceptAll(); }

private:
    Worker& worker_;
};

Worker::Worker(unsigned index, Poco::Net::ServerSocket listener, config::SnapshotHolder& snapshots,
               observe::EventLog& log, observe::SpanExporter* spans)
    : index_(index),
      listener_(std::move(listener)),
      snapshots_(snapshots),
      log_(log),
      spans_(spans && spans->enabled() ? spans : nullptr),
      port_(std::to_string(listener_.address().port())),
      poster_(std::make_shared<LoopPoster>(&loop_)),
      plugins_(std::make_unique<PluginRunner>(log)),
      pool_(loop_),
      acceptor_(std::make_unique<Acceptor>(*this)),
      drainTimer_([this] { finishDrain(); }) {
    loop_.setErrorHook([this](const char* what) {
        log_.emit(observe::Level::kError, "worker_error",
                  {{"worker", static_cast<uint64_t>(index_)}, {"error", std::string_view(what)}});
    });
    // Level-triggered: accepting stops at kMaxAcceptBatch and resumes next iteration.
    if (!loop_.add(listener_.impl()->sockfd(), acceptor_.get(), EPOLLIN))
        throw std::runtime_error("cannot register listener");
}

Worker::~Worker() {
    poster_->detach();  // a late plugin resume now finds no loop
    if (thread_.joinable()) {
        loop_.stop();
        thread_.join();
    }
    while (connections_)
        connections_->closeNow();
    pool_.closeAll();
}

void Worker::start() {
    thread_ = std::thread([this] { loop_.run(); });
}

void Worker::join() {
    if (thread_.joinable()) thread_.join();
}

const config::Snapshot& Worker::snapshot() {
    const uint64_t g = snapshots_.generation();
    if (g != generation_) {
        generation_ = g;
        if (current_ && current_->users > 0) retired_.push_back(std::move(current_));
        if (!current_) current_ = std::make_unique<PinnedSnapshot>();
        retireSnapshot(std::exchange(current_->snapshot, snapshots_.current()));
    }
    return *current_->snapshot;
}

SnapshotRef Worker::pinSnapshot() {
    snapshot();
    return SnapshotRef(this, current_.get());
}

void Worker::unpin(PinnedSnapshot* pin) {
    if (--pin->users > 0 || pin == current_.get()) return;
    // The last request on a replaced snapshot ended: let it go, but never destroy it here.
    auto it = std::find_if(retired_.begin(), retired_.end(),
                           [pin](const auto& p) { return p.get() == pin; });
    if (it == retired_.end()) return;
    retireSnapshot(std::move((*it)->snapshot));
    retired_.erase(it);
}

void Worker::retireSnapshot(std::shared_ptr<const config::Snapshot> s) {
    // use_count() == 1: nothing else (the holder, another worker) can reach it any more, so
    // this worker would run its destructor. Hand it to the control side instead.
    if (s && s.use_count() == 1) snapshots_.retire(std::move(s));
}

SnapshotRef::SnapshotRef(Worker* worker, PinnedSnapshot* pin) : worker_(worker), pin_(pin) {
    ++pin_->users;
}

SnapshotRef& SnapshotRef::operator=(SnapshotRef&& o) noexcept {
    if (this != &o) {
        reset();
        worker_ = o.worker_;
        pin_ = o.pin_;
        o.pin_ = nullptr;
    }
    return *this;
}

void SnapshotRef::reset() {
    if (pin_) worker_->unpin(pin_);
    pin_ = nullptr;
}

void Worker::acceptAll() {
    constexpr int kMaxAcceptBatch = 64;  // fairness: do not starve existing connections
    for (int i = 0; i < kMaxAcceptBatch && listening_; ++i) {
        Poco::Net::SocketAddress peer;
        int error = 0;
        auto socket = net::acceptNonBlocking(listener_, &peer, &error);
        if (!socket) {
            if (error)
                log_.emit(observe::Level::kWarn, "accept_failed",
                          {{"worker", static_cast<uint64_t>(index_)},
                           {"errno", static_cast<int64_t>(error)}});
            return;
        }
        auto conn = std::make_unique<ClientConnection>(*this, std::move(*socket), peer);
        if (!conn->start()) continue;  // destroyed here: its socket closes
        ClientConnection* c = conn.release();
        c->next = connections_;
        if (connections_) connections_->prev = c;
        connections_ = c;
        WorkerStats::add(stats_.connectionsAccepted, uint64_t{1});
        WorkerStats::add(stats_.connectionsOpen, int64_t{1});
    }
}

void Worker::connectionClosed(ClientConnection* c) {
    if (c->prev) c->prev->next = c->next;
    if (c->next) c->next->prev = c->prev;
    if (connections_ == c) connections_ = c->next;
    c->prev = c->next = nullptr;
    WorkerStats::add(stats_.connectionsOpen, int64_t{-1});
    loop_.destroyLater(std::unique_ptr<net::IoHandler>(c));
    if (draining_ && !connections_) loop_.stop();
}

void Worker::beginDrain(uint32_t timeoutMs) {
    loop_.post([this, timeoutMs] {
        if (draining_) return;
        draining_ = true;
        listening_ = false;
        loop_.remove(listener_.impl()->sockfd());
        try {
            listener_.close();
        } catch (const Poco::Exception&) {
        }
        for (ClientConnection* c = connections_; c;) {
            ClientConnection* next = c->next;
            c->drain();
            c = next;
        }
        pool_.closeAll();
        if (!connections_) {
            loop_.stop();
            return;
        }
        loop_.timers().arm(drainTimer_, loop_.nowMs() + timeoutMs);
    });
}

void Worker::finishDrain() {
    // Drain deadline: whatever is still in flight is cut.
    if (connections_)
        log_.emit(observe::Level::kWarn, "drain_timeout",
                  {{"worker", static_cast<uint64_t>(index_)},
                   {"connections", static_cast<int64_t>(stats_.connectionsOpen.load())}});
    while (connections_)
        connections_->closeNow();
    loop_.stop();
}

}  // namespace gatehouse::proxy
