// basic-auth: authenticates `Authorization: Basic` against consumers' basic-auth credentials,
// whose passwords the host stores under PBKDF2-SHA256. A PBKDF2 check takes tens of
// milliseconds on purpose, so it never runs on a worker: the request pauses, one of the
// instance's verifier threads checks the password, and resumes it. Verdicts are remembered
// (keyed by a salted hash of credential, stored hash and password): successes for
// `cache_ttl_s`, so a client that sends the same credentials on every request pays once, and
// failures for `failure_cache_ttl_s`, so replaying one wrong password costs nothing. A check
// whose client went away meanwhile is skipped.
//
//   {"realm": "gatehouse", "hide_credentials": true, "anonymous": null, "cache_ttl_s": 300}

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <gatehouse/plugin.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
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
    "realm": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^\"\\\\]*$", "default": "gatehouse"},
    "hide_credentials": {"type": "boolean", "default": true,
                         "description": "Remove the Authorization header before the request goes upstream"},
    "anonymous": {"type": ["string", "null"], "minLength": 1, "maxLength": 128,
                  "description": "Consumer (username or id) for requests without credentials; null = refuse them"},
    "cache_ttl_s": {"type": "integer", "minimum": 0, "maximum": 86400, "default": 300,
                    "description": "How long a verified password is remembered (0 = verify every request)"},
    "failure_cache_ttl_s": {"type": "integer", "minimum": 0, "maximum": 3600, "default": 30,
                            "description": "How long a wrong password is remembered as wrong (0 = never)"},
    "verifiers": {"type": "integer", "minimum": 1, "maximum": 16, "default": 2,
                  "description": "Threads that check passwords"},
    "max_pending": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 1024,
                    "description": "Password checks that may wait for a verifier; beyond, 503"}
  }
})JSON";

std::optional<std::string> base64Decode(std::string_view in) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    size_t pad = 0;
    for (char c : in) {
        if (c == '=') {
            ++pad;
            continue;
        }
        if (pad) return std::nullopt;  // data after padding
        const size_t v = kAlphabet.find(c);
        if (v == std::string_view::npos) return std::nullopt;
        acc = acc << 6 | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
    if (pad > 2) return std::nullopt;
    return out;
}

std::string base64Encode(const unsigned char* p, size_t n) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < n; i += 3) {
        const uint32_t v = static_cast<uint32_t>(p[i]) << 16 |
                           (i + 1 < n ? static_cast<uint32_t>(p[i + 1]) << 8 : 0) |
                           (i + 2 < n ? p[i + 2] : 0);
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=');
        out.push_back(i + 2 < n ? kAlphabet[v & 63] : '=');
    }
    return out;
}

/// "$pbkdf2-sha256$i=N$salt$hash" (standard base64) against `password`, in constant time.
bool verifyPbkdf2(std::string_view password, std::string_view phc) {
    constexpr std::string_view kPrefix = "$pbkdf2-sha256$i=";
    if (phc.substr(0, kPrefix.size()) != kPrefix) return false;
    phc.remove_prefix(kPrefix.size());
    const size_t d1 = phc.find('$');
    if (d1 == std::string_view::npos || d1 == 0 || d1 > 9) return false;
    unsigned long iterations = 0;
    for (char c : phc.substr(0, d1)) {
        if (c < '0' || c > '9') return false;
        iterations = iterations * 10 + static_cast<unsigned long>(c - '0');
    }
    const size_t d2 = phc.find('$', d1 + 1);
    if (d2 == std::string_view::npos || iterations < 1000 || iterations > 10'000'000) return false;
    const auto salt = base64Decode(phc.substr(d1 + 1, d2 - d1 - 1));
    const auto hash = base64Decode(phc.substr(d2 + 1));
    if (!salt || !hash || hash->size() != 32) return false;
    unsigned char out[32];
    if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt->data()),
                          static_cast<int>(salt->size()), static_cast<int>(iterations),
                          EVP_sha256(), sizeof out, out) != 1)
        return false;
    return CRYPTO_memcmp(out, hash->data(), sizeof out) == 0;
}

std::string sha256(std::string_view data) {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(md), len);
}

/// Per-request state across the pause: the verdict the verifier thread leaves. Shared by
/// the request (through *req_ctx) and the verifier's job, since a request may end (client
/// gone) while its check is still queued.
struct Check {
    enum : int { kPending, kGood, kBad, kBusy };
    std::atomic<int> verdict{kPending};
    std::atomic<bool> abandoned{false};  // the request ended: no need to check
    std::string username;                // what was checked (finish() looks it up again)
};
using CheckRef = std::shared_ptr<Check>;

