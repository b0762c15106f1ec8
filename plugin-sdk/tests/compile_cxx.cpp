// plugin.hpp and testing/fake_host.hpp must compile as strict C++17 and C++20 with every
// warning an error, and plugin.h must be usable from C++ on its own.
#include "gatehouse/plugin.h"
#include "gatehouse/plugin.hpp"
#include "gatehouse/testing/fake_host.hpp"

namespace {

class Minimal : public gatehouse::Plugin {
public:
    Minimal(const gh_host_api* host, gh_instance_host* ih, std::string_view) : Plugin(host, ih) {}
};

}  // namespace

GATEHOUSE_PLUGINS(gatehouse::describe<Minimal>("minimal", "0", "header check", "{}", 0, 0))

static_assert(sizeof(gatehouse::str("x")) == sizeof(gh_str), "gh_str round trip");
