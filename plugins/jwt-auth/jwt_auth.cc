// jwt-auth: authenticates a request by a signed JWT (JWS compact, RFC 7515/7519).
//
// Keys come from, in this order: the consumers' jwt credentials (found by the token's kid,
// else its iss; the consumer becomes the request's consumer), the static `jwks` of the
// config, and the JWK Set at `jwks_uri`, which a thread of the instance fetches off the
// workers, refreshes periodically, backs off on failure (cached keys keep verifying) and
// refetches for an unknown kid at most once per `jwks_min_refetch_s` — a request with such a
// kid pauses until that refetch is done. The algorithm is always the key's, never the token's.
//
// Whose word a token's claims are depends on who holds the signing key. An issuer's keys
// (jwks, jwks_uri) vouch for the claims: they become headers (claims_to_headers) and the
// roles acl checks (roles_claim -> request variable auth.roles). A consumer's credential is
// the consumer's own key, so its tokens say only who the consumer is: their claims are used
// only with trust_consumer_claims (for credentials that hold an issuer's public key).
//
//   {"issuers": ["https://idp.example"], "audiences": ["orders"],
//    "claims_to_headers": {"sub": "X-User-Id", "role": "X-User-Role"}, "roles_claim": "roles",
//    "jwks_uri": "https://idp.example/.well-known/jwks.json"}

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <gatehouse/plugin.hpp>

#include <chrono>
#include <condition_variable>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "auth_common.h"
#include "jwt.h"

namespace {

using gatehouse::Action;
using gatehouse::Message;
using gatehouse::Request;
using Clock = std::chrono::steady_clock;

constexpr const char* kSchema = R"JSON({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "header_names": {"type": "array", "maxItems": 8, "uniqueItems": true, "default": ["Authorization"],
                     "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"},
                     "description": "Headers carrying 'Bearer <token>'"},
    "cookie_names": {"type": "array", "maxItems": 8, "uniqueItems": true, "default": [],
                     "items": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"}},
    "query_param_names": {"type": "array", "maxItems": 8, "uniqueItems": true, "default": [],
                          "items": {"type": "string", "minLength": 1, "maxLength": 64}},
    "require_exp": {"type": "boolean", "default": true},
    "clock_skew_s": {"type": "integer", "minimum": 0, "maximum": 3600, "default": 60},
    "issuers": {"type": "array", "maxItems": 64, "items": {"type": "string", "minLength": 1}},
    "audiences": {"type": "array", "maxItems": 64, "items": {"type": "string", "minLength": 1}},
    "claims_to_headers": {"type": "object", "maxProperties": 32,
                          "additionalProperties": {"type": "string", "pattern": "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$"},
                          "description": "claim name -> request header; client copies of these headers are removed"},
    "roles_claim": {"type": "string", "minLength": 1, "maxLength": 64,
                    "description": "Claim with the token's roles (array of strings, or one string of space-separated roles), handed to acl as request variable auth.roles"},
    "consumer_credentials": {"type": "boolean", "default": true,
                             "description": "Accept tokens signed with a consumer's jwt credential"},
    "trust_consumer_claims": {"type": "boolean", "default": false,
                              "description": "Apply claims_to_headers and roles_claim to tokens signed with a consumer's credential too (only when every such credential holds a trusted issuer's key)"},
    "jwks": {"type": "object", "required": ["keys"], "properties": {"keys": {"type": "array"}},
             "description": "A static JWK Set of public keys (RSA, EC); HMAC secrets belong in consumer credentials"},
    "jwks_uri": {"type": "string", "pattern": "^https?://", "maxLength": 2048},
    "allow_insecure_jwks_uri": {"type": "boolean", "default": false,
                                "description": "Allow an http:// jwks_uri (keys fetched without TLS can be forged on the way)"},
    "jwks_refresh_s": {"type": "integer", "minimum": 10, "maximum": 86400, "default": 300},
    "jwks_min_refetch_s": {"type": "integer", "minimum": 1, "maximum": 86400, "default": 60,
                           "description": "An unknown kid refetches the JWK Set at most this often"},
    "jwks_timeout_ms": {"type": "integer", "minimum": 100, "maximum": 60000, "default": 3000},
    "anonymous": {"type": ["string", "null"], "minLength": 1, "maxLength": 128},
    "token_cache_ttl_s": {"type": "integer", "minimum": 0, "maximum": 3600, "default": 300,
                          "description": "Remember verified tokens this long (never past exp); 0 = verify every time"},
    "hide_credentials": {"type": "boolean", "default": false},
    "realm": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\"\\\\]*$", "default": "gatehouse"}
  }
})JSON";

