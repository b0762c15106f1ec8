#include "proxy/plugin_runner.h"

namespace gatehouse::proxy {

bool PluginRunner::consumerMatches(const plugins::ChainEntry& e, const PluginState& ps) const {
    return e.consumer.empty() || e.consumer == ps.consumerId || e.consumer == ps.consumerName;
}

ChainOutcome PluginRunner::fail(Exchange& ex, size_t entry, const std::string& why) {
    PluginState& ps = ex.plugins;
    const std::string& name = ps.chain->entries[entry].instance->plugin().name;
    lastFailure_ = "plugin " + name + " failed";
    log_.emit(observe::Level::kError, "plugin_failed",
              {{"plugin", std::string_view(name)},
               {"reason", std::string_view(why)},
               {"request_id", ex.requestId}});
    ps.phase = PluginState::Phase::kNone;
    ps.paused = false;
    return ChainOutcome::kFailed;
}

ChainOutcome PluginRunner::request(Exchange& ex) {
    PluginState& ps = ex.plugins;
    const auto& entries = ps.chain->entries;
    ps.phase = PluginState::Phase::kRequest;
    ps.paused = false;
    while (ps.requestCursor < entries.size()) {
        const size_t i = ps.requestCursor;
        const plugins::ChainEntry& e = entries[i];
        const plugins::LoadedPlugin& plugin = e.instance->plugin();
        if (!consumerMatches(e, ps)) {
            ++ps.requestCursor;
            continue;
        }
        // Reached: its on_response and on_log run too, also when it has no on_request (a
        // response-only plugin).
        ps.saw[i] = 1;
        if (!plugin.onRequest) {
            ++ps.requestCursor;
            continue;
        }
        ps.current = i;
        ps.pauseIssued = false;
        ps.response.reset();
        const int32_t action = plugin.onRequest(e.instance->handle(), &ex.handle, &ps.ctx[i]);
        ps.current = PluginState::kNoEntry;
        switch (action) {
            case GH_CONTINUE:
                ++ps.requestCursor;
                break;
            case GH_RESPOND:
                if (!ps.response) return fail(ex, i, "returned RESPOND without calling respond()");
                ++ps.requestCursor;
                ps.phase = PluginState::Phase::kNone;
                return ChainOutcome::kRespond;
            case GH_PAUSE:
                if (!ps.pauseIssued) return fail(ex, i, "returned PAUSE without calling pause()");
                ps.paused = true;
                return ChainOutcome::kPaused;
            case GH_FAIL:
                return fail(ex, i, "returned FAIL from on_request");
            default:
                return fail(
                    ex, i,
                    "returned an unknown action (" + std::to_string(action) + ") from on_request");
        }
    }
    ps.phase = PluginState::Phase::kNone;
    return ChainOutcome::kContinue;
}

ChainOutcome PluginRunner::response(Exchange& ex) {
    PluginState& ps = ex.plugins;
    const auto& entries = ps.chain->entries;
    if (!ps.responsePhaseStarted) {
        ps.responsePhaseStarted = true;
        ps.responseCursor = entries.size();
    }
    ps.phase = PluginState::Phase::kResponse;
    ps.paused = false;
    while (ps.responseCursor > 0) {
        const size_t i = ps.responseCursor - 1;
        const plugins::LoadedPlugin& plugin = entries[i].instance->plugin();
        if (!ps.saw[i] || !plugin.onResponse) {
            --ps.responseCursor;
            continue;
        }
        ps.current = i;
        ps.pauseIssued = false;
        const int32_t action =
            plugin.onResponse(entries[i].instance->handle(), &ex.handle, &ps.ctx[i]);
        ps.current = PluginState::kNoEntry;
        switch (action) {
            case GH_CONTINUE:
                --ps.responseCursor;
                break;
            case GH_PAUSE:
                if (!ps.pauseIssued) return fail(ex, i, "returned PAUSE without calling pause()");
                ps.paused = true;
                return ChainOutcome::kPaused;
            case GH_FAIL:
                return fail(ex, i, "returned FAIL from on_response");
            default:
                return fail(ex, i,
                            "returned an unexpected action (" + std::to_string(action) +
                                ") from on_response");
        }
    }
    ps.phase = PluginState::Phase::kNone;
    return ChainOutcome::kContinue;
}

bool PluginRunner::hasResponseWork(const Exchange& ex) {
    const PluginState& ps = ex.plugins;
    if (!ps.chain || !(ps.chain->phases & (GH_PHASE_RESPONSE | GH_PHASE_RESPONSE_BODY)))
        return false;
    for (size_t i = 0; i < ps.saw.size(); ++i)
        if (ps.saw[i] && ps.chain->entries[i].instance->plugin().onResponse) return true;
    return false;
}

void PluginRunner::end(Exchange& ex) {
    PluginState& ps = ex.plugins;
    if (!ps.chain || ps.ended) return;
    ps.ended = true;
    ps.paused = false;
    if (ps.token) ps.token->connection = nullptr;  // a late resume finds nothing
    const auto& entries = ps.chain->entries;
    ps.phase = PluginState::Phase::kLog;
    for (size_t i = 0; i < entries.size(); ++i) {
        const plugins::LoadedPlugin& plugin = entries[i].instance->plugin();
        if (!plugin.onLog) continue;
        // Reached, or it asked to see every request of the route (an access log).
        if (!ps.saw[i] && !((plugin.phases & GH_PHASE_LOG_ALL) && consumerMatches(entries[i], ps)))
            continue;
        ps.current = i;
        plugin.onLog(entries[i].instance->handle(), &ex.handle, &ps.ctx[i]);  // result ignored
    }
    ps.current = PluginState::kNoEntry;
    ps.phase = PluginState::Phase::kNone;
    for (size_t i = 0; i < entries.size(); ++i) {
        if (!ps.ctx[i]) continue;
        const plugins::LoadedPlugin& plugin = entries[i].instance->plugin();
        if (plugin.onDone) plugin.onDone(entries[i].instance->handle(), ps.ctx[i]);
        ps.ctx[i] = nullptr;
    }
}

}  // namespace gatehouse::proxy
