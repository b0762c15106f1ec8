#include "router/regex.h"

#include <new>

namespace gatehouse::router {

RegexScratch::RegexScratch() {
    data_ = pcre2_match_data_create(32, nullptr);
    context_ = pcre2_match_context_create(nullptr);
    jitStack_ = pcre2_jit_stack_create(32 * 1024, 512 * 1024, nullptr);
    if (!data_ || !context_ || !jitStack_) throw std::bad_alloc();
    pcre2_jit_stack_assign(context_, nullptr, jitStack_);
    pcre2_set_match_limit(context_, 100000);
    pcre2_set_depth_limit(context_, 1000);
}

RegexScratch::~RegexScratch() {
    pcre2_jit_stack_free(jitStack_);
    pcre2_match_context_free(context_);
    pcre2_match_data_free(data_);
}

std::unique_ptr<Regex> Regex::compile(std::string_view pattern, std::string* error) {
    int code = 0;
    PCRE2_SIZE offset = 0;
    pcre2_code* re = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0,
                                   &code, &offset, nullptr);
    if (!re) {
        PCRE2_UCHAR buf[256];
        pcre2_get_error_message(code, buf, sizeof buf);
        *error = "invalid regex at offset " + std::to_string(offset) + ": " +
                 reinterpret_cast<const char*>(buf);
        return nullptr;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if unavailable
    std::unique_ptr<Regex> r(new Regex());
    r->code_ = re;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &r->captures_);
    r->pattern_ = std::string(pattern);
    if (r->captures_ > 31) {
        *error = "regex has more than 31 capture groups";
        return nullptr;
    }
    return r;
}

Regex::~Regex() {
    pcre2_code_free(code_);
}

bool Regex::match(std::string_view subject, RegexScratch& scratch) const {
    const int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(),
                               0, 0, scratch.data(), scratch.context());
    return rc >= 0;
}

}  // namespace gatehouse::router