std::vector<std::string> strings(const Poco::JSON::Object::Ptr& o, const char* key,
                                 std::vector<std::string> fallback = {}) {
    const auto a = o->getArray(key);
    if (!a) return fallback;
    std::vector<std::string> out;
    for (size_t i = 0; i < a->size(); ++i)
        out.push_back(a->getElement<std::string>(static_cast<unsigned>(i)));
    return out;
}

/// The JWK Set behind a jwks_uri: fetched by the instance's own thread, never a worker's.
class JwksCache {
public:
    struct Options {
        std::string uri;
        std::chrono::seconds refresh{300};
        std::chrono::seconds minRefetch{60};
        std::chrono::milliseconds timeout{3000};
    };

    JwksCache(Options o, const gatehouse::Plugin& plugin, const gh_host_api* api)
        : options_(std::move(o)), plugin_(plugin), api_(api) {
        thread_ = std::thread([this] { run(); });
    }
    ~JwksCache() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
        for (gh_resumer* r : waiters_)
            gatehouse::resume(api_, r);
    }

    std::shared_ptr<const std::vector<gatehouse::jwt::Key>> keys() const {
        std::lock_guard lock(mutex_);
        return keys_;
    }

    /// An unknown kid: queue a refetch if the last attempt is old enough. True when one is
    /// queued (or running): `resumer` is then resumed once it is done.
    bool refetchFor(gh_resumer* resumer) {
        {
            std::lock_guard lock(mutex_);
            const bool due = !fetching_ && (lastAttempt_ == Clock::time_point{} ||
                                            Clock::now() - lastAttempt_ >= options_.minRefetch);
            if (!due && !fetching_) return false;
            // A fetch under way answers this request too; only a due one starts another.
            if (resumer) waiters_.push_back(resumer);
            if (due) refetch_ = true;
        }
        wake_.notify_all();
        return true;
    }

private:
    void run() {
        std::chrono::seconds backoff{1};
        std::unique_lock lock(mutex_);
        for (;;) {
            const auto next = lastAttempt_ == Clock::time_point{} ? Clock::now() : nextFetch_;
            wake_.wait_until(lock, next, [this] { return stop_ || refetch_; });
            if (stop_) return;
            fetching_ = true;
            refetch_ = false;
            lastAttempt_ = Clock::now();
            lock.unlock();
            std::string error;
            auto fetched = fetch(&error);
            lock.lock();
            fetching_ = false;
            if (fetched) {
                keys_ = std::move(fetched);
                backoff = std::chrono::seconds(1);
                nextFetch_ = Clock::now() + options_.refresh;
            } else {
                // Keep the keys we have; try again sooner, backing off up to the refresh time.
                nextFetch_ = Clock::now() + std::min(backoff, options_.refresh);
                backoff = std::min(backoff * 2, options_.refresh);
                plugin_.log(GH_LOG_WARN, "jwks_uri " + loggable(options_.uri) + ": " + error);
            }
            std::vector<gh_resumer*> waiters;
            waiters.swap(waiters_);
            lock.unlock();
            for (gh_resumer* r : waiters)
                gatehouse::resume(api_, r);
            lock.lock();
        }
    }

    /// The URI without userinfo and query, which may hold secrets.
    static std::string loggable(const std::string& uri) {
        try {
            Poco::URI u(uri);
            u.setUserInfo("");
            u.setRawQuery("");
            return u.toString();
        } catch (const Poco::Exception&) {
            return "(unparsable URI)";
        }
    }

    std::shared_ptr<const std::vector<gatehouse::jwt::Key>> fetch(std::string* error) const {
        try {
            const Poco::URI uri(options_.uri);
            std::unique_ptr<Poco::Net::HTTPClientSession> session;
            if (uri.getScheme() == "https") {
                auto context = Poco::Net::Context::Ptr(new Poco::Net::Context(
                    Poco::Net::Context::TLS_CLIENT_USE, "", "", "",
                    Poco::Net::Context::VERIFY_STRICT, 9, true));  // the system's CA bundle
                session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(),
                                                                          uri.getPort(), context);
            } else {
                session =
                    std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
            }
            session->setTimeout(Poco::Timespan(options_.timeout.count() * 1000));
            Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, uri.getPathAndQuery(),
                                       Poco::Net::HTTPMessage::HTTP_1_1);
            req.set("Accept", "application/json");
            session->sendRequest(req);
            Poco::Net::HTTPResponse resp;
            std::istream& in = session->receiveResponse(resp);
            if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
                *error = "answered " + std::to_string(static_cast<int>(resp.getStatus()));
                return nullptr;
            }
            std::string body;
            constexpr size_t kMaxBody = 1 << 20;
            char chunk[8192];
            while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
                body.append(chunk, static_cast<size_t>(in.gcount()));
                if (body.size() > kMaxBody) {
                    *error = "JWK Set larger than 1 MiB";
                    return nullptr;
                }
            }
            std::vector<std::string> skipped;
            auto keys = gatehouse::jwt::parseJwks(body, &skipped, error);
            if (keys.empty() && !error->empty()) return nullptr;
            return std::make_shared<const std::vector<gatehouse::jwt::Key>>(std::move(keys));
        } catch (const Poco::Exception& e) {
            *error = e.displayText();
        } catch (const std::exception& e) {
            *error = e.what();
        }
        return nullptr;
    }

    const Options options_;
    const gatehouse::Plugin& plugin_;
    const gh_host_api* api_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::shared_ptr<const std::vector<gatehouse::jwt::Key>> keys_ =
        std::make_shared<const std::vector<gatehouse::jwt::Key>>();
    std::vector<gh_resumer*> waiters_;
    Clock::time_point lastAttempt_{};
    Clock::time_point nextFetch_{};
    bool refetch_ = false;
    bool fetching_ = false;
    bool stop_ = false;
    std::thread thread_;
};

