#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <variant>

namespace gatehouse::observe {

enum class Level { kDebug, kInfo, kWarn, kError };

/// A value in an event line.
using Field = std::variant<std::string_view, int64_t, uint64_t, bool>;

/// The gateway's own event log: one JSON object per line ({"time":..., "level":...,
/// "event":..., fields...}), separate from access logs. Lines are formatted by the caller
/// and written by a background thread, so a worker never blocks on a file or a terminal; if
/// the writer falls behind, lines are dropped and counted rather than waited for.
class EventLog {
public:
    /// `target`: "stderr", "stdout" or a file path (appended to, created 0640).
    EventLog(std::string target, Level minLevel);
    ~EventLog();
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    void emit(Level level, std::string_view event,
              std::initializer_list<std::pair<std::string_view, Field>> fields = {});
    /// Reopens a file target (SIGUSR1, after log rotation).
    void reopen();
    /// Waits until every queued line is written.
    void flush();
    uint64_t dropped() const;
    bool enabled(Level level) const { return level >= minLevel_; }

    static Level parseLevel(std::string_view s);

private:
    void run();
    void openTarget();

    std::string target_;
    Level minLevel_;
    int fd_ = 2;
    bool ownsFd_ = false;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable idle_;
    std::deque<std::string> queue_;
    bool stop_ = false;
    bool writing_ = false;
    bool reopen_ = false;
    uint64_t dropped_ = 0;
    std::thread writer_;
};

}  // namespace gatehouse::observe
