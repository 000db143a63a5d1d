// Zip reader for torch.save archives. Record layouts follow PKWARE's APPNOTE.TXT:
//   local file header        30 bytes + name + extra, then the entry data
//   central directory header 46 bytes + name + extra + comment
//   ZIP64 end of central dir 56 bytes (+ extensible data), located by a 20-byte locator
//   end of central directory 22 bytes + comment, at the very end of the file
#include "io/zip_reader.h"

#include <zlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstring>

#include "core/enum_names.h"

namespace scv::zip {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEocdSize = 22, kZip64LocatorSize = 20, kZip64EocdSize = 56;
constexpr size_t kCentralSize = 46, kLocalSize = 30;

uint16_t rd16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t rd64(const uint8_t* p) {
  return rd32(p) | (static_cast<uint64_t>(rd32(p + 4)) << 32);
}

// [off, off + len) lies inside a buffer of `size` bytes (no overflow).
bool in_range(uint64_t off, uint64_t len, uint64_t size) {
  return off <= size && len <= size - off;
}

uint32_t zlib_crc32(uint32_t crc, const uint8_t* p, size_t n) {
  uLong c = crc;
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    c = ::crc32(c, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(c);
}

#if defined(__x86_64__)
// CRC-32 (zlib's reflected polynomial 0xEDB88320) by carry-less multiplication: four 128-bit
// lanes are folded forward 512 bits at a time, then into one lane, then reduced to 32 bits
// (Barrett). `state` is the raw shift-register value (zlib's crc, inverted); n >= 64 and a
// multiple of 16. The constants are x^k mod P(x) for the fold distances, reflected, plus P(x)
// and its Barrett quotient mu = floor(x^64 / P(x)).
#define SCV_CLMUL __attribute__((target("pclmul,sse4.1")))
// acc * k (both 64-bit halves, each times its constant) + next: moves acc 128 or 512 bits on.
SCV_CLMUL inline __m128i fold(__m128i acc, __m128i k, __m128i next) {
  const __m128i lo = _mm_clmulepi64_si128(acc, k, 0x00);
  const __m128i hi = _mm_clmulepi64_si128(acc, k, 0x11);
  return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}
SCV_CLMUL inline __m128i load(const uint8_t* q) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
}
SCV_CLMUL uint32_t fold_crc32(uint32_t state, const uint8_t* p, size_t n) {
  const __m128i k512 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);  // x^(512+32), x^(512-32)
  const __m128i k128 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);  // x^(128+32), x^(128-32)
  const __m128i k64 = _mm_set_epi64x(0, 0x0163cd6124);              // x^64
  const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);  // mu, P(x)
  const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
  __m128i a = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(state)));
  __m128i b = load(p + 16), c = load(p + 32), d = load(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    a = fold(a, k512, load(p));
    b = fold(b, k512, load(p + 16));
    c = fold(c, k512, load(p + 32));
    d = fold(d, k512, load(p + 48));
  }
  a = fold(a, k128, b);
  a = fold(a, k128, c);
  a = fold(a, k128, d);
  for (; n >= 16; p += 16, n -= 16) a = fold(a, k128, load(p));
  // 128 -> 64 bits.
  __m128i t = _mm_clmulepi64_si128(a, k128, 0x10);
  a = _mm_xor_si128(_mm_srli_si128(a, 8), t);
  t = _mm_srli_si128(a, 4);
  a = _mm_clmulepi64_si128(_mm_and_si128(a, low32), k64, 0x00);
  a = _mm_xor_si128(a, t);
  // Barrett reduction to 32 bits.
  t = _mm_clmulepi64_si128(_mm_and_si128(a, low32), poly, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), poly, 0x00);
  a = _mm_xor_si128(a, t);
  return static_cast<uint32_t>(_mm_extract_epi32(a, 1));
}
#undef SCV_CLMUL
#endif

}  // namespace

uint32_t crc32(const uint8_t* p, size_t n) {
  uint32_t crc = 0;
#if defined(__x86_64__)
  static const bool clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
  if (clmul && n >= 64) {
    const size_t bulk = n & ~size_t{15};
    crc = ~fold_crc32(~crc, p, bulk);
    p += bulk;
    n -= bulk;
  }
#endif
  return zlib_crc32(crc, p, n);
}

