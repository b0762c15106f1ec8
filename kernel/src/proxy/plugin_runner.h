#pragma once

#include <string>

#include "observe/event_log.h"
#include "proxy/exchange.h"

namespace gatehouse::proxy {

/// What running (part of) a chain phase decided.
enum class ChainOutcome {
    kContinue,  // every plugin said CONTINUE: go on
    kRespond,   // a plugin prepared a response (on_request only)
    kPaused,    // a plugin paused; its resumer will run the phase again
    kFailed,    // a plugin failed or returned garbage: answer 500
};

/// Runs the plugin chain's phases for one exchange. Stateless: the state is the exchange's
/// PluginState, so a paused phase continues where it stopped.
class PluginRunner {
public:
    explicit PluginRunner(observe::EventLog& log) : log_(log) {}

    /// on_request, in priority order, from where the exchange stopped.
    ChainOutcome request(Exchange& ex);
    /// on_response, in reverse, over the entries that saw the request.
    ChainOutcome response(Exchange& ex);
    /// on_log over the entries that saw the request, then on_done for every req_ctx. Once.
    void end(Exchange& ex);

    /// Whether the response phase has anything to run for this exchange.
    static bool hasResponseWork(const Exchange& ex);
    /// The name of the plugin that last failed (for the 500's message).
    const std::string& lastFailure() const { return lastFailure_; }

private:
    ChainOutcome fail(Exchange& ex, size_t entry, const std::string& why);
    bool consumerMatches(const plugins::ChainEntry& e, const PluginState& ps) const;

    observe::EventLog& log_;
    std::string lastFailure_;
};

}  // namespace gatehouse::proxy
