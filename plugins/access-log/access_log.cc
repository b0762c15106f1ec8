// access-log: one line per request, in `combined`, `json` or a custom template, to stdout or
// a file (reopened when the operator sends SIGUSR1, e.g. from logrotate).
//
// A worker never blocks on logging: on_log formats the line and appends it to one of a few
// shard buffers under a mutex held for a memcpy; a writer thread of the instance swaps the
// buffers out and writes them. A shard that is full (the disk or pipe is slower than the
// traffic) drops the line, and dropped lines are counted (metric
// access_log_dropped_lines_total) and reported in the event log, never waited for.
//
//   {"format": "json", "path": "/var/log/gatehouse/access.log"}
//   {"format": "template", "template": "$client_ip $method $path $status $total_ms"}

#include <fcntl.h>
#include <unistd.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <gatehouse/plugin.hpp>

#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "auth_common.h"

namespace {

using gatehouse::Request;

constexpr const char* kSchema = R"JSON({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "format": {"enum": ["combined", "json", "template"], "default": "json"},
    "template": {"type": "string", "minLength": 1, "maxLength": 2048,
                 "description": "With format template: text with $variables (see the README)"},
    "path": {"type": "string", "minLength": 1, "maxLength": 4096, "default": "stdout",
             "description": "stdout, or a file appended to (created 0640)"},
    "buffer_bytes": {"type": "integer", "minimum": 4096, "maximum": 67108864, "default": 1048576,
                     "description": "Per shard; lines that do not fit are dropped and counted"},
    "flush_interval_ms": {"type": "integer", "minimum": 10, "maximum": 10000, "default": 200}
  }
})JSON";

/// What a line is made of: the request, its progress (request_info) and the time it ended.
struct Fields {
    Request& r;
    const gh_request_info& info;
    std::string_view consumer;
};

void appendJsonEscaped(std::string& out, std::string_view s) {
    gatehouse::auth::appendJsonString(out, s);
}

/// nginx's escaping for text formats: '"', '\' and bytes outside printable ASCII as \xHH.
void appendTextEscaped(std::string& out, std::string_view s) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    if (s.empty()) {
        out += '-';
        return;
    }
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        } else {
            out += ch;
        }
    }
}

void appendMs(std::string& out, int64_t us) {
    if (us < 0) {
        out += '-';
        return;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(us / 1000),
                  static_cast<long long>(us % 1000));
    out += buf;
}

void appendIsoTime(std::string& out, int64_t unixUs) {
    const std::time_t secs = static_cast<std::time_t>(unixUs / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>((unixUs / 1000) % 1000));
    out += buf;
}

void appendCombinedTime(std::string& out, int64_t unixUs) {
    const std::time_t secs = static_cast<std::time_t>(unixUs / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    out += buf;
}

int64_t gatewayUs(const gh_request_info& i) {
    return i.upstream_us >= 0 ? i.total_us - i.upstream_us : i.total_us;
}

std::string_view view(gh_str s) {
    return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view();
}

/// A custom template, compiled once: literal text and variables.
class Template {
public:
    using Piece = std::function<void(std::string&, const Fields&)>;

    explicit Template(std::string_view text) {
        std::string literal;
        for (size_t i = 0; i < text.size();) {
            if (text[i] != '$') {
                literal += text[i++];
                continue;
            }
            size_t j = i + 1;
            while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) ||
                                       text[j] == '_' || text[j] == '-'))
                ++j;
            const std::string_view name = text.substr(i + 1, j - i - 1);
            if (name.empty()) throw std::runtime_error("template: '$' without a variable name");
            if (!literal.empty()) {
                pieces_.push_back([lit = literal](std::string& out, const Fields&) { out += lit; });
                literal.clear();
            }
            pieces_.push_back(variable(name));
            i = j;
        }
        if (!literal.empty())
            pieces_.push_back([lit = literal](std::string& out, const Fields&) { out += lit; });
    }

    void render(std::string& out, const Fields& f) const {
        for (const auto& p : pieces_)
            p(out, f);
    }

