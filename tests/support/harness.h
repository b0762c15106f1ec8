#pragma once

// Integration-test harness: real processes (the gatehouse binary, gatehouse-test-upstream) on
// loopback, each test in its own temporary directory, and a raw-socket HTTP client that can
// send exactly the bytes a test wants (malformed requests included).

#include <sys/types.h>

#include <Poco/JSON/Object.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::test {

std::string gatehouseBin();
std::string upstreamBin();

/// A directory under /tmp removed (recursively) on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

void writeFile(const std::string& path, std::string_view content);
std::string readFile(const std::string& path);

/// A child process with stdout and stderr sent to files. Killed (SIGKILL) on destruction if
/// still running.
class Process {
public:
    Process(const std::vector<std::string>& argv, const std::string& stdoutPath,
            const std::string& stderrPath);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return pid_; }
    bool running();
    void signal(int sig);
    /// Exit status (or 128+signal), or nullopt when still running after the timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

/// Runs a command to completion; returns its exit status and puts stdout+stderr in *output.
int runCommand(const std::vector<std::string>& argv, std::string* output);

/// Polls `pred` every 10 ms until it is true or the timeout passes.
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// gatehouse-test-upstream on an ephemeral loopback port.
class Upstream {
public:
    explicit Upstream(std::string id = "upstream", std::string mode = "http");
    ~Upstream();
    uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string& id() const { return id_; }
    void stop();
    /// Starts again on the same port (after stop()).
    void restart();

private:
    void start(uint16_t port);
    TempDir dir_;
    std::string id_;
    std::string mode_;
    uint16_t port_ = 0;
    std::unique_ptr<Process> process_;
};

/// The real gatehouse binary with a temporary database and INI file.
class Gateway {
public:
    struct Options {
        unsigned workers = 2;
        std::string
            extraIni;  // appended to the generated INI (e.g. "[limits]\nheader_timeout_ms = 500\n")
        bool start = true;
        std::string pluginDir;  // [plugins] dir ("" = none)
    };

    /// Imports `configJson` with `gatehouse config import`, then starts `gatehouse run`.
    explicit Gateway(const std::string& configJson);
    Gateway(const std::string& configJson, Options options);
    ~Gateway();

    uint16_t port() const { return port_; }
    /// The admin API (bound to a free loopback port) and the token printed at first start.
    uint16_t adminPort() const { return adminPort_; }
    const std::string& adminToken() const { return adminToken_; }
    const TempDir& dir() const { return dir_; }
    std::string iniPath() const { return dir_.file("gatehouse.conf"); }
    std::string dbPath() const { return dir_.file("gatehouse.db"); }
    Process& process() { return *process_; }

    void start();
    /// `gatehouse config import` of `json` into this gateway's database.
    int import(const std::string& json, std::string* output = nullptr);
    /// SIGHUP, then waits for the config_applied (or config_rejected) event that follows.
    bool reload();
    /// Rewrites the INI file (keeping listen/db) with `extraIni` appended.
    void rewriteIni(const std::string& extraIni);
    /// stderr of the running gateway (the JSON event log).
    std::string log() const;
    bool waitForLog(const std::string& needle,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
    size_t countInLog(const std::string& needle) const;
    /// SIGTERM and wait for exit; the exit status.
    std::optional<int> stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));

private:
    TempDir dir_;
    Options options_;
    uint16_t port_ = 0;
    uint16_t adminPort_ = 0;
    std::string adminToken_;
    std::unique_ptr<Process> process_;
};

struct Response {
    int status = 0;
    std::string reason;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool chunked = false;
    bool keepAlive = true;
    int versionMinor = 1;

    std::optional<std::string> header(std::string_view name) const;
    size_t headerCount(std::string_view name) const;
    Poco::JSON::Object::Ptr json() const;
    /// The echo upstream's view of the request headers: value of `name` (case-insensitive).
    std::optional<std::string> echoedHeader(std::string_view name) const;
};

/// A client TCP connection for exact control over bytes on the wire.
class Connection {
public:
    explicit Connection(uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(15));
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// False if the peer closed or reset (writes are best effort: a gateway may close first).
    bool send(std::string_view bytes);
    /// Reads one response. `headRequest` = it answers a HEAD (no body). Throws on timeout or
    /// on a close before a complete response.
    Response read(bool headRequest = false);
    /// True when the peer closes (read returns 0 or reset) within the timeout.
    bool closedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    /// Shuts down our sending side (half-close).
    void shutdownWrite();
    int fd() const { return fd_; }

private:
    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    std::string buffered_;
};

/// A whole request: "GET /x HTTP/1.1\r\nHost: test\r\n" + headers + body, Content-Length
/// added when there is a body.
std::string makeRequest(std::string_view method, std::string_view target,
                        const std::vector<std::pair<std::string, std::string>>& headers = {},
                        std::string_view body = {});

/// One request on a fresh connection.
Response roundTrip(uint16_t port, std::string_view method, std::string_view target,
                   const std::vector<std::pair<std::string, std::string>>& headers = {},
                   std::string_view body = {});

/// Calls the admin API of `gw` with its token: method, path (with query), optional JSON body.
Response admin(const Gateway& gw, std::string_view method, std::string_view path,
               std::string_view jsonBody = {},
               const std::vector<std::pair<std::string, std::string>>& extraHeaders = {});

/// {"upstreams":[{"name":"u","targets":[{"address": ADDRESS}]}], "routes":[ROUTES...]}.
/// Routes default to one catch-all route "r" → "u".
std::string simpleConfig(const std::string& address, const std::string& routesJson = "");

/// Resident set size of a process in KiB (from /proc).
long rssKiB(pid_t pid);

}  // namespace gatehouse::test
