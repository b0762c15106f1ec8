// acl: lets a request through by the roles of who made it. The roles come from the consumer
// an authentication plugin identified (key-auth, jwt-auth), or from a request header an
// authentication plugin set from a token claim (e.g. jwt-auth's claims_to_headers: role →
// X-User-Role), never from anything the client could set itself.
//
//   {"allow": ["admin", "ops"]}   or   {"deny": ["suspended"]}   (both may be given)
//   {"allow": ["admin"], "roles_header": "X-User-Role"}

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include <gatehouse/plugin.hpp>

#include <set>
#include <string>
#include <vector>

#include "auth_common.h"

namespace {

using gatehouse::Action;
using gatehouse::Request;

constexpr const char* kSchema = R"JSON({
  "type": "object",
  "additionalProperties": false,
  "anyOf": [{"required": ["allow"]}, {"required": ["deny"]}],
  "properties": {
    "allow": {"type": "array", "maxItems": 256, "uniqueItems": true,
              "items": {"type": "string", "minLength": 1, "maxLength": 64},
              "description": "Only these roles pass (empty list: nobody)"},
    "deny": {"type": "array", "maxItems": 256, "uniqueItems": true,
             "items": {"type": "string", "minLength": 1, "maxLength": 64},
             "description": "These roles are refused, even when allowed"},
    "roles_header": {"type": ["string", "null"], "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$",
                     "description": "Read roles (comma-separated) from this request header, set by an authentication plugin that runs first; null = the consumer's roles"}
  }
})JSON";

std::vector<std::string> split(std::string_view csv) {
    std::vector<std::string> out;
    while (!csv.empty()) {
        const size_t comma = csv.find(',');
        std::string_view item = csv.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
            item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
            item.remove_suffix(1);
        if (!item.empty()) out.emplace_back(item);
        if (comma == std::string_view::npos) break;
        csv.remove_prefix(comma + 1);
    }
    return out;
}

class Acl final : public gatehouse::Plugin {
public:
    Acl(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();
        auto read = [&](const char* key, std::set<std::string>& into) {
            const auto list = o->getArray(key);
            if (!list) return false;
            for (size_t i = 0; i < list->size(); ++i)
                into.insert(list->getElement<std::string>(static_cast<unsigned>(i)));
            return true;
        };
        hasAllow_ = read("allow", allow_);
        read("deny", deny_);
        if (o->has("roles_header") && !o->get("roles_header").isEmpty())
            rolesHeader_ = o->getValue<std::string>("roles_header");
        if (rolesHeader_.empty() && !hostHasFeatures(GH_FEATURE_CONSUMERS))
            throw std::runtime_error("this gateway has no consumer lookup (plugin ABI 1.1)");
    }

    Action onRequest(Request& r, void**) override {
        std::vector<std::string> roles;
        bool identified = false;
        if (!rolesHeader_.empty()) {
            for (size_t nth = 0;; ++nth) {
                const auto v = r.requestHeader(rolesHeader_, nth);
                if (!v) break;
                identified = true;
                for (auto& role : split(*v))
                    roles.push_back(std::move(role));
            }
        } else if (const auto c = r.consumer()) {
            identified = true;
            roles = split(c->roles);
        }
        if (!identified)
            return gatehouse::auth::reject(r, 401, "authentication required before access control");
        for (const auto& role : roles)
            if (deny_.count(role)) return gatehouse::auth::reject(r, 403, "access denied");
        if (hasAllow_) {
            for (const auto& role : roles)
                if (allow_.count(role)) return Action::Continue;
            return gatehouse::auth::reject(r, 403, "access denied");
        }
        return Action::Continue;
    }

private:
    std::set<std::string> allow_;
    std::set<std::string> deny_;
    bool hasAllow_ = false;
    std::string rolesHeader_;
};

// After authentication (key-auth 1250, jwt-auth 1450), before traffic plugins.
const gh_plugin_descriptor kDescriptor = gatehouse::describe<Acl>(
    "acl", "1.0.0", "Allows or denies requests by the roles of the authenticated consumer", kSchema,
    950, GH_PHASE_REQUEST, 0, 1);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