/// A token verified before: what it takes to trust it again without decoding and verifying
/// it. The key it was verified with must still be the one in force (same consumer
/// credential and key material, or the same key set), and its time claims are checked again
/// at every use, so a revoked credential or an expired token fails at once.
struct Verified {
    std::string lookup;  // the kid or iss its consumer credential was found by ("": none)
    std::string credentialId;
    std::string material;  // algorithm, secret and public key it was verified with
    std::shared_ptr<const std::vector<gatehouse::jwt::Key>> keySet;  // JWKS keys it was found in
    bool staticKey = false;
    std::optional<double> exp, nbf;
    std::vector<std::pair<std::string, std::string>> headers;  // from claims_to_headers
    std::string subject, roles;                                // auth.subject, auth.roles
    Clock::time_point until;
};

/// Verified tokens by their text, in shards so that workers rarely share a lock.
class TokenCache {
public:
    std::shared_ptr<const Verified> get(const std::string& token) {
        Shard& s = shard(token);
        std::lock_guard lock(s.mutex);
        auto it = s.entries.find(token);
        if (it == s.entries.end()) return nullptr;
        if (Clock::now() >= it->second->until) {
            s.entries.erase(it);
            return nullptr;
        }
        return it->second;
    }
    void put(const std::string& token, std::shared_ptr<const Verified> v) {
        Shard& s = shard(token);
        std::lock_guard lock(s.mutex);
        if (s.entries.size() >= kPerShard) s.entries.clear();  // bounded; refilled on demand
        s.entries[token] = std::move(v);
    }
    void erase(const std::string& token) {
        Shard& s = shard(token);
        std::lock_guard lock(s.mutex);
        s.entries.erase(token);
    }

private:
    static constexpr size_t kShards = 16, kPerShard = 1024;
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, std::shared_ptr<const Verified>> entries;
    };
    Shard& shard(const std::string& token) {
        return shards_[std::hash<std::string>{}(token) % kShards];
    }
    Shard shards_[kShards];
};

/// Per-request state across a pause for a JWKS refetch.
struct Waiting {
    bool refetched = false;
};

