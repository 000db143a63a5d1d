// A minimal reader for the zip archives torch.save writes: "stored" (uncompressed) entries,
// classic or ZIP64 end-of-central-directory records. Private to src/io.
//
// The archive is parsed in place from a caller-owned buffer that must outlive the ZipReader.
// Every offset and length read from the file is bounds-checked against the buffer; the local
// file header of each entry must agree with its central-directory record (name, method, sizes,
// CRC). A compressed entry, an encrypted entry or a multi-disk archive is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "scratchcv/status.h"

namespace scv::zip {

struct Entry {
  std::string name;
  uint16_t method = 0;         // 0 = stored; anything else is rejected when the data is read
  uint32_t crc32 = 0;          // from the central directory
  uint64_t size = 0;           // uncompressed size
  uint64_t comp_size = 0;      // compressed size (== size for stored entries)
  uint64_t header_offset = 0;  // local file header offset
};

// A view of an entry's bytes inside the archive buffer.
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// CRC-32 as zlib computes it (crc32(0, p, n)); carry-less multiply where the CPU has it.
uint32_t crc32(const uint8_t* p, size_t n);

// True when the buffer starts with a local-file-header or end-of-central-directory signature.
bool looks_like_zip(const uint8_t* data, size_t size);

class ZipReader {
 public:
  // Parses the end-of-central-directory record(s) and the central directory.
  static Result<ZipReader> open(const uint8_t* data, size_t size);

  const std::vector<Entry>& entries() const { return entries_; }
  // nullptr when absent (first match by exact name).
  const Entry* find(const std::string& name) const;
  // The entry's bytes: checks the local header against the central record, that the entry is
  // stored (not compressed) and, when verify_crc, its CRC-32.
  Result<Bytes> read(const Entry& e, bool verify_crc = true) const;

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::vector<Entry> entries_;
};

}  // namespace scv::zip