namespace {

constexpr EnumName<uint16_t> kMethodNames[] = {{8, "deflate"}, {9, "deflate64"}, {12, "bzip2"},
                                               {14, "lzma"},   {93, "zstd"},     {95, "xz"}};

const char* method_name(uint16_t m) {
  return name_of(kMethodNames, m, "unknown");
}

}  // namespace

bool looks_like_zip(const uint8_t* data, size_t size) {
  return size >= 4 && (rd32(data) == kLocalSig || rd32(data) == kEocdSig);
}

Result<ZipReader> ZipReader::open(const uint8_t* data, size_t size) {
  if (size < kEocdSize) return error("zip: file too small (", size, " bytes) to be a zip archive");

  // 1. The end-of-central-directory record: the last signature whose comment ends the file.
  size_t eocd = SIZE_MAX;
  const size_t lowest = size - kEocdSize > 0xFFFF ? size - kEocdSize - 0xFFFF : 0;
  for (size_t pos = size - kEocdSize + 1; pos-- > lowest;) {
    if (rd32(data + pos) == kEocdSig && pos + kEocdSize + rd16(data + pos + 20) == size) {
      eocd = pos;
      break;
    }
  }
  if (eocd == SIZE_MAX)
    return error("zip: no end-of-central-directory record (not a zip archive, or truncated)");
  const uint8_t* e = data + eocd;
  uint64_t disk = rd16(e + 4), cd_disk = rd16(e + 6);
  uint64_t n_disk_entries = rd16(e + 8), n_entries = rd16(e + 10);
  uint64_t cd_size = rd32(e + 12), cd_offset = rd32(e + 16);
  uint64_t cd_limit = eocd;  // the central directory must end before the records that follow it

  // 2. ZIP64: a locator just before the EOCD points at the ZIP64 EOCD record (torch always
  //    writes one, big file or not).
  if (eocd >= kZip64LocatorSize && rd32(data + eocd - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint8_t* loc = data + eocd - kZip64LocatorSize;
    const uint64_t z_off = rd64(loc + 8);
    const uint32_t n_disks = rd32(loc + 16);
    if (rd32(loc + 4) != 0 || n_disks > 1)
      return error("zip: multi-disk archives are not supported (", n_disks, " disks)");
    if (!in_range(z_off, kZip64EocdSize, eocd - kZip64LocatorSize))
      return error("zip: ZIP64 end-of-central-directory offset ", z_off, " is out of range");
    const uint8_t* z = data + z_off;
    if (rd32(z) != kZip64EocdSig)
      return error("zip: bad ZIP64 end-of-central-directory signature at offset ", z_off);
    disk = rd32(z + 16);
    cd_disk = rd32(z + 20);
    n_disk_entries = rd64(z + 24);
    n_entries = rd64(z + 32);
    cd_size = rd64(z + 40);
    cd_offset = rd64(z + 48);
    cd_limit = z_off;
  } else if (n_entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    return error("zip: the archive needs ZIP64 records but has no ZIP64 locator");
  }
  if (disk != 0 || cd_disk != 0 || n_disk_entries != n_entries)
    return error("zip: multi-disk archives are not supported");
  if (!in_range(cd_offset, cd_size, cd_limit))
    return error("zip: central directory (offset ", cd_offset, ", ", cd_size,
                 " bytes) lies outside the archive (", size, " bytes)");
  if (n_entries > cd_size / kCentralSize)
    return error("zip: ", n_entries, " entries cannot fit a ", cd_size, "-byte central directory");

  // 3. The central directory.
  ZipReader zr;
  zr.data_ = data;
  zr.size_ = size;
  zr.entries_.reserve(static_cast<size_t>(n_entries));
  const uint8_t* cd = data + cd_offset;
  uint64_t pos = 0;
  for (uint64_t i = 0; i < n_entries; ++i) {
    if (!in_range(pos, kCentralSize, cd_size) || rd32(cd + pos) != kCentralSig)
      return error("zip: central directory entry ", i, " is malformed (at offset ", cd_offset + pos,
                   ")");
    const uint8_t* h = cd + pos;
    const uint64_t name_len = rd16(h + 28), extra_len = rd16(h + 30), comment_len = rd16(h + 32);
    const uint64_t rec = kCentralSize + name_len + extra_len + comment_len;
    if (!in_range(pos, rec, cd_size))
      return error("zip: central directory entry ", i, " runs past the directory");
    Entry en;
    en.name.assign(reinterpret_cast<const char*>(h + kCentralSize), name_len);
    if ((rd16(h + 8) & 1) != 0) return error("zip: entry '", en.name, "' is encrypted");
    en.method = rd16(h + 10);
    en.crc32 = rd32(h + 16);
    en.comp_size = rd32(h + 20);
    en.size = rd32(h + 24);
    en.header_offset = rd32(h + 42);
    const uint16_t start_disk = rd16(h + 34);
    // ZIP64 extended information (extra field id 1): the 64-bit values of those fields that are
    // 0xFFFFFFFF in the fixed record, in this order.
    const uint8_t* x = h + kCentralSize + name_len;
    for (uint64_t xp = 0; xp + 4 <= extra_len;) {
      const uint16_t id = rd16(x + xp), len = rd16(x + xp + 2);
      if (xp + 4 + len > extra_len)
        return error("zip: entry '", en.name, "' has a malformed extra field");
      if (id == 1) {
        const uint8_t* f = x + xp + 4;
        uint64_t left = len;
        auto take64 = [&](uint64_t& v) -> bool {
          if (left < 8) return false;
          v = rd64(f);
          f += 8;
          left -= 8;
          return true;
        };
        if ((en.size == 0xFFFFFFFF && !take64(en.size)) ||
            (en.comp_size == 0xFFFFFFFF && !take64(en.comp_size)) ||
            (en.header_offset == 0xFFFFFFFF && !take64(en.header_offset)))
          return error("zip: entry '", en.name, "' has a truncated ZIP64 extra field");
      }
      xp += 4 + len;
    }
    if (start_disk != 0 && start_disk != 0xFFFF)
      return error("zip: entry '", en.name, "' lives on disk ", start_disk,
                   " (multi-disk archives are not supported)");
    if (!in_range(en.header_offset, kLocalSize, cd_offset))
      return error("zip: entry '", en.name, "' has local header offset ", en.header_offset,
                   " outside the archive data");
    zr.entries_.push_back(std::move(en));
    pos += rec;
  }
  return zr;
}

const Entry* ZipReader::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

Result<Bytes> ZipReader::read(const Entry& e, bool verify_crc) const {
  if (e.method != 0)
    return error("zip: entry '", e.name, "' is compressed (method ", e.method, " = ",
                 method_name(e.method),
                 "); torch.save writes stored entries only - was the archive re-zipped?");
  if (!in_range(e.header_offset, kLocalSize, size_))
    return error("zip: entry '", e.name, "': local header out of range");
  const uint8_t* h = data_ + e.header_offset;
  if (rd32(h) != kLocalSig)
    return error("zip: entry '", e.name, "': bad local header signature at offset ",
                 e.header_offset);
  const uint16_t flags = rd16(h + 6), method = rd16(h + 8);
  const uint64_t name_len = rd16(h + 26), extra_len = rd16(h + 28);
  if (method != e.method)
    return error("zip: entry '", e.name, "': local header says method ", method,
                 ", central directory says ", e.method);
  if (!in_range(e.header_offset + kLocalSize, name_len + extra_len, size_) ||
      name_len != e.name.size() || std::memcmp(h + kLocalSize, e.name.data(), name_len) != 0)
    return error("zip: entry '", e.name, "': local header name does not match");
  if ((flags & 8) == 0) {  // no data descriptor: the local header carries crc and sizes
    const uint32_t lsize = rd32(h + 22), lcomp = rd32(h + 18);
    if (rd32(h + 14) != e.crc32 || (lsize != 0xFFFFFFFF && lsize != e.size) ||
        (lcomp != 0xFFFFFFFF && lcomp != e.comp_size))
      return error("zip: entry '", e.name, "': local header disagrees with central directory");
  }
  if (e.comp_size != e.size)
    return error("zip: stored entry '", e.name, "' has compressed size ", e.comp_size, " != size ",
                 e.size);
  const uint64_t off = e.header_offset + kLocalSize + name_len + extra_len;
  if (!in_range(off, e.size, size_))
    return error("zip: entry '", e.name, "' (", e.size, " bytes at offset ", off,
                 ") runs past the end of the archive (", size_, " bytes)");
  Bytes b{data_ + off, static_cast<size_t>(e.size)};
  if (verify_crc) {
    const uint32_t crc = zip::crc32(b.data, b.size);
    if (crc != e.crc32)
      return error("zip: entry '", e.name, "': CRC-32 mismatch (stored ", std::hex, e.crc32,
                   ", computed ", crc, ") - the file is corrupt");
  }
  return b;
}

}  // namespace scv::zip