class JwtAuth final : public gatehouse::Plugin {
public:
    JwtAuth(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();
        headerNames_ = strings(o, "header_names", {"Authorization"});
        cookieNames_ = strings(o, "cookie_names");
        queryNames_ = strings(o, "query_param_names");
        rules_.requireExp = o->optValue<bool>("require_exp", true);
        rules_.clockSkewS = o->optValue<int>("clock_skew_s", 60);
        rules_.issuers = strings(o, "issuers");
        rules_.audiences = strings(o, "audiences");
        if (const auto c2h = o->getObject("claims_to_headers"))
            for (const auto& [claim, header] : *c2h)
                claimHeaders_.emplace_back(claim, header.toString());
        if (const auto jwks = o->getObject("jwks")) {
            std::ostringstream text;
            jwks->stringify(text);
            std::vector<std::string> skipped;
            std::string error;
            staticKeys_ = gatehouse::jwt::parseJwks(text.str(), &skipped, &error);
            if (!error.empty()) throw std::runtime_error("jwks: " + error);
            if (!skipped.empty()) throw std::runtime_error("jwks: " + skipped.front());
            // Plugin configurations are shown by the admin API: no secrets in them.
            for (const auto& k : staticKeys_)
                if (gatehouse::jwt::algName(k.alg)[0] == 'H')
                    throw std::runtime_error(
                        "jwks: an HMAC (oct) key would be shown to every admin reader of this "
                        "configuration; give HMAC secrets as consumer jwt credentials");
        }
        rolesClaim_ = o->optValue<std::string>("roles_claim", "");
        trustConsumerClaims_ = o->optValue<bool>("trust_consumer_claims", false);
        if (o->has("anonymous") && !o->get("anonymous").isEmpty())
            anonymous_ = o->getValue<std::string>("anonymous");
        hideCredentials_ = o->optValue<bool>("hide_credentials", false);
        cacheTtl_ = std::chrono::seconds(o->optValue<int>("token_cache_ttl_s", 300));
        realm_ = o->optValue<std::string>("realm", "gatehouse");
        consumers_ = hostHasFeatures(GH_FEATURE_CONSUMERS) &&
                     o->optValue<bool>("consumer_credentials", true);
        if (o->has("jwks_uri")) {
            const std::string uri = o->getValue<std::string>("jwks_uri");
            if (uri.compare(0, 8, "https://") != 0 &&
                !o->optValue<bool>("allow_insecure_jwks_uri", false))
                throw std::runtime_error(
                    "jwks_uri must be https:// (or set allow_insecure_jwks_uri, for a trusted "
                    "network only)");
            if (!hostHasFeatures(GH_FEATURE_PAUSE))
                throw std::runtime_error("jwks_uri needs a gateway that can pause requests");
            JwksCache::Options jo;
            jo.uri = uri;
            jo.refresh = std::chrono::seconds(o->optValue<int>("jwks_refresh_s", 300));
            jo.minRefetch = std::chrono::seconds(o->optValue<int>("jwks_min_refetch_s", 60));
            jo.timeout = std::chrono::milliseconds(o->optValue<int>("jwks_timeout_ms", 3000));
            jwks_ = std::make_unique<JwksCache>(std::move(jo), *this, api());
        }
        if (!consumers_ && staticKeys_.empty() && !jwks_)
            throw std::runtime_error(
                "no key source: give jwks or jwks_uri (consumer credentials are off, or this "
                "gateway has none: plugin ABI 1.1)");
    }

