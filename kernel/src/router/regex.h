#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>
#include <string>
#include <string_view>

namespace gatehouse::router {

/// Per-thread scratch for regex matching: match data, a JIT stack and a match context with
/// limits. Patterns are shared by all workers; scratch never is.
class RegexScratch {
public:
    RegexScratch();
    ~RegexScratch();
    RegexScratch(const RegexScratch&) = delete;
    RegexScratch& operator=(const RegexScratch&) = delete;

    pcre2_match_data* data() { return data_; }
    pcre2_match_context* context() { return context_; }

private:
    pcre2_match_data* data_;
    pcre2_match_context* context_;
    pcre2_jit_stack* jitStack_;
};

/// A compiled, JIT-ed PCRE2 pattern. Matching a hostile 8 KiB path cannot overflow a stack or
/// run unbounded: the JIT stack and match limit make a pathological match fail (no match).
class Regex {
public:
    static std::unique_ptr<Regex> compile(std::string_view pattern, std::string* error);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    /// True on a match; captures are then in scratch.data().
    bool match(std::string_view subject, RegexScratch& scratch) const;
    uint32_t captureCount() const { return captures_; }
    const std::string& pattern() const { return pattern_; }

private:
    Regex() = default;
    pcre2_code* code_ = nullptr;
    uint32_t captures_ = 0;
    std::string pattern_;
};

}  // namespace gatehouse::router