class BasicAuth final : public gatehouse::Plugin {
public:
    BasicAuth(const gh_host_api* host, gh_instance_host* instance, std::string_view config)
        : Plugin(host, instance) {
        if (!hostHasFeatures(GH_FEATURE_CONSUMERS | GH_FEATURE_PAUSE))
            throw std::runtime_error("this gateway has no consumer lookup (plugin ABI 1.1)");
        Poco::JSON::Parser parser;
        const auto o = parser.parse(std::string(config)).extract<Poco::JSON::Object::Ptr>();
        challenge_ = "Basic realm=\"" + o->optValue<std::string>("realm", "gatehouse") +
                     "\", charset=\"UTF-8\"";
        hideCredentials_ = o->optValue<bool>("hide_credentials", true);
        if (o->has("anonymous") && !o->get("anonymous").isEmpty())
            anonymous_ = o->getValue<std::string>("anonymous");
        cacheTtl_ = std::chrono::seconds(o->optValue<int>("cache_ttl_s", 300));
        failureTtl_ = std::chrono::seconds(o->optValue<int>("failure_cache_ttl_s", 30));
        maxPending_ = static_cast<size_t>(o->optValue<int>("max_pending", 1024));
        unsigned char pepper[16];
        if (RAND_bytes(pepper, sizeof pepper) != 1) throw std::runtime_error("no randomness");
        pepper_.assign(reinterpret_cast<char*>(pepper), sizeof pepper);
        dummy_ = makeDummyHash();
        const int verifiers = o->optValue<int>("verifiers", 2);
        for (int i = 0; i < verifiers; ++i)
            verifiers_.emplace_back([this] { verifyLoop(); });
    }

    ~BasicAuth() override {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        for (auto& t : verifiers_)
            t.join();  // they resume whatever they still held (those requests end as failed)
    }

    Action onRequest(Request& r, void** ctx) override {
        if (*ctx) return finish(r, ctx);  // resumed: the verifier has decided
        if (gatehouse::auth::authenticatedEarlier(r)) return Action::Continue;
        gatehouse::auth::beginAuthentication(r);

        const auto first = r.requestHeader("Authorization", 0);
        if (r.requestHeader("Authorization", 1))
            return refuse(r, "more than one Authorization header");
        std::string_view auth = first.value_or("");
        const bool basic =
            auth.size() > 6 && (auth.substr(0, 6) == "Basic " || auth.substr(0, 6) == "basic ");
        if (!basic) {
            if (!anonymous_.empty())
                return gatehouse::auth::admitAnonymous(r, anonymous_, "basic-auth");
            return refuse(r, first ? "not Basic credentials" : "no credentials in request");
        }
        auth.remove_prefix(6);
        while (!auth.empty() && auth.front() == ' ')
            auth.remove_prefix(1);
        const auto decoded = base64Decode(auth);
        const size_t colon = decoded ? decoded->find(':') : std::string::npos;
        if (!decoded || colon == std::string::npos) return refuse(r, "malformed Basic credentials");
        const std::string username = decoded->substr(0, colon);
        const std::string password = decoded->substr(colon + 1);

        gatehouse::Credential credential;
        const auto consumer = r.findCredential(GH_CREDENTIAL_BASIC_AUTH, username, &credential);
        // An unknown username is checked against a dummy hash too, so its answer takes as
        // long as a wrong password's: response times do not tell which usernames exist.
        const std::string phc = consumer ? std::string(credential.secret) : dummy_;
        const std::string cacheKey =
            sha256(pepper_ + std::string(credential.id) + '\0' + phc + '\0' + password);
        if (const auto verdict = cached(cacheKey)) {
            if (*verdict && consumer) return accept(r, *consumer, credential.id);
            if (!*verdict) return refuse(r, "invalid credentials");
        }

        auto check = std::make_shared<Check>();
        check->username = username;
        *ctx = new CheckRef(check);
        gh_resumer* resumer = r.pause();
        if (!resumer) return gatehouse::auth::reject(r, 500, "cannot pause to verify credentials");
        {
            std::lock_guard lock(mutex_);
            if (queue_.size() >= maxPending_) {
                check->verdict = Check::kBusy;
                resume(resumer);
                return Action::Pause;  // resumed at once; finish() answers 503
            }
            queue_.push_back({resumer, check, password, phc, cacheKey, consumer.has_value()});
        }
        wake_.notify_one();
        return Action::Pause;
    }

