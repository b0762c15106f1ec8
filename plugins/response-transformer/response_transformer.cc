// response-transformer: edits the response before it goes to the client — headers (remove,
// rename, set, add, append) and, in the response-transformer-body variant, fields of a JSON
// body on dotted paths.
//
// The host decides whether to buffer response bodies from the descriptor's static phase bits,
// so body editing is a second descriptor: routes that only edit headers keep streaming (and
// keep serving responses larger than the gateway buffers).
//
//   {"set": {"headers": {"Cache-Control": "no-store"}}, "remove": {"headers": ["Server"]}}
//   response-transformer-body: the same plus
//    "body": {"remove": ["internal"], "add": {"meta.served_by": "gatehouse"}}

#include <Poco/JSON/Object.h>

#include <gatehouse/plugin.hpp>

#include <stdexcept>
#include <string>

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
             "description": "Headers to remove (applied first)",
             "properties": {"headers": {"type": "array", "maxItems": 64, "uniqueItems": true,
                          "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"}}}},
    "rename": {"type": "object", "additionalProperties": false,
             "description": "old name -> new name; the renamed one replaces any of the new name",
             "properties": {"headers": {"type": "object", "maxProperties": 64, "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                          "additionalProperties": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"}}}},
    "set": {"type": "object", "additionalProperties": false,
             "description": "Replace every value (or add) with exactly this one",
             "properties": {"headers": {"type": "object", "maxProperties": 64, "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                          "additionalProperties": {"type": "string", "maxLength": 8192}}}},
    "add": {"type": "object", "additionalProperties": false,
             "description": "Add only when absent",
             "properties": {"headers": {"type": "object", "maxProperties": 64, "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                          "additionalProperties": {"type": "string", "maxLength": 8192}}}},
    "append": {"type": "object", "additionalProperties": false,
             "description": "Add another value, keeping those there",
             "properties": {"headers": {"type": "object", "maxProperties": 64, "propertyNames": {"pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"},
                          "additionalProperties": {"type": "string", "maxLength": 8192}}}})JSON";

// Built once, never freed: descriptors must outlive everything that reads them.
const char* schema(bool withBody) {
    static const std::string* const plain = new std::string(tf::schemaText(kCommonProperties, ""));
    static const std::string* const body = new std::string(tf::schemaText(
        kCommonProperties, tf::bodySchemaProperties("Larger JSON bodies pass through unchanged")));
    return withBody ? body->c_str() : plain->c_str();
}

template <bool kBody>
class ResponseTransformer final : public gatehouse::Plugin {
public:
    ResponseTransformer(const gh_host_api* host, gh_instance_host* instance,
                        std::string_view config)
        : Plugin(host, instance) {
        const auto o = tf::parseObject(config);
        headers_ = tf::HeaderOps::fromConfig(o, Message::Response);
        if constexpr (kBody) {
            const auto limit = o->optValue<Poco::Int64>("max_body_bytes", 1 << 20);
            body_ = tf::JsonOps::fromConfig(o->getObject("body"), static_cast<size_t>(limit));
            if (body_.empty())
                throw std::runtime_error(
                    "no body edits configured: use response-transformer, which does not buffer "
                    "responses");
        }
        if (headers_.empty() && body_.empty())
            throw std::runtime_error("nothing to do: configure remove, rename, set, add or append");
    }

    Action onResponse(Request& r, void**) override {
        if constexpr (kBody) editBody(r);
        headers_.apply(r, Message::Response);
        return Action::Continue;
    }

private:
    void editBody(Request& r) const {
        const auto body = r.body(Message::Response);
        if (!body || body->empty()) return;
        if (!tf::isJsonContentType(r.responseHeader("Content-Type")) ||
            tf::isEncoded(r.responseHeader("Content-Encoding")))
            return;
        std::string edited;
        // Too large, not JSON or not an object: the client gets the upstream's bytes as they
        // are. Failing the request would turn an upstream's big answer into our 500.
        if (body_.apply(*body, &edited) == tf::JsonOps::Result::Changed)
            r.setBody(Message::Response, edited);  // the host fixes Content-Length
    }

    tf::HeaderOps headers_;
    tf::JsonOps body_;
};

// Response-only: the host runs on_response for every plugin the request reached, that is
// whose place in the chain (priority 800) it passed; a 401 from an authentication plugin
// running earlier is not edited.
constexpr uint32_t kPhases = GH_PHASE_RESPONSE;

}  // namespace

GATEHOUSE_PLUGINS(gatehouse::describe<ResponseTransformer<false>>(
                      "response-transformer", "1.0.0",
                      "Edits response headers before they reach the client", schema(false), 800,
                      kPhases, 0, 0),
                  gatehouse::describe<ResponseTransformer<true>>(
                      "response-transformer-body", "1.0.0",
                      "response-transformer plus edits of JSON response bodies (buffers responses)",
                      schema(true), 800, kPhases | GH_PHASE_RESPONSE_BODY, GH_FEATURE_BODY, 0))
