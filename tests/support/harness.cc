#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace gatehouse::test {
namespace {

using Clock = std::chrono::steady_clock;

bool ieq(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

}  // namespace

std::string gatehouseBin() {
    if (const char* e = std::getenv("GATEHOUSE_BIN")) return e;
    return GATEHOUSE_BIN;
}

std::string upstreamBin() {
    if (const char* e = std::getenv("TEST_UPSTREAM_BIN")) return e;
    return TEST_UPSTREAM_BIN;
}

TempDir::TempDir() {
    char tmpl[] = "/tmp/gatehouse-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

void writeFile(const std::string& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out) throw std::runtime_error("cannot write " + path);
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// --------------------------------------------------------------------------------------------

Process::Process(const std::vector<std::string>& argv, const std::string& stdoutPath,
                 const std::string& stderrPath) {
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
        if (::getppid() != parent) ::_exit(127);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        const int out = ::open(stdoutPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int err = ::open(stderrPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out >= 0) ::dup2(out, 1);
        if (err >= 0) ::dup2(err, 2);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

Process::~Process() {
    if (running()) {
        ::kill(pid_, SIGKILL);
        wait(std::chrono::seconds(5));
    }
}

bool Process::running() {
    if (status_) return false;
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return false;
    }
    return r == 0;
}

void Process::signal(int sig) {
    if (running()) ::kill(pid_, sig);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (running()) {
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
}

int runCommand(const std::vector<std::string>& argv, std::string* output) {
    TempDir dir;
    Process p(argv, dir.file("out"), dir.file("out"));
    const auto st = p.wait(std::chrono::seconds(120));
    if (output) *output = readFile(dir.file("out"));
    return st.value_or(-1);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// --------------------------------------------------------------------------------------------

Upstream::Upstream(std::string id, std::string mode) : id_(std::move(id)), mode_(std::move(mode)) {
    start(0);
}

Upstream::~Upstream() {
    stop();
}

void Upstream::start(uint16_t port) {
    const std::string out = dir_.file("stdout");
    ::unlink(out.c_str());
    process_ = std::make_unique<Process>(
        std::vector<std::string>{upstreamBin(), "--port", std::to_string(port), "--id", id_,
                                 "--mode", mode_},
        out, dir_.file("stderr"));
    std::string text;
    const bool up = eventually([&] {
        text = readFile(out);
        return text.find('\n') != std::string::npos || !process_->running();
    });
    if (!up || text.rfind("PORT ", 0) != 0)
        throw std::runtime_error("test upstream did not start: " + text +
                                 readFile(dir_.file("stderr")));
    port_ = static_cast<uint16_t>(std::stoi(text.substr(5)));
}

void Upstream::stop() {
    if (!process_) return;
    process_->signal(SIGKILL);
    process_->wait(std::chrono::seconds(5));
    process_.reset();
}

void Upstream::restart() {
    stop();
    // The port was ours a moment ago; retry briefly in case the kernel still holds it.
    for (int i = 0;; ++i) {
        try {
            start(port_);
            return;
        } catch (const std::exception&) {
            if (i >= 50) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

// --------------------------------------------------------------------------------------------

Gateway::Gateway(const std::string& configJson) : Gateway(configJson, Options{}) {}

Gateway::Gateway(const std::string& configJson, Options options) : options_(std::move(options)) {
    rewriteIni(options_.extraIni);
    std::string out;
    if (import(configJson, &out) != 0) throw std::runtime_error("config import failed: " + out);
    if (options_.start) start();
}

Gateway::~Gateway() {
    if (process_ && process_->running()) {
        process_->signal(SIGKILL);
        process_->wait(std::chrono::seconds(5));
    }
}

void Gateway::rewriteIni(const std::string& extraIni) {
    std::string ini = "[proxy]\nlisten = 127.0.0.1:" + std::to_string(port_) +
                      "\nworkers = " + std::to_string(options_.workers) +
                      "\n[admin]\nlisten = 127.0.0.1:" + std::to_string(adminPort_) +
                      "\n[store]\npath = " + dbPath() +
                      "\n[server]\ndrain_timeout_ms = 10000\nlog_level = debug\n";
    if (!options_.pluginDir.empty()) ini += "[plugins]\ndir = " + options_.pluginDir + "\n";
    ini += extraIni;
    writeFile(iniPath(), ini);
}

int Gateway::import(const std::string& json, std::string* output) {
    const std::string file = dir_.file("import.json");
    writeFile(file, json);
    return runCommand({gatehouseBin(), "config", "import", file, "--config", iniPath()}, output);
}

void Gateway::start() {
    process_ = std::make_unique<Process>(
        std::vector<std::string>{gatehouseBin(), "run", "--config", iniPath()},
        dir_.file("stdout.log"), dir_.file("events.log"));
    std::string line;
    const bool up = eventually(
        [&] {
            const std::string text = log();
            const size_t at = text.find("\"event\":\"listening\"");
            if (at != std::string::npos) {
                line = text.substr(at);
                return true;
            }
            return !process_->running();
        },
        std::chrono::seconds(20));
    const size_t p = line.find("\"proxy\":\"");
    if (!up || p == std::string::npos)
        throw std::runtime_error("gatehouse did not start: " + log());
    const std::string addr = line.substr(p + 9, line.find('"', p + 9) - p - 9);
    port_ = static_cast<uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
    if (const size_t a = line.find("\"admin\":\""); a != std::string::npos) {
        const std::string adminAddr = line.substr(a + 9, line.find('"', a + 9) - a - 9);
        if (adminAddr != "off")
            adminPort_ =
                static_cast<uint16_t>(std::stoi(adminAddr.substr(adminAddr.rfind(':') + 1)));
    }
    // The token is printed once, at the first start (a later restart reuses adminToken_).
    const std::string text = log();
    const size_t t = text.find("gha_");
    if (t != std::string::npos) adminToken_ = text.substr(t, text.find_first_of("\r\n", t) - t);
    rewriteIni(options_.extraIni);  // a later SIGHUP keeps the same port
}

std::string Gateway::log() const {
    return readFile(dir_.file("events.log"));
}

size_t Gateway::countInLog(const std::string& needle) const {
    const std::string text = log();
    size_t n = 0;
    for (size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + needle.size()))
        ++n;
    return n;
}

bool Gateway::waitForLog(const std::string& needle, std::chrono::milliseconds timeout) {
    return eventually([&] { return log().find(needle) != std::string::npos; }, timeout);
}

bool Gateway::reload() {
    const size_t applied = countInLog("\"config_applied\"");
    const size_t rejected = countInLog("\"config_rejected\"") + countInLog("\"reload_failed\"");
    process_->signal(SIGHUP);
    return eventually([&] {
               return countInLog("\"config_applied\"") > applied ||
                      countInLog("\"config_rejected\"") + countInLog("\"reload_failed\"") >
                          rejected;
           }) &&
           countInLog("\"config_applied\"") > applied;
}

std::optional<int> Gateway::stop(std::chrono::milliseconds timeout) {
    process_->signal(SIGTERM);
    return process_->wait(timeout);
}

// --------------------------------------------------------------------------------------------

std::optional<std::string> Response::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (ieq(k, name)) return v;
    return std::nullopt;
}

size_t Response::headerCount(std::string_view name) const {
    size_t n = 0;
    for (const auto& [k, v] : headers)
        if (ieq(k, name)) ++n;
    return n;
}

Poco::JSON::Object::Ptr Response::json() const {
    Poco::JSON::Parser p;
    return p.parse(body).extract<Poco::JSON::Object::Ptr>();
}

std::optional<std::string> Response::echoedHeader(std::string_view name) const {
    const auto arr = json()->getArray("headers");
    for (size_t i = 0; i < arr->size(); ++i) {
        const auto pair = arr->getArray(static_cast<unsigned>(i));
        if (ieq(pair->getElement<std::string>(0), name)) return pair->getElement<std::string>(1);
    }
    return std::nullopt;
}

Connection::Connection(uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd_);
        throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Connection::~Connection() {
    if (fd_ >= 0) ::close(fd_);
}

bool Connection::send(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
}

void Connection::shutdownWrite() {
    ::shutdown(fd_, SHUT_WR);
}

namespace {

struct ParseState {
    Response* r = nullptr;
    std::string field;
    bool inValue = false;
    bool done = false;
    bool head = false;
};

int onStatus(llhttp_t* p, const char* at, size_t n) {
    static_cast<ParseState*>(p->data)->r->reason.append(at, n);
    return 0;
}
int onField(llhttp_t* p, const char* at, size_t n) {
    auto* s = static_cast<ParseState*>(p->data);
    if (s->inValue) {
        s->inValue = false;
        s->field.clear();
    }
    s->field.append(at, n);
    return 0;
}
int onValue(llhttp_t* p, const char* at, size_t n) {
    auto* s = static_cast<ParseState*>(p->data);
    if (!s->inValue) {
        s->r->headers.emplace_back(s->field, "");
        s->inValue = true;
    }
    s->r->headers.back().second.append(at, n);
    return 0;
}
int onHeadersComplete(llhttp_t* p) {
    auto* s = static_cast<ParseState*>(p->data);
    s->inValue = false;
    s->field.clear();
    s->r->status = p->status_code;
    s->r->versionMinor = p->http_minor;
    s->r->chunked = (p->flags & F_CHUNKED) != 0;
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) {
        // interim response: drop what was collected; the final one follows
        s->r->headers.clear();
        s->r->reason.clear();
        return 0;
    }
    return s->head ? 1 : 0;
}
int onBody(llhttp_t* p, const char* at, size_t n) {
    static_cast<ParseState*>(p->data)->r->body.append(at, n);
    return 0;
}
int onMessageComplete(llhttp_t* p) {
    auto* s = static_cast<ParseState*>(p->data);
    if (p->status_code >= 100 && p->status_code < 200 && p->status_code != 101) return 0;
    s->r->keepAlive = llhttp_should_keep_alive(p) != 0;
    s->done = true;
    return HPE_PAUSED;
}

}  // namespace

Response Connection::read(bool headRequest) {
    Response r;
    ParseState state;
    state.r = &r;
    state.head = headRequest;
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_status = onStatus;
    settings.on_header_field = onField;
    settings.on_header_value = onValue;
    settings.on_headers_complete = onHeadersComplete;
    settings.on_body = onBody;
    settings.on_message_complete = onMessageComplete;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    parser.data = &state;

    auto feed = [&](const char* data, size_t len) -> size_t {
        const llhttp_errno_t e = llhttp_execute(&parser, data, len);
        if (e == HPE_OK) return len;
        if (e == HPE_PAUSED) return static_cast<size_t>(llhttp_get_error_pos(&parser) - data);
        throw std::runtime_error(std::string("bad response: ") + llhttp_errno_name(e) + " " +
                                 llhttp_get_error_reason(&parser));
    };

    const auto deadline = Clock::now() + timeout_;
    if (!buffered_.empty()) {
        const size_t used = feed(buffered_.data(), buffered_.size());
        buffered_.erase(0, used);
        if (state.done) return r;
    }
    char buf[65536];
    while (!state.done) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) throw std::runtime_error("timed out reading a response");
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (llhttp_finish(&parser) == HPE_PAUSED || state.done) {
                r.keepAlive = false;
                return r;
            }
            throw std::runtime_error("connection closed before a complete response (status " +
                                     std::to_string(r.status) + ")");
        }
        const size_t used = feed(buf, static_cast<size_t>(n));
        if (used < static_cast<size_t>(n))
            buffered_.append(buf + used, static_cast<size_t>(n) - used);
    }
    return r;
}

bool Connection::closedByPeer(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char buf[65536];
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return false;
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
    }
}

std::string makeRequest(std::string_view method, std::string_view target,
                        const std::vector<std::pair<std::string, std::string>>& headers,
                        std::string_view body) {
    std::string out;
    out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    bool hasHost = false;
    bool hasLength = false;
    for (const auto& [k, v] : headers) {
        if (ieq(k, "host")) hasHost = true;
        if (ieq(k, "content-length") || ieq(k, "transfer-encoding")) hasLength = true;
        out.append(k).append(": ").append(v).append("\r\n");
    }
    if (!hasHost) out.append("Host: test.local\r\n");
    if (!body.empty() && !hasLength)
        out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    out.append("\r\n");
    out.append(body);
    return out;
}

Response roundTrip(uint16_t port, std::string_view method, std::string_view target,
                   const std::vector<std::pair<std::string, std::string>>& headers,
                   std::string_view body) {
    Connection c(port);
    c.send(makeRequest(method, target, headers, body));
    return c.read(method == "HEAD");
}

std::string simpleConfig(const std::string& address, const std::string& routesJson) {
    const std::string routes =
        routesJson.empty() ? R"({"name":"r","match":{"paths":["/"]},"upstream":"u"})" : routesJson;
    return R"({"upstreams":[{"name":"u","targets":[{"address":")" + address +
           R"("}]}],"routes":[)" + routes + "]}";
}

Response admin(const Gateway& gw, std::string_view method, std::string_view path,
               std::string_view jsonBody,
               const std::vector<std::pair<std::string, std::string>>& extraHeaders) {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Authorization", "Bearer " + gw.adminToken()}, {"Host", "127.0.0.1"}};
    if (!jsonBody.empty()) headers.emplace_back("Content-Type", "application/json");
    for (const auto& h : extraHeaders) {
        std::erase_if(headers, [&](const auto& e) { return ieq(e.first, h.first); });
        headers.push_back(h);
    }
    std::erase_if(headers, [](const auto& e) { return e.second.empty(); });  // "" removes a default
    Connection c(gw.adminPort());
    c.send(makeRequest(method, path, headers, jsonBody));
    return c.read(method == "HEAD");
}

long rssKiB(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

}  // namespace gatehouse::test
