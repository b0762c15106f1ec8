#pragma once

#include <map>
#include <memory>
#include <string>

namespace valijson {
class Schema;
}

namespace gatehouse::plugins {

/// A plugin's configuration JSON Schema, compiled once with valijson.
class SchemaValidator {
public:
    /// nullptr and a reason when the text is not JSON or not a usable schema.
    static std::unique_ptr<SchemaValidator> compile(const std::string& schemaText,
                                                    std::string* error);
    ~SchemaValidator();

    /// Errors keyed by JSON path under `prefix` ("config.name", "config.items[2]"); empty
    /// when `configJson` is valid.
    std::map<std::string, std::string> validate(const std::string& configJson,
                                                const std::string& prefix) const;

private:
    SchemaValidator();
    std::unique_ptr<valijson::Schema> schema_;
};

}  // namespace gatehouse::plugins
