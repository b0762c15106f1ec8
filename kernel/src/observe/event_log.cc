#include "observe/event_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "http/status.h"

namespace gatehouse::observe {
namespace {

constexpr size_t kMaxQueued = 10000;

const char* levelName(Level l) {
    switch (l) {
        case Level::kDebug:
            return "debug";
        case Level::kInfo:
            return "info";
        case Level::kWarn:
            return "warn";
        case Level::kError:
            return "error";
    }
    return "info";
}

void appendTime(std::string& out) {
    const auto now = std::chrono::system_clock::now();
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    out += buf;
}

}  // namespace

Level EventLog::parseLevel(std::string_view s) {
    if (s == "debug") return Level::kDebug;
    if (s == "warn") return Level::kWarn;
    if (s == "error") return Level::kError;
    return Level::kInfo;
}

EventLog::EventLog(std::string target, Level minLevel)
    : target_(std::move(target)), minLevel_(minLevel) {
    openTarget();
    writer_ = std::thread([this] { run(); });
}

EventLog::~EventLog() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    writer_.join();
    if (ownsFd_) ::close(fd_);
}

void EventLog::openTarget() {
    if (target_ == "stderr") {
        fd_ = 2;
        ownsFd_ = false;
    } else if (target_ == "stdout") {
        fd_ = 1;
        ownsFd_ = false;
    } else {
        const int fd = ::open(target_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd >= 0) {
            if (ownsFd_) ::close(fd_);
            fd_ = fd;
            ownsFd_ = true;
        } else if (!ownsFd_) {
            fd_ = 2;  // cannot open: keep reporting somewhere
        }
    }
}

void EventLog::emit(Level level, std::string_view event,
                    std::initializer_list<std::pair<std::string_view, Field>> fields) {
    if (level < minLevel_) return;
    std::string line;
    line.reserve(128);
    line += "{\"time\":\"";
    appendTime(line);
    line += "\",\"level\":\"";
    line += levelName(level);
    line += "\",\"event\":";
    http::appendJsonString(line, event);
    for (const auto& [key, value] : fields) {
        line.push_back(',');
        http::appendJsonString(line, key);
        line.push_back(':');
        std::visit(
            [&line](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::string_view>)
                    http::appendJsonString(line, v);
                else if constexpr (std::is_same_v<T, bool>)
                    line += v ? "true" : "false";
                else
                    line += std::to_string(v);
            },
            value);
    }
    line += "}\n";
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= kMaxQueued) {
            ++dropped_;
            return;
        }
        queue_.push_back(std::move(line));
    }
    wake_.notify_one();
}

void EventLog::reopen() {
    {
        std::lock_guard lock(mutex_);
        reopen_ = true;
    }
    wake_.notify_one();
}

void EventLog::flush() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

uint64_t EventLog::dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
}

void EventLog::run() {
    std::deque<std::string> batch;
    for (;;) {
        bool doReopen = false;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stop_ || reopen_ || !queue_.empty(); });
            if (queue_.empty() && !reopen_ && stop_) break;
            batch.swap(queue_);
            doReopen = reopen_;
            reopen_ = false;
            writing_ = true;
        }
        if (doReopen) openTarget();
        for (const auto& line : batch) {
            size_t off = 0;
            while (off < line.size()) {
                const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
                if (n <= 0) break;  // a log that cannot be written must not stop the gateway
                off += static_cast<size_t>(n);
            }
        }
        batch.clear();
        {
            std::lock_guard lock(mutex_);
            writing_ = false;
        }
        idle_.notify_all();
    }
    idle_.notify_all();
}

}  // namespace gatehouse::observe
