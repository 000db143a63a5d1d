// SHA-256 (FIPS 180-4), our own implementation: used to verify downloaded model files.
//
// Contract: feed bytes with update() in any chunking, then finish() once; the digest does not
// depend on how the input was split. finish() leaves the object in the finished state; call
// reset() to hash another message. Not constant-time (it only checks integrity, not secrets).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "scratchcv/status.h"

namespace scv {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256() { reset(); }
  void reset();
  void update(const void* data, size_t size);
  Digest finish();

  // Lowercase hex of a digest (64 characters).
  static std::string hex(const Digest& d);

 private:
  void compress(const uint8_t* block);  // one 64-byte block into state_
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;  // bytes waiting in buffer_ (< 64)
  uint64_t total_ = 0;   // message length in bytes so far
};

// Lowercase hex SHA-256 of a buffer.
std::string sha256_hex(const void* data, size_t size);
// Lowercase hex SHA-256 of a file, read in chunks (works for files larger than memory).
// Errors name the path and the reason.
Result<std::string> sha256_file_hex(const std::string& path);

}  // namespace scv
