#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/model.h"
#include "config/store.h"

namespace gatehouse::config {

/// What replacing `before` with `after` changes, entity by entity, matched by id (ids and
/// timestamps aside, an entity is changed when its JSON differs, or for a route its
/// position). Entities of `after` that change get updated_at = now (and created_at = now when
/// new) before their JSON is recorded. Upstreams first, then routes.
std::vector<StoredChange> computeChanges(const ConfigDocument& before, ConfigDocument& after,
                                         int64_t now);

/// "+ route api", "- upstream old", "~ route web", "~ route web (renamed from www)".
std::string describe(const StoredChange& change);

/// "+2 ~1 -0" style counts for a history summary.
std::string countSummary(const std::vector<StoredChange>& changes);

/// Gives entities of `incoming` that have no explicit id the id and created_at of the stored
/// entity with the same name, so re-importing a file does not churn identities.
void adoptStoredIdentities(const ConfigDocument& stored, ConfigDocument& incoming);

/// Route positions for a whole-document replacement: routes keep their stored positions
/// when the order allows it (so an unchanged import records no change), otherwise they are
/// renumbered in document order.
void assignRoutePositions(const ConfigDocument& stored, ConfigDocument& incoming);

}  // namespace gatehouse::config
