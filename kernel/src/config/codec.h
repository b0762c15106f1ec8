#pragma once

#include <Poco/JSON/Object.h>

#include <map>
#include <stdexcept>
#include <string>

#include "config/model.h"

namespace gatehouse::config {

/// JSON path of a field ("routes[2].match.paths[0]") → what is wrong with it.
using FieldErrors = std::map<std::string, std::string>;

/// Thrown when input fails validation; `fields` names every offending field.
struct ValidationError : std::runtime_error {
    ValidationError(const std::string& what, FieldErrors f)
        : std::runtime_error(what), fields(std::move(f)) {}
    FieldErrors fields;
};

/// JSON → model, validating every field. Unknown fields are errors (a typo must not be
/// silently ignored). Missing ids are generated. `path` prefixes every error key ("" for a
/// single entity, "routes[3]" inside a document).
UpstreamSpec upstreamFromJson(const Poco::JSON::Object::Ptr& o, const std::string& path,
                              FieldErrors& errors);
RouteSpec routeFromJson(const Poco::JSON::Object::Ptr& o, const std::string& path,
                        FieldErrors& errors);

/// Parses and validates a whole configuration document: {"upstreams": [...], "routes": [...]}.
/// Cross-references are checked too (route → upstream, unique names and ids, regexes
/// compile). Throws ValidationError.
ConfigDocument documentFromJson(const std::string& text);

/// Checks what single-entity parsing cannot: unique names/ids, references. Adds to `errors`.
void validateDocument(const ConfigDocument& doc, FieldErrors& errors);

Poco::JSON::Object::Ptr toJson(const UpstreamSpec& u);
Poco::JSON::Object::Ptr toJson(const RouteSpec& r);
Poco::JSON::Object::Ptr toJson(const PluginSpec& p);

/// The plugin's own config is only checked to be an object here; its JSON Schema is applied
/// when the snapshot is built (the plugin must be loaded for that).
PluginSpec pluginFromJson(const Poco::JSON::Object::Ptr& o, const std::string& path,
                          FieldErrors& errors);
/// Consumers and their credentials. The stored form (store, history, export) keeps what
/// verification needs: key and password hashes, JWT HMAC secrets. The API view leaves out
/// hashes and secrets: they are shown once, when created, and never again.
enum class SecretView { kStored, kApi };
ConsumerSpec consumerFromJson(const Poco::JSON::Object::Ptr& o, const std::string& path,
                              FieldErrors& errors);
/// A credential: `key` / `password` are hashed here; `key_hash` / `password_hash` are taken
/// as stored.
CredentialSpec credentialFromJson(const Poco::JSON::Object::Ptr& o, const std::string& path,
                                  FieldErrors& errors);
Poco::JSON::Object::Ptr toJson(const ConsumerSpec& c, SecretView secrets = SecretView::kStored);
Poco::JSON::Object::Ptr toJson(const CredentialSpec& c, SecretView secrets);
Poco::JSON::Object::Ptr toJson(const ConfigDocument& d);
/// Pretty-printed JSON of a document (export).
std::string toJsonText(const ConfigDocument& d);

std::string newUuid();
bool isValidName(const std::string& name);

/// "a.b: reason; c: reason" for one-line reports (CLI).
std::string summarize(const FieldErrors& errors);

}  // namespace gatehouse::config
