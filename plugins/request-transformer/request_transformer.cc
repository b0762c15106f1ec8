// request-transformer: edits the request before it goes upstream — headers and query
// parameters (remove, rename, set, add, append), the path (a regex with captures) and, in the
// request-transformer-body variant, fields of a JSON body on dotted paths.
//
// The host decides whether to buffer request bodies from the descriptor's static phase bits,
// so body editing is a second descriptor: routes that only edit headers keep streaming.
//
//   {"set": {"headers": {"X-Api-Version": "2"}}, "remove": {"query": ["debug"]},
//    "path": {"match": "^/v1/(.*)$", "replace": "/api/$1"}}
//   request-transformer-body: the same plus
//    "body": {"add": {"meta.source": "gateway"}, "remove": ["user.password"]}

#include <Poco/JSON/Object.h>

#include <gatehouse/plugin.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "auth_common.h"
#include "transform.h"

namespace {

using gatehouse::Action;
using gatehouse::Message;
using gatehouse::Request;
namespace tf = gatehouse::transform;

// The two schemas share everything but "body" and "max_body_bytes". Header names are RFC 9110
// tokens; values are checked for control characters in the constructor.
constexpr std::string_view kCommonProperties = R"JSON(
    "remove": {"type": "object", "additionalProperties": false,
               "description": "Headers and query parameters to remove (applied first)",
               "properties": {
                 "headers": {"type": "array", "maxItems": 64, "uniqueItems": true,
                             "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"}},
                 "query": {"type": "array", "maxItems": 64, "uniqueItems": true,
                           "items": {"type": "string", "minLength": 1, "maxLength": 256}}}},
    "rename": {"type": "object", "additionalProperties": false,
               "description": "old name -> new name; the renamed one replaces any of the new name",
               "properties": {
                 "headers": {"type": "object", "maxProperties": 64,
                             "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                             "additionalProperties": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"}},
                 "query": {"type": "object", "maxProperties": 64,
                           "propertyNames": {"minLength": 1, "maxLength": 256},
                           "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 256}}}},
    "set": {"type": "object", "additionalProperties": false,
            "description": "Replace every value (or add) with exactly this one",
            "properties": {
              "headers": {"type": "object", "maxProperties": 64,
                          "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                          "additionalProperties": {"type": "string", "maxLength": 8192}},
              "query": {"type": "object", "maxProperties": 64,
                        "propertyNames": {"minLength": 1, "maxLength": 256},
                        "additionalProperties": {"type": "string", "maxLength": 4096}}}},
    "add": {"type": "object", "additionalProperties": false,
            "description": "Add only when absent",
            "properties": {
              "headers": {"type": "object", "maxProperties": 64,
                          "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                          "additionalProperties": {"type": "string", "maxLength": 8192}},
              "query": {"type": "object", "maxProperties": 64,
                        "propertyNames": {"minLength": 1, "maxLength": 256},
                        "additionalProperties": {"type": "string", "maxLength": 4096}}}},
    "append": {"type": "object", "additionalProperties": false,
               "description": "Add another value, keeping those there",
               "properties": {
                 "headers": {"type": "object", "maxProperties": 64,
                             "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                             "additionalProperties": {"type": "string", "maxLength": 8192}},
                 "query": {"type": "object", "maxProperties": 64,
                           "propertyNames": {"minLength": 1, "maxLength": 256},
                           "additionalProperties": {"type": "string", "maxLength": 4096}}}},
    "path": {"type": "object", "additionalProperties": false, "required": ["match", "replace"],
             "description": "Rewrite the upstream path: the first match of the PCRE2 regex is replaced ($1, ${name}, $$)",
             "properties": {"match": {"type": "string", "minLength": 1, "maxLength": 512},
                            "replace": {"type": "string", "minLength": 1, "maxLength": 1024}}})JSON";

// Built once, never freed: descriptors must outlive everything that reads them.
const char* schema(bool withBody) {
    static const std::string* const plain = new std::string(tf::schemaText(kCommonProperties, ""));
    static const std::string* const body = new std::string(tf::schemaText(
        kCommonProperties, tf::bodySchemaProperties("Larger JSON bodies are refused with 413")));
    return withBody ? body->c_str() : plain->c_str();
}

template <bool kBody>
class RequestTransformer final : public gatehouse::Plugin {
public:
    RequestTransformer(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        const auto o = tf::parseObject(config);
        headers_ = tf::HeaderOps::fromConfig(o, Message::Request);
        query_ = tf::QueryOps::fromConfig(o);
        if (const auto p = o->getObject("path")) {
            path_ = std::make_unique<tf::Regex>(p->getValue<std::string>("match"), 0);
            replace_ = p->getValue<std::string>("replace");
            tf::checkReplacement(*path_, replace_);
        }
        if constexpr (kBody) {
            const auto limit = o->optValue<Poco::Int64>("max_body_bytes", 1 << 20);
            body_ = tf::JsonOps::fromConfig(o->getObject("body"), static_cast<size_t>(limit));
            if (body_.empty())
                throw std::runtime_error(
                    "no body edits configured: use request-transformer, which does not buffer "
                    "request bodies");
        }
        if (headers_.empty() && query_.empty() && !path_ && body_.empty())
            throw std::runtime_error(
                "nothing to do: configure remove, rename, set, add, append "
                "or path");
    }

    Action onRequest(Request& r, void**) override {
        // Body first: a body we must refuse makes the other edits moot.
        if constexpr (kBody) {
            if (const Action a = editBody(r); a != Action::Continue) return a;
        }
        headers_.apply(r, Message::Request);
        if (!query_.empty())
            if (const auto q = query_.apply(r.query())) r.setQuery(*q);
        if (path_) {
            const std::string current(r.path());
            const auto rewritten = path_->substitute(current, replace_);
            if (rewritten && *rewritten != current) {
                if (!tf::isUpstreamPath(*rewritten) || !r.setPath(*rewritten)) {
                    log(GH_LOG_WARN, "path rewrite of \"" + current +
                                         "\" produced an invalid path: \"" +
                                         rewritten->substr(0, 256) + "\"");
                    return Action::Fail;
                }
            }
        }
        return Action::Continue;
    }

private:
    Action editBody(Request& r) const {
        const auto body = r.body(Message::Request);
        if (!body || body->empty()) return Action::Continue;
        if (!tf::isJsonContentType(r.requestHeader("Content-Type")) ||
            tf::isEncoded(r.requestHeader("Content-Encoding")))
            return Action::Continue;  // not JSON text: passed on untouched
        std::string edited;
        switch (body_.apply(*body, &edited)) {
            case tf::JsonOps::Result::Changed:
                // The host rewrites Content-Length (and drops chunked framing) for us.
                return r.setBody(Message::Request, edited) ? Action::Continue : Action::Fail;
            case tf::JsonOps::Result::TooLarge:
                return gatehouse::auth::reject(r, 413,
                                               "JSON request body larger than " +
                                                   std::to_string(body_.maxBytes()) +
                                                   " bytes cannot be transformed");
            case tf::JsonOps::Result::Invalid:
                return gatehouse::auth::reject(r, 400, "request body is not valid JSON");
            case tf::JsonOps::Result::NotObject:
            case tf::JsonOps::Result::Unchanged:
                break;
        }
        return Action::Continue;
    }

    tf::HeaderOps headers_;
    tf::QueryOps query_;
    std::unique_ptr<tf::Regex> path_;
    std::string replace_;
    tf::JsonOps body_;
};

}  // namespace

GATEHOUSE_PLUGINS(gatehouse::describe<RequestTransformer<false>>(
                      "request-transformer", "1.0.0",
                      "Edits request headers, query parameters and the path before proxying",
                      schema(false), 800, GH_PHASE_REQUEST, 0, 0),
                  gatehouse::describe<RequestTransformer<true>>(
                      "request-transformer-body", "1.0.0",
                      "request-transformer plus edits of JSON request bodies (buffers bodies)",
                      schema(true), 800, GH_PHASE_REQUEST | GH_PHASE_REQUEST_BODY, GH_FEATURE_BODY,
                      0))
