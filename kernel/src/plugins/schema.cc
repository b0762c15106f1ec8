#include "plugins/schema.h"

#include <Poco/JSON/Parser.h>

#include <valijson/adapters/poco_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace gatehouse::plugins {
namespace {

/// valijson reports a path as ["<root>", "[name]", "[2]"]: turn it into "prefix.name[2]".
std::string jsonPath(const std::vector<std::string>& context, const std::string& prefix) {
    std::string out = prefix;
    for (const auto& part : context) {
        if (part == "<root>" || part.size() < 2 || part.front() != '[') continue;
        const std::string inner = part.substr(1, part.size() - 2);
        const bool index =
            !inner.empty() && inner.find_first_not_of("0123456789") == std::string::npos;
        if (index)
            out += "[" + inner + "]";
        else
            out += (out.empty() ? "" : ".") + inner;
    }
    return out.empty() ? "config" : out;
}

}  // namespace

SchemaValidator::SchemaValidator() : schema_(std::make_unique<valijson::Schema>()) {}
SchemaValidator::~SchemaValidator() = default;

std::unique_ptr<SchemaValidator> SchemaValidator::compile(const std::string& schemaText,
                                                          std::string* error) {
    std::unique_ptr<SchemaValidator> v(new SchemaValidator());
    try {
        Poco::JSON::Parser parser;
        const Poco::Dynamic::Var doc = parser.parse(schemaText);
        valijson::SchemaParser schemaParser(valijson::SchemaParser::kDraft7);
        valijson::adapters::PocoJsonAdapter adapter(doc);
        schemaParser.populateSchema(adapter, *v->schema_);
    } catch (const Poco::Exception& e) {
        *error = "config schema is not JSON: " + e.message();
        return nullptr;
    } catch (const std::exception& e) {
        *error = std::string("config schema is not a usable JSON Schema: ") + e.what();
        return nullptr;
    }
    return v;
}

std::map<std::string, std::string> SchemaValidator::validate(const std::string& configJson,
                                                             const std::string& prefix) const {
    std::map<std::string, std::string> errors;
    Poco::Dynamic::Var doc;
    try {
        Poco::JSON::Parser parser;
        doc = parser.parse(configJson);
    } catch (const Poco::Exception& e) {
        errors.emplace(prefix, "is not JSON: " + e.message());
        return errors;
    }
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::PocoJsonAdapter target(doc);
    if (validator.validate(*schema_, target, &results)) return errors;
    valijson::ValidationResults::Error e;
    while (results.popError(e)) {
        std::string path = jsonPath(e.context, prefix);
        std::string reason = e.description;
        // valijson reports a missing or an unexpected property at the object holding it;
        // point at the property itself, as a client filling in a form needs.
        const size_t close = reason.rfind('\'');
        const size_t open = close == std::string::npos || close == 0
                                ? std::string::npos
                                : reason.rfind('\'', close - 1);
        if (open != std::string::npos) {
            const std::string property = reason.substr(open + 1, close - open - 1);
            if (reason.rfind("Missing required property", 0) == 0) {
                path += "." + property;
                reason = "is required";
            } else if (reason.find(
                           "could not be validated using 'properties' or 'additionalProperties'") !=
                       std::string::npos) {
                path += "." + property;
                reason = "unknown property";
            }
        }
        // The first (outermost) reason per path is kept: "anyOf failed" after the specific
        // reason says less.
        errors.emplace(std::move(path), std::move(reason));
    }
    return errors;
}

}  // namespace gatehouse::plugins
