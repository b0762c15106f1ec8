#pragma once

#include <string>
#include <string_view>

namespace gatehouse::http {

/// Reason phrase for a status code ("Unknown" for unlisted codes).
std::string_view reasonPhrase(int status);

/// The gateway's own error body: {"error":"...","status":502,"request_id":"..."}.
std::string errorBody(int status, std::string_view message, std::string_view requestId);

/// Appends s as a JSON string literal (with quotes), escaping as RFC 8259 requires.
void appendJsonString(std::string& out, std::string_view s);

}  // namespace gatehouse::http