    Action onRequest(Request& r, void** ctx) override {
        const bool resumed = *ctx != nullptr;
        if (!resumed) {
            for (const auto& [claim, header] : claimHeaders_)
                gatehouse::auth::removeBothSpellings(r, header);
            if (gatehouse::auth::authenticatedEarlier(r)) return Action::Continue;
            gatehouse::auth::beginAuthentication(r);
        }

        // Exactly one token, from any configured place.
        std::vector<std::string> tokens;
        std::string_view fromHeader;
        for (const auto& name : headerNames_)
            for (size_t nth = 0;; ++nth) {
                const auto v = r.requestHeader(name, nth);
                if (!v) break;
                std::string_view value = *v;
                if (value.size() > 7 &&
                    (value.substr(0, 7) == "Bearer " || value.substr(0, 7) == "bearer ")) {
                    value.remove_prefix(7);
                    while (!value.empty() && value.front() == ' ')
                        value.remove_prefix(1);
                    tokens.emplace_back(value);
                    fromHeader = name;
                }
            }
        for (const auto& name : cookieNames_)
            for (size_t nth = 0;; ++nth) {
                const auto v = r.requestHeader("Cookie", nth);
                if (!v) break;
                for (auto& t : cookieValues(*v, name))
                    tokens.push_back(std::move(t));
            }
        for (const auto& name : queryNames_) {
            std::string rest;
            for (auto& t : gatehouse::auth::takeQueryParam(r.query(), name, &rest))
                tokens.push_back(std::move(t));
        }
        if (tokens.empty()) {
            if (!anonymous_.empty())
                return gatehouse::auth::admitAnonymous(r, anonymous_, "jwt-auth");
            return gatehouse::auth::reject(
                r, 401, "no token in request",
                {{"WWW-Authenticate", "Bearer realm=\"" + realm_ + "\""}});
        }
        if (tokens.size() > 1) return invalid(r, "more than one token in request");
        if (cacheTtl_.count() > 0)
            if (auto v = cache_.get(tokens.front()); v && stillValid(r, *v))
                return admit(r, *v, fromHeader);

        std::string error;
        const auto token = gatehouse::jwt::decode(tokens.front(), &error);
        if (!token) return invalid(r, "malformed token");

        // The key: a consumer's credential, the static set, or the JWKS.
        std::optional<gatehouse::Consumer> consumer;
        gatehouse::Credential credential;
        std::optional<gatehouse::jwt::Key> key;
        const std::string iss = stringClaim(*token, "iss");
        if (consumers_) {
            // A token that names its key (kid) is verified with that key or not at all.
            if (token->kid)
                consumer = r.findCredential(GH_CREDENTIAL_JWT, *token->kid, &credential);
            else if (!iss.empty())
                consumer = r.findCredential(GH_CREDENTIAL_JWT, iss, &credential);
            if (consumer) {
                // A credential bound to an issuer signs only that issuer's tokens.
                if (!credential.issuer.empty() && credential.issuer != iss)
                    return invalid(r, "token issuer does not match its key");
                key = keyOf(credential, &error);
                if (!key) return invalid(r, "the consumer's key cannot be used");
            }
        }
        if (!key) key = findKey(staticKeys_, *token);
        std::shared_ptr<const std::vector<gatehouse::jwt::Key>> keySet;
        if (!key && jwks_) {
            const auto cached = jwks_->keys();
            key = findKey(*cached, *token);
            if (key) keySet = cached;
            if (!key && !resumed && token->kid) {
                // An unknown kid may be a key the issuer just rotated in: refetch (rate-limited)
                // and wait for it without holding the worker.
                gh_resumer* resumer = r.pause();
                if (resumer) {
                    *ctx = new Waiting;
                    if (jwks_->refetchFor(resumer)) return Action::Pause;
                    resume(resumer);  // not due: the handle must still be resumed once
                    return Action::Pause;
                }
            }
        }
        if (!key) return invalid(r, "no key for this token");
        if (!gatehouse::jwt::verify(*token, *key, &error)) return invalid(r, "invalid signature");
        const std::string claims = gatehouse::jwt::checkClaims(*token, std::time(nullptr), rules_);
        if (!claims.empty()) return invalid(r, claims);

        auto v = std::make_shared<Verified>();
        if (consumer) {
            v->lookup = token->kid ? *token->kid : iss;
            v->credentialId = credential.id;
            v->material = materialOf(credential);
        } else if (keySet) {
            v->keySet = std::move(keySet);
        } else {
            v->staticKey = true;
        }
        v->exp = numberClaim(*token, "exp");
        v->nbf = numberClaim(*token, "nbf");
        if (!consumer || trustConsumerClaims_) {
            v->subject = stringClaim(*token, "sub");
            for (const auto& [claim, header] : claimHeaders_) {
                std::string text = claimText(*token, claim);
                if (!text.empty()) v->headers.emplace_back(header, std::move(text));
            }
            if (!rolesClaim_.empty()) v->roles = rolesOf(*token, rolesClaim_);
        }
        v->until = Clock::now() + cacheTtl_;
        if (cacheTtl_.count() > 0) cache_.put(tokens.front(), v);
        return admit(r, *v, fromHeader);
    }

    void onDone(void* ctx) override { delete static_cast<Waiting*>(ctx); }

private:
    Action invalid(const Request& r, std::string_view why) {
        std::string description(why);
        for (char& c : description)
            if (c == '"' || c == '\\') c = '\'';
        return gatehouse::auth::reject(
            r, 401, "invalid token: " + std::string(why),
            {{"WWW-Authenticate", "Bearer realm=\"" + realm_ +
                                      "\", error=\"invalid_token\", error_description=\"" +
                                      description + "\""}});
    }

