#pragma once

#include <string>
#include <vector>

#include "config/model.h"

namespace gatehouse::config {

/// What replacing `before` with `after` changes, one line per entity:
/// "+ route api", "- upstream old", "~ route web". Entities are matched by name; ids and
/// timestamps are ignored.
std::vector<std::string> diffDocuments(const ConfigDocument& before, const ConfigDocument& after);

/// Gives entities of `incoming` that have no explicit id the id and created_at of the stored
/// entity with the same name, so re-importing a file does not churn identities.
void adoptStoredIdentities(const ConfigDocument& stored, ConfigDocument& incoming);

}  // namespace gatehouse::config
