#include "admin/admin_server.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>

#include <sys/resource.h>
#include <unistd.h>

#include <istream>

namespace gatehouse::admin {
namespace {

class Handler final : public Poco::Net::HTTPRequestHandler {
public:
    explicit Handler(const AdminApi& api) : api_(api) {}

    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
        // Admin work (a write recompiles the whole configuration) yields the CPU to the
        // workers: on a busy box the data plane's latency matters more than a write's.
        static thread_local const bool niced =
            ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) == 0;
        (void)niced;
        ApiRequest req;
        req.method = request.getMethod();
        const std::string& uri = request.getURI();
        const size_t q = uri.find('?');
        req.path = uri.substr(0, q);
        if (q != std::string::npos) req.query = uri.substr(q + 1);
        req.authorization = request.get("Authorization", "");
        req.contentType = request.get("Content-Type", "");
        req.peer = request.clientAddress().host().toString();
        readBody(request, response, req);

        const ApiResponse res = api_.handle(req);
        response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(res.status));
        for (const auto& [k, v] : res.headers)
            response.set(k, v);
        if (res.status == 204) {
            response.setContentLength(0);
            response.send();
            return;
        }
        if (!response.has("Content-Type")) response.setContentType("application/json");
        response.setContentLength(static_cast<std::streamsize>(res.body.size()));
        response.send().write(res.body.data(), static_cast<std::streamsize>(res.body.size()));
    }

private:
    /// Reads the request body within the limit. A body over the limit is not read, so the
    /// connection must close: its bytes would otherwise be parsed as the next request.
    void readBody(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
                  ApiRequest& req) {
        const size_t limit = api_.maxBodyBytes();
        if (!request.hasContentLength() && !request.getChunkedTransferEncoding())
            return;  // no body (RFC 9112 6.3); POCO would read a POST's "body" until close
        if (request.hasContentLength() &&
            request.getContentLength64() > static_cast<int64_t>(limit)) {
            req.bodyTooLarge = true;
            response.setKeepAlive(false);
            return;
        }
        std::istream& in = request.stream();
        char buf[16384];
        while (in.read(buf, sizeof buf) || in.gcount() > 0) {
            req.body.append(buf, static_cast<size_t>(in.gcount()));
            if (req.body.size() > limit) {
                req.bodyTooLarge = true;
                req.body.clear();
                response.setKeepAlive(false);
                return;
            }
        }
    }

    const AdminApi& api_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
public:
    explicit Factory(const AdminApi& api) : api_(api) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
        return new Handler(api_);
    }

private:
    const AdminApi& api_;
};

}  // namespace

AdminServer::AdminServer(const AdminSettings& settings, const AdminApi& api)
    : settings_(settings), api_(api) {}

AdminServer::~AdminServer() {
    stop();
}

void AdminServer::start() {
    Poco::Net::ServerSocket socket;
    // Address reuse only: POCO's two-argument bind() would also set SO_REUSEPORT, and two
    // processes must never share an admin port silently.
    socket.bind(Poco::Net::SocketAddress(settings_.listen), true, false);
    socket.listen(64);
    bound_ = socket.address().toString();
    exposed_ = !socket.address().host().isLoopback();
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(static_cast<int>(settings_.threads));
    params->setMaxQueued(64);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(10, 0));
    params->setTimeout(Poco::Timespan(30, 0));
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(api_), socket, params);
    server_->start();
}

void AdminServer::stop() {
    if (!server_) return;
    server_->stopAll(true);
    server_.reset();
}

}  // namespace gatehouse::admin