    /// Whether a cached verification still holds for this request: the same key is still in
    /// force (same credential and material, or the same key set) and the time claims pass.
    bool stillValid(Request& r, const Verified& v) {
        const double now = static_cast<double>(std::time(nullptr));
        const double skew = static_cast<double>(rules_.clockSkewS);
        if ((v.exp && *v.exp <= now - skew) || (v.nbf && *v.nbf > now + skew)) return false;
        if (!v.lookup.empty()) {
            gatehouse::Credential c;
            const auto consumer = r.findCredential(GH_CREDENTIAL_JWT, v.lookup, &c);
            return consumer && c.id == v.credentialId && materialOf(c) == v.material;
        }
        if (v.keySet) return jwks_ && jwks_->keys() == v.keySet;
        return v.staticKey;
    }

    /// Lets the request through as `v` says: its consumer, its claim headers.
    Action admit(Request& r, const Verified& v, std::string_view fromHeader) {
        if (!v.lookup.empty()) {
            gatehouse::Credential c;
            if (const auto consumer = r.findCredential(GH_CREDENTIAL_JWT, v.lookup, &c)) {
                r.setConsumer(consumer->id, consumer->username);
                gatehouse::auth::setIdentityHeaders(r, *consumer, c.id);
            }
        }
        for (const auto& [header, value] : v.headers)
            r.setHeader(Message::Request, header, value);
        gatehouse::auth::markAuthenticated(r, "jwt-auth");
        if (!v.subject.empty()) r.setVar(gatehouse::auth::kVarSubject, v.subject);
        if (!v.roles.empty()) r.setVar(gatehouse::auth::kVarRoles, v.roles);
        if (hideCredentials_ && !fromHeader.empty()) r.removeHeader(Message::Request, fromHeader);
        return Action::Continue;
    }