private:
    static Piece variable(std::string_view name) {
        auto text = [](auto get) {
            return [get](std::string& out, const Fields& f) { appendTextEscaped(out, get(f)); };
        };
        if (name == "time")
            return [](std::string& o, const Fields& f) { appendIsoTime(o, f.info.start_unix_us); };
        if (name == "request_id") return text([](const Fields& f) { return f.r.requestId(); });
        if (name == "client_ip") return text([](const Fields& f) { return f.r.clientAddress(); });
        if (name == "method") return text([](const Fields& f) { return f.r.method(); });
        if (name == "path") return text([](const Fields& f) { return f.r.path(); });
        if (name == "query") return text([](const Fields& f) { return f.r.query(); });
        if (name == "route") return text([](const Fields& f) { return f.r.routeName(); });
        if (name == "consumer") return text([](const Fields& f) { return f.consumer; });
        if (name == "upstream")
            return text([](const Fields& f) { return view(f.info.upstream_address); });
        if (name == "user_agent")
            return text([](const Fields& f) {
                return f.r.requestHeader("User-Agent").value_or(std::string_view());
            });
        auto number = [](auto get) {
            return [get](std::string& out, const Fields& f) { out += std::to_string(get(f)); };
        };
        if (name == "status") return number([](const Fields& f) { return f.r.status(); });
        if (name == "upstream_status")
            return number([](const Fields& f) { return f.info.upstream_status; });
        if (name == "bytes_in") return number([](const Fields& f) { return f.info.bytes_in; });
        if (name == "bytes_out") return number([](const Fields& f) { return f.info.bytes_out; });
        if (name == "total_ms")
            return [](std::string& o, const Fields& f) { appendMs(o, f.info.total_us); };
        if (name == "upstream_ms")
            return [](std::string& o, const Fields& f) { appendMs(o, f.info.upstream_us); };
        if (name == "gateway_ms")
            return [](std::string& o, const Fields& f) { appendMs(o, gatewayUs(f.info)); };
        if (name.substr(0, 5) == "http_" && name.size() > 5) {
            std::string header(name.substr(5));
            for (char& c : header)
                if (c == '_') c = '-';
            return [header](std::string& out, const Fields& f) {
                appendTextEscaped(out, f.r.requestHeader(header).value_or(std::string_view()));
            };
        }
        throw std::runtime_error("template: unknown variable $" + std::string(name));
    }

    std::vector<Piece> pieces_;
};

/// Lines waiting for the writer, in shards so that workers rarely share a lock.
class Buffers {
public:
    explicit Buffers(size_t capacity) : capacity_(capacity) {}

    /// Appends `line`; false when its shard is full (the line is dropped).
    bool append(std::string_view line) {
        Shard& s = shards_[shardIndex()];
        std::lock_guard lock(s.mutex);
        if (s.data.size() + line.size() > capacity_) return false;
        s.data.append(line);
        return true;
    }
    /// Moves every shard's lines into `out` (which the caller writes).
    void takeAll(std::string& out) {
        for (Shard& s : shards_) {
            std::lock_guard lock(s.mutex);
            out.append(s.data);
            s.data.clear();
        }
    }

private:
    static constexpr size_t kShards = 8;
    struct alignas(64) Shard {
        std::mutex mutex;
        std::string data;
    };
    static size_t shardIndex() {
        static std::atomic<size_t> next{0};
        thread_local const size_t index = next.fetch_add(1) % kShards;
        return index;
    }
    const size_t capacity_;
    std::array<Shard, kShards> shards_;
};

class AccessLog final : public gatehouse::Plugin {
public:
    AccessLog(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance), buffers_(bufferBytes(config)) {
        if (!hostHasFeatures(GH_FEATURE_REQUEST_INFO))
            throw std::runtime_error("this gateway has no request_info (plugin ABI 1.2)");
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();
        const std::string format = o->optValue<std::string>("format", "json");
        if (format == "template") {
            if (!o->has("template")) throw std::runtime_error("format template needs a template");
            template_ = std::make_unique<Template>(o->getValue<std::string>("template"));
        } else if (o->has("template")) {
            throw std::runtime_error("template is only read with format template");
        }
        json_ = format == "json";
        path_ = o->optValue<std::string>("path", "stdout");
        flushInterval_ = std::chrono::milliseconds(o->optValue<int>("flush_interval_ms", 200));
        if (path_ != "stdout") {
            fd_ = open();
            if (fd_ < 0)
                throw std::runtime_error("cannot open " + path_ + ": " + std::strerror(errno));
        }
        dropped_ = defineCounter("access_log_dropped_lines_total",
                                 "Access log lines dropped: buffer full or write failed");
        generation_ = reopenGeneration();
        writer_ = std::thread([this] { writeLoop(); });
    }

    ~AccessLog() override {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        writer_.join();  // writes what is buffered first
        if (fd_ >= 0) ::close(fd_);
    }

    void onLog(Request& r, void**) override {
        const auto info = r.info();
        if (!info) return;
        thread_local std::string line;
        line.clear();
        // The consumer by username when it is a configured one (ids are for machines).
        std::string_view consumer = r.consumerId();
        std::optional<gatehouse::Consumer> configured;
        if (!consumer.empty() && (configured = r.consumer())) consumer = configured->username;
        const Fields f{r, *info, consumer};
        if (template_)
            template_->render(line, f);
        else if (json_)
            renderJson(line, f);
        else
            renderCombined(line, f);
        line += '\n';
        if (!buffers_.append(line)) {
            dropped_.add(1);
            droppedSinceReport_.fetch_add(1);
        }
    }

private:
    static size_t bufferBytes(std::string_view config) {
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();
        return static_cast<size_t>(o->optValue<int>("buffer_bytes", 1 << 20));
    }

    int open() const {
        return ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    }

