// key-auth: authenticates a request by an API key that belongs to a consumer's key-auth
// credential. The host keeps only the SHA-256 of each key and finds the credential by the
// hash of what the client presents (credential_find, ABI 1.1).
//
//   {"key_names": ["apikey", "X-API-Key"], "key_in_query": false, "hide_credentials": true,
//    "anonymous": null, "realm": "gatehouse"}

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <gatehouse/plugin.hpp>

#include <string>
#include <vector>

#include "auth_common.h"

namespace {

using gatehouse::Action;
using gatehouse::Message;
using gatehouse::Request;

constexpr const char* kSchema = R"JSON({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "key_names": {"type": "array", "minItems": 1, "maxItems": 16, "uniqueItems": true,
                  "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"},
                  "description": "Headers (and, with key_in_query, query parameters) that may carry the key",
                  "default": ["apikey", "X-API-Key"]},
    "key_in_query": {"type": "boolean", "default": false,
                     "description": "Also accept the key as a query parameter (it ends up in logs: avoid)"},
    "hide_credentials": {"type": "boolean", "default": true,
                         "description": "Remove the key before the request goes upstream"},
    "anonymous": {"type": ["string", "null"], "minLength": 1, "maxLength": 128,
                  "description": "Consumer (username or id) for requests without a key; null = refuse them"},
    "realm": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\"\\\\]*$", "default": "gatehouse"}
  }
})JSON";

class KeyAuth final : public gatehouse::Plugin {
public:
    KeyAuth(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        if (!hostHasFeatures(GH_FEATURE_CONSUMERS))
            throw std::runtime_error("this gateway has no consumer lookup (plugin ABI 1.1)");
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();
        if (const auto names = o->getArray("key_names")) {
            for (size_t i = 0; i < names->size(); ++i)
                keyNames_.push_back(names->getElement<std::string>(static_cast<unsigned>(i)));
        } else {
            keyNames_ = {"apikey", "X-API-Key"};
        }
        keyInQuery_ = o->optValue<bool>("key_in_query", false);
        hideCredentials_ = o->optValue<bool>("hide_credentials", true);
        if (o->has("anonymous") && !o->get("anonymous").isEmpty())
            anonymous_ = o->getValue<std::string>("anonymous");
        const std::string realm = o->optValue<std::string>("realm", "gatehouse");
        challenge_ = "Key realm=\"" + realm + "\"";
    }

    Action onRequest(Request& r, void**) override {
        if (gatehouse::auth::authenticatedEarlier(r)) return Action::Continue;
        gatehouse::auth::beginAuthentication(r);

        // Every place the key may be: exactly one presented key is accepted.
        std::vector<std::string> keys;
        std::vector<std::string_view> fromHeaders;
        for (const auto& name : keyNames_)
            for (size_t nth = 0;; ++nth) {
                const auto v = r.requestHeader(name, nth);
                if (!v) break;
                keys.emplace_back(*v);
                fromHeaders.push_back(name);
            }
        std::string queryRest;
        std::string_view queryParam;
        if (keyInQuery_) {
            std::string query(r.query());
            for (const auto& name : keyNames_) {
                std::string rest;
                auto values = gatehouse::auth::takeQueryParam(query, name, &rest);
                if (values.empty()) continue;
                for (auto& v : values)
                    keys.push_back(std::move(v));
                query = std::move(rest);
                queryParam = name;
            }
            queryRest = std::move(query);
        }

        if (keys.empty()) {
            if (anonymous_.empty())
                return gatehouse::auth::reject(r, 401, "no API key found in request",
                                               {{"WWW-Authenticate", challenge_}});
            return gatehouse::auth::admitAnonymous(r, anonymous_, "key-auth");
        }
        if (keys.size() > 1)
            return gatehouse::auth::reject(r, 401, "more than one API key in request",
                                           {{"WWW-Authenticate", challenge_}});

        gatehouse::Credential credential;
        const auto consumer = r.findCredential(GH_CREDENTIAL_KEY_AUTH, keys.front(), &credential);
        if (!consumer)
            return gatehouse::auth::reject(r, 401, "invalid API key",
                                           {{"WWW-Authenticate", challenge_}});
        r.setConsumer(consumer->id, consumer->username);
        gatehouse::auth::setIdentityHeaders(r, *consumer, credential.id);
        gatehouse::auth::markAuthenticated(r, "key-auth");
        if (hideCredentials_) {
            for (std::string_view h : fromHeaders)
                r.removeHeader(Message::Request, h);
            if (!queryParam.empty()) r.setQuery(queryRest);
        }
        return Action::Continue;
    }

private:
    std::vector<std::string> keyNames_;
    bool keyInQuery_ = false;
    bool hideCredentials_ = true;
    std::string anonymous_;
    std::string challenge_;
};

const gh_plugin_descriptor kDescriptor = gatehouse::describe<KeyAuth>(
    "key-auth", "1.1.0", "Authenticates requests by a consumer's API key", kSchema, 1250,
    GH_PHASE_REQUEST, GH_FEATURE_CONSUMERS | GH_FEATURE_VARS, 2);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
