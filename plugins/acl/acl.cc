// acl: lets a request through by the roles of who made it. The roles are those of the
// consumer an authentication plugin identified (key-auth, basic-auth, jwt-auth with a
// consumer's credential) and those an issuer's token grants (jwt-auth roles_claim, handed
// over in the request variable auth.roles), never anything the client could set itself:
// headers are not read.
//
//   {"allow": ["admin", "ops"]}   or   {"deny": ["suspended"]}   (both may be given)

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
                     "description": "Deprecated and ignored (a client could send it): use jwt-auth roles_claim"}
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
        // Kept loadable so that configurations written for acl 1.0 still load; it now fails
        // closed (roles come only from the consumer and the token).
        if (o->has("roles_header") && !o->get("roles_header").isEmpty())
            log(GH_LOG_WARN,
                "roles_header is ignored (a client could send it); give jwt-auth a roles_claim");
    }

    Action onRequest(Request& r, void**) override {
        std::vector<std::string> roles;
        // Authenticated: an authentication plugin set a consumer, or vouched for the request.
        const bool identified =
            !r.consumerId().empty() || r.var(gatehouse::auth::kVarMethod).has_value();
        if (const auto c = r.consumer()) roles = split(c->roles);
        if (const auto granted = r.var(gatehouse::auth::kVarRoles))
            for (auto& role : split(*granted))
                roles.push_back(std::move(role));
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
};

// After authentication (key-auth 1250, jwt-auth 1450), before traffic plugins.
const gh_plugin_descriptor kDescriptor = gatehouse::describe<Acl>(
    "acl", "1.1.0", "Allows or denies requests by the roles of the authenticated consumer", kSchema,
    950, GH_PHASE_REQUEST, GH_FEATURE_CONSUMERS | GH_FEATURE_VARS, 2);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