    static void renderJson(std::string& out, const Fields& f) {
        out += "{\"time\":\"";
        appendIsoTime(out, f.info.start_unix_us);
        out += "\",\"request_id\":";
        appendJsonEscaped(out, f.r.requestId());
        out += ",\"client_ip\":";
        appendJsonEscaped(out, f.r.clientAddress());
        out += ",\"method\":";
        appendJsonEscaped(out, f.r.method());
        out += ",\"path\":";
        appendJsonEscaped(out, f.r.path());
        out += ",\"status\":" + std::to_string(f.r.status());
        out += ",\"bytes_in\":" + std::to_string(f.info.bytes_in);
        out += ",\"bytes_out\":" + std::to_string(f.info.bytes_out);
        out += ",\"route\":";
        appendJsonEscaped(out, f.r.routeName());
        out += ",\"upstream\":";
        appendJsonEscaped(out, view(f.info.upstream_address));
        out += ",\"upstream_status\":" + std::to_string(f.info.upstream_status);
        out += ",\"consumer\":";
        appendJsonEscaped(out, f.consumer);
        out += ",\"total_ms\":";
        appendMs(out, f.info.total_us);
        out += ",\"upstream_ms\":";
        if (f.info.upstream_us >= 0)
            appendMs(out, f.info.upstream_us);
        else
            out += "null";
        out += ",\"gateway_ms\":";
        appendMs(out, gatewayUs(f.info));
        out += ",\"user_agent\":";
        appendJsonEscaped(out, f.r.requestHeader("User-Agent").value_or(std::string_view()));
        out += '}';
    }

    /// NCSA combined: host ident user [time] "request" status bytes "referer" "user-agent".
    /// The user is the authenticated consumer; bytes are all bytes sent (head included).
    static void renderCombined(std::string& out, const Fields& f) {
        appendTextEscaped(out, f.r.clientAddress());
        out += " - ";
        appendTextEscaped(out, f.consumer);
        out += " [";
        appendCombinedTime(out, f.info.start_unix_us);
        out += "] \"";
        appendTextEscaped(out, f.r.method());
        out += ' ';
        appendTextEscaped(out, f.r.path());
        if (!f.r.query().empty()) {
            out += '?';
            appendTextEscaped(out, f.r.query());
        }
        out += " HTTP/1.1\" " + std::to_string(f.r.status()) + ' ' +
               std::to_string(f.info.bytes_out) + " \"";
        appendTextEscaped(out, f.r.requestHeader("Referer").value_or(std::string_view()));
        out += "\" \"";
        appendTextEscaped(out, f.r.requestHeader("User-Agent").value_or(std::string_view()));
        out += '"';
    }

    void writeLoop() {
        std::string batch;
        auto lastReport = std::chrono::steady_clock::now();
        for (;;) {
            bool stopping;
            {
                std::unique_lock lock(mutex_);
                wake_.wait_for(lock, flushInterval_, [this] { return stop_; });
                stopping = stop_;
            }
            if (path_ != "stdout") reopenIfAsked();
            batch.clear();
            buffers_.takeAll(batch);
            if (!batch.empty()) write(batch);
            const auto now = std::chrono::steady_clock::now();
            if (now - lastReport >= std::chrono::seconds(1) || stopping) {
                lastReport = now;
                if (const uint64_t n = droppedSinceReport_.exchange(0))
                    log(GH_LOG_WARN, "access log: dropped " + std::to_string(n) +
                                         " lines (buffer full or write failed): " + path_);
            }
            if (stopping) return;
        }
    }

    void reopenIfAsked() {
        const uint64_t g = reopenGeneration();
        if (g == generation_) return;
        generation_ = g;
        const int fresh = open();
        if (fresh < 0) {
            log(GH_LOG_ERROR, "access log: cannot reopen " + path_ + ": " + std::strerror(errno));
            return;  // keep writing to the old file
        }
        ::close(fd_);
        fd_ = fresh;
    }

    /// Writes the batch; what cannot be written is counted as dropped (never retried: the
    /// next batch is already coming).
    void write(const std::string& batch) {
        const int fd = path_ == "stdout" ? STDOUT_FILENO : fd_;
        size_t done = 0;
        while (done < batch.size()) {
            const ssize_t n = ::write(fd, batch.data() + done, batch.size() - done);
            if (n > 0) {
                done += static_cast<size_t>(n);
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        if (done < batch.size()) {
            uint64_t lines = 0;
            for (size_t i = done; i < batch.size(); ++i)
                if (batch[i] == '\n') ++lines;
            dropped_.add(static_cast<double>(lines));
            droppedSinceReport_.fetch_add(lines);
        }
    }

    Buffers buffers_;
    std::unique_ptr<Template> template_;
    bool json_ = true;
    std::string path_;
    int fd_ = -1;
    std::chrono::milliseconds flushInterval_{200};
    gatehouse::Metric dropped_;
    std::atomic<uint64_t> droppedSinceReport_{0};
    uint64_t generation_ = 0;  // writer thread only
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread writer_;
};

// GH_PHASE_LOG_ALL: every request of the route is logged, also those an earlier plugin
// answered (401, 429, a CORS preflight).
const gh_plugin_descriptor kDescriptor = gatehouse::describe<AccessLog>(
    "access-log", "1.0.0", "Writes one line per request (combined, json or a template)", kSchema, 0,
    GH_PHASE_LOG | GH_PHASE_LOG_ALL, GH_FEATURE_REQUEST_INFO, 2);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
