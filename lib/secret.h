// The cluster secret: one line in a root-only file, shared by the manager,
// agents and admin tools, sent as the HTTP Basic password of user "admin".
#pragma once

#include <string>

#include "lib/status.h"

namespace vastsky {

// Reads the first line (trailing whitespace trimmed). EINVAL if it is empty
// or shorter than 16 characters; warns in the log if others may read it.
Status ReadSecretFile(const std::string& path, std::string* secret);

// n characters drawn uniformly from alphabet (at most 256 distinct bytes)
// with bytes from /dev/urandom: CHAP secrets, operation ids. EIO if the
// kernel's random source cannot be read.
Status RandomString(size_t n, const std::string& alphabet, std::string* out);
// A server's own credential (manager/API.md, "Enrollment"): one line
// "USER SECRET" in a root-only file, as `vastsky ssvr enroll --out` writes
// it. EINVAL if the line is not two words or the secret is short.
Status ReadCredentialFile(const std::string& path, std::string* user, std::string* secret);

// Whether a and b are equal, in constant time: a secret cannot be guessed
// byte by byte from how long a refusal takes.
bool SameSecret(const std::string& a, const std::string& b);

constexpr const char* kAlphanumeric = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr const char* kHexDigits = "0123456789abcdef";

}  // namespace vastsky