    void onDone(void* ctx) override {
        auto* check = static_cast<CheckRef*>(ctx);
        if (check) (*check)->abandoned = true;
        delete check;
    }

private:
    struct Job {
        gh_resumer* resumer;
        CheckRef check;
        std::string password;
        std::string phc;
        std::string cacheKey;
        bool known;
    };

    Action finish(Request& r, void** ctx) {
        const int verdict = (*static_cast<CheckRef*>(*ctx))->verdict.load();
        if (verdict == Check::kBusy)
            return gatehouse::auth::reject(r, 503, "too many credential checks in progress",
                                           {{"Retry-After", "1"}});
        if (verdict != Check::kGood) return refuse(r, "invalid credentials");
        // Look the consumer up again: it is this request's snapshot, and cheap.
        gatehouse::Credential credential;
        const auto consumer = r.findCredential(
            GH_CREDENTIAL_BASIC_AUTH, (*static_cast<CheckRef*>(*ctx))->username, &credential);
        if (!consumer) return refuse(r, "invalid credentials");
        return accept(r, *consumer, credential.id);
    }

    Action accept(Request& r, const gatehouse::Consumer& c, std::string_view credentialId) {
        r.setConsumer(c.id, c.username);
        gatehouse::auth::setIdentityHeaders(r, c, credentialId);
        gatehouse::auth::markAuthenticated(r, "basic-auth");
        if (hideCredentials_) r.removeHeader(Message::Request, "Authorization");
        return Action::Continue;
    }

    Action refuse(Request& r, std::string_view why) {
        return gatehouse::auth::reject(r, 401, why, {{"WWW-Authenticate", challenge_}});
    }

    /// The remembered verdict for `key`: true (good), false (bad) or none.
    std::optional<bool> cached(const std::string& key) {
        std::lock_guard lock(mutex_);
        auto it = cache_.find(key);
        if (it == cache_.end()) return std::nullopt;
        if (std::chrono::steady_clock::now() >= it->second.until) {
            cache_.erase(it);
            return std::nullopt;
        }
        return it->second.good;
    }

    /// A real hash of a random password, at the host's default cost, for unknown usernames.
    static std::string makeDummyHash() {
        unsigned char salt[16], password[16], hash[32];
        if (RAND_bytes(salt, sizeof salt) != 1 || RAND_bytes(password, sizeof password) != 1)
            throw std::runtime_error("no randomness");
        if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(password), sizeof password, salt,
                              sizeof salt, 210000, EVP_sha256(), sizeof hash, hash) != 1)
            throw std::runtime_error("PBKDF2 failed");
        return "$pbkdf2-sha256$i=210000$" + base64Encode(salt, sizeof salt) + "$" +
               base64Encode(hash, sizeof hash);
    }

    void verifyLoop() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping
            Job job = std::move(queue_.front());
            queue_.pop_front();
            const bool stopping = stop_;
            lock.unlock();
            const bool skip = stopping || job.check->abandoned;
            const bool good = !skip && verifyPbkdf2(job.password, job.phc) && job.known;
            job.check->verdict = good ? Check::kGood : Check::kBad;
            lock.lock();
            const auto ttl = good ? cacheTtl_ : failureTtl_;
            if (!skip && ttl.count() > 0) {
                if (cache_.size() >= 100000) cache_.clear();  // bounded; rebuilt on demand
                cache_[job.cacheKey] = {std::chrono::steady_clock::now() + ttl, good};
            }
            lock.unlock();
            resume(job.resumer);
            lock.lock();
        }
    }

    std::string challenge_;
    bool hideCredentials_ = true;
    std::string anonymous_;
    std::chrono::seconds cacheTtl_{300};
    std::chrono::seconds failureTtl_{30};
    size_t maxPending_ = 1024;
    std::string pepper_;
    std::string dummy_;

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> queue_;
    struct Verdict {
        std::chrono::steady_clock::time_point until;
        bool good;
    };
    std::unordered_map<std::string, Verdict> cache_;
    bool stop_ = false;
    std::vector<std::thread> verifiers_;
};

const gh_plugin_descriptor kDescriptor = gatehouse::describe<BasicAuth>(
    "basic-auth", "1.1.0", "Authenticates requests by a consumer's username and password", kSchema,
    1100, GH_PHASE_REQUEST, GH_FEATURE_CONSUMERS | GH_FEATURE_PAUSE | GH_FEATURE_VARS, 2);

}  // namespace

extern "C" GH_EXPORT const gh_plugin_descriptor* gatehouse_plugin_entry_v1(const gh_host_api*,
                                                                           uint32_t index) {
    return index == 0 ? &kDescriptor : nullptr;
}