    /// The roles in `claim`: an array of strings, or one string of space-separated roles (as
    /// OAuth scopes are), comma-joined. Roles with a comma or a control character are left out
    /// rather than split into roles the issuer never granted.
    static std::string rolesOf(const gatehouse::jwt::Token& t, const std::string& claim) {
        if (!t.payload || !t.payload->has(claim)) return {};
        std::string out;
        auto add = [&out](std::string_view role) {
            if (role.empty() || role.size() > 256) return;
            for (char c : role)
                if (c == ',' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return;
            if (out.size() + role.size() + 1 > 4096) return;
            if (!out.empty()) out += ',';
            out += role;
        };
        if (const auto a = t.payload->getArray(claim)) {
            for (size_t i = 0; i < a->size(); ++i) {
                const auto v = a->get(static_cast<unsigned>(i));
                if (v.isString()) add(v.extract<std::string>());
            }
            return out;
        }
        const auto v = t.payload->get(claim);
        if (!v.isString()) return {};
        const std::string text = v.extract<std::string>();
        std::string_view rest = text;
        while (!rest.empty()) {
            const size_t sp = rest.find(' ');
            add(rest.substr(0, sp));
            if (sp == std::string_view::npos) break;
            rest.remove_prefix(sp + 1);
        }
        return out;
    }

    static std::string materialOf(const gatehouse::Credential& c) {
        std::string m(c.algorithm);
        m += '\n';
        m += c.secret;
        m += '\n';
        m += c.publicKey;
        m += '\n';
        m += c.issuer;
        return m;
    }

    static std::optional<double> numberClaim(const gatehouse::jwt::Token& t, const char* name) {
        if (!t.payload || !t.payload->has(name)) return std::nullopt;
        const auto v = t.payload->get(name);
        if (!v.isNumeric() || v.isBoolean()) return std::nullopt;
        return v.convert<double>();
    }

    /// A consumer credential's key, parsed once per credential (PEM parsing is not free).
    std::optional<gatehouse::jwt::Key> keyOf(const gatehouse::Credential& c, std::string* error) {
        const std::string cacheKey = std::string(c.id) + '\n' + std::string(c.algorithm) + '\n' +
                                     std::string(c.secret) + std::string(c.publicKey);
        {
            std::lock_guard lock(keysMutex_);
            if (auto it = credentialKeys_.find(cacheKey); it != credentialKeys_.end())
                return it->second;
        }
        const auto alg = gatehouse::jwt::parseAlg(c.algorithm);
        if (!alg) return std::nullopt;
        std::optional<gatehouse::jwt::Key> key =
            c.algorithm.substr(0, 2) == "HS"
                ? gatehouse::jwt::Key::hmac(*alg, std::string(c.secret), std::string(c.kid), error)
                : gatehouse::jwt::Key::publicPem(*alg, c.publicKey, std::string(c.kid), error);
        if (key) {
            std::lock_guard lock(keysMutex_);
            if (credentialKeys_.size() > 10000) credentialKeys_.clear();
            credentialKeys_.emplace(cacheKey, *key);
        }
        return key;
    }

    /// The key for a token from a key set: by kid when the token has one (and the algorithm
    /// must match the key's), else the only key of the token's algorithm.
    static std::optional<gatehouse::jwt::Key> findKey(const std::vector<gatehouse::jwt::Key>& keys,
                                                      const gatehouse::jwt::Token& t) {
        const gatehouse::jwt::Key* found = nullptr;
        for (const auto& k : keys) {
            if (t.kid ? k.kid != *t.kid : !k.kid.empty()) continue;
            if (t.alg != gatehouse::jwt::algName(k.alg)) continue;
            if (found) return std::nullopt;  // ambiguous
            found = &k;
        }
        if (!found) return std::nullopt;
        return *found;
    }

    static std::string stringClaim(const gatehouse::jwt::Token& t, const char* name) {
        if (!t.payload || !t.payload->has(name)) return {};
        const auto v = t.payload->get(name);
        return v.isString() ? v.extract<std::string>() : std::string();
    }

    /// A claim as header text: strings as they are, numbers and booleans printed, arrays of
    /// those comma-joined (leaving out elements with a comma, which would read as two); objects
    /// and anything with CR/LF are left out.
    static std::string claimText(const gatehouse::jwt::Token& t, const std::string& name) {
        if (!t.payload || !t.payload->has(name)) return {};
        auto scalar = [](const Poco::Dynamic::Var& v) -> std::string {
            if (v.isString() || v.isNumeric() || v.isBoolean()) {
                std::string s = v.toString();
                if (s.find_first_of("\r\n") != std::string::npos) return {};
                return s;
            }
            return {};
        };
        const auto v = t.payload->get(name);
        if (const auto a = t.payload->getArray(name)) {
            std::string out;
            for (size_t i = 0; i < a->size(); ++i) {
                const std::string s = scalar(a->get(static_cast<unsigned>(i)));
                if (s.empty() || s.find(',') != std::string::npos) continue;
                out += (out.empty() ? "" : ",") + s;
            }
            return out;
        }
        return scalar(v);
    }

    static std::vector<std::string> cookieValues(std::string_view header, std::string_view name) {
        std::vector<std::string> out;
        while (!header.empty()) {
            const size_t semi = header.find(';');
            std::string_view pair = header.substr(0, semi);
            while (!pair.empty() && pair.front() == ' ')
                pair.remove_prefix(1);
            const size_t eq = pair.find('=');
            if (eq != std::string_view::npos && pair.substr(0, eq) == name)
                out.emplace_back(pair.substr(eq + 1));
            if (semi == std::string_view::npos) break;
            header.remove_prefix(semi + 1);
        }
        return out;
    }

    std::vector<std::string> headerNames_, cookieNames_, queryNames_;
    gatehouse::jwt::ClaimRules rules_;
    std::vector<std::pair<std::string, std::string>> claimHeaders_;
    std::vector<gatehouse::jwt::Key> staticKeys_;
    std::unique_ptr<JwksCache> jwks_;
    std::string anonymous_;
    bool hideCredentials_ = false;
    std::string realm_;
    bool consumers_ = false;
    std::string rolesClaim_;
    bool trustConsumerClaims_ = false;
    std::chrono::seconds cacheTtl_{300};
    TokenCache cache_;
    std::mutex keysMutex_;
    std::map<std::string, gatehouse::jwt::Key> credentialKeys_;
};

// Before key-auth (1250) and basic-auth (1100): a route may accept either.
const gh_plugin_descriptor kDescriptor = gatehouse::describe<JwtAuth>(
    "jwt-auth", "1.1.0", "Authenticates requests by a signed JWT", kSchema, 1450, GH_PHASE_REQUEST,
    GH_FEATURE_PAUSE | GH_FEATURE_VARS, 2);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
