// PNG encoding (encode_png in scratchcv/image.h), written here rather than through libpng so
// that a large image is compressed in parallel. The rows are cut into one band per thread;
// each band is filtered (Sub, as OpenCV) and deflated (level 1, Z_RLE, as OpenCV's imwrite) as
// a raw deflate stream ending on a byte boundary (Z_SYNC_FLUSH), and the bands are
// concatenated into one zlib stream whose Adler-32 is combined from the bands'
// (adler32_combine). The result is an ordinary PNG that every decoder reads. An image of one
// band (below 1 MB: the pictures of explain, plots) is deflated by libdeflate instead,
// whole-buffer: ~1.5x faster than zlib at level 1 and a few % smaller.
#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "scratchcv/image.h"
#include "scratchcv/thread_pool.h"

namespace scv {
namespace {

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

void put_chunk(std::vector<uint8_t>& b, const char* type, const uint8_t* data, size_t n) {
  put_be32(b, uint32_t(n));
  const size_t start = b.size();
  b.insert(b.end(), type, type + 4);
  if (n) b.insert(b.end(), data, data + n);
  put_be32(b, uint32_t(crc32(crc32(0, nullptr, 0), b.data() + start, uInt(n + 4))));
}

struct PngBand {
  std::unique_ptr<uint8_t[]> out;  // not zero-filled: deflate writes what is used
  size_t size = 0;
  uLong adler = 1;
  size_t raw = 0;
  bool ok = false;
};

// This thread's libdeflate compressor for one level, kept between images.
libdeflate_compressor* deflate_compressor(int level) {
  struct Cached {
    int level = -1;
    libdeflate_compressor* c = nullptr;
    ~Cached() { libdeflate_free_compressor(c); }
  };
  thread_local Cached cached;
  if (cached.level != level) {
    libdeflate_free_compressor(cached.c);
    cached.c = libdeflate_alloc_compressor(level);
    cached.level = cached.c ? level : -1;
  }
  return cached.c;
}

// The Sub filter of row y into line (rowbytes + 1 bytes: the filter type, then the row).
void png_sub_row(const Image& img, int y, uint8_t* line) {
  const size_t bpp = size_t(img.channels), rowbytes = size_t(img.width) * bpp;
  const uint8_t* r = img.row(y);
  line[0] = 1;  // Sub: each byte minus the byte bpp to its left
  std::memcpy(line + 1, r, bpp);
  for (size_t i = bpp; i < rowbytes; ++i) line[1 + i] = uint8_t(r[i] - r[i - bpp]);
}

// The whole image as one final deflate stream (libdeflate).
void png_deflate_whole(const Image& img, int level, PngBand* band) {
  const size_t line = size_t(img.width) * size_t(img.channels) + 1;
  band->raw = line * size_t(img.height);
  std::unique_ptr<uint8_t[]> raw(new (std::nothrow) uint8_t[band->raw]);
  libdeflate_compressor* c = deflate_compressor(level);
  if (!raw || !c) return;
  for (int y = 0; y < img.height; ++y) png_sub_row(img, y, raw.get() + size_t(y) * line);
  const size_t cap = libdeflate_deflate_compress_bound(c, band->raw);
  band->out.reset(new (std::nothrow) uint8_t[cap]);
  if (!band->out) return;
  band->size = libdeflate_deflate_compress(c, raw.get(), band->raw, band->out.get(), cap);
  band->adler = libdeflate_adler32(1, raw.get(), band->raw);
  band->ok = band->size > 0;
}

// Filters rows [y0, y1) with the Sub filter and deflates them into band->out.
void png_deflate_band(const Image& img, int level, int y0, int y1, bool last, PngBand* band) {
  if (y0 == 0 && y1 == img.height) return png_deflate_whole(img, level, band);
  const size_t bpp = size_t(img.channels), rowbytes = size_t(img.width) * bpp;
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, -15, 9, level <= 1 ? Z_RLE : Z_DEFAULT_STRATEGY) != Z_OK)
    return;
  const size_t cap = deflateBound(&z, uLong((rowbytes + 1) * size_t(y1 - y0))) + 64;
  band->out.reset(new (std::nothrow) uint8_t[cap]);
  if (!band->out) {
    deflateEnd(&z);
    return;
  }
  z.next_out = band->out.get();
  z.avail_out = uInt(cap);
  std::vector<uint8_t> line(rowbytes + 1);
  bool ok = true;
  for (int y = y0; y < y1 && ok; ++y) {
    png_sub_row(img, y, line.data());
    band->adler = adler32(band->adler, line.data(), uInt(line.size()));
    z.next_in = line.data();
    z.avail_in = uInt(line.size());
    const int flush = y + 1 < y1 ? Z_NO_FLUSH : last ? Z_FINISH : Z_SYNC_FLUSH;
    const int rc = deflate(&z, flush);
    ok = (rc == Z_OK || rc == Z_STREAM_END || rc == Z_BUF_ERROR) && z.avail_in == 0;
  }
  band->raw = (rowbytes + 1) * size_t(y1 - y0);
  band->size = z.total_out;
  band->ok = ok;
  deflateEnd(&z);
}

}  // namespace

Result<std::vector<uint8_t>> encode_png(const Image& img, int level) {
  level = level < 0 ? 0 : level > 9 ? 9 : level;
  if (img.channels != 1 && img.channels != 3 && img.channels != 4)
    return error("cannot write a PNG with ", img.channels, " channels (expected 1, 3 or 4)");
  if (img.width <= 0 || img.height <= 0)
    return error("cannot write an empty ", img.width, "x", img.height, " image as PNG");
  if (img.pixels.size() != size_t(img.width) * img.height * img.channels)
    return error("image buffer holds ", img.pixels.size(), " bytes, expected ",
                 size_t(img.width) * img.height * img.channels);
  // One band per thread for images of 1 MB and more (below, starting threads is not worth it);
  // at least 64 rows per band.
  ThreadPool& pool = ThreadPool::global();
  const int bands = img.pixels.size() < (size_t(1) << 20)
                        ? 1
                        : std::max(1, std::min(pool.num_threads(), img.height / 64));
  std::vector<PngBand> band(static_cast<size_t>(bands));
  auto work = [&](int i) {
    const int y0 = int(int64_t(img.height) * i / bands);
    const int y1 = int(int64_t(img.height) * (i + 1) / bands);
    png_deflate_band(img, level, y0, y1, i + 1 == bands, &band[size_t(i)]);
  };
  if (bands == 1)
    work(0);
  else
    pool.run([&](int ith, int nth) {
      for (int i = ith; i < bands; i += nth) work(i);
    });
  // The zlib stream (header, the bands' deflate data, Adler-32) goes straight into IDAT chunks
  // of at most 64 MiB, without first being gathered in one buffer.
  uLong adler = 1;
  size_t zsize = 2 + 4;
  for (const PngBand& b : band) {
    if (!b.ok) return error("PNG encoding failed (zlib error)");
    adler = adler32_combine(adler, b.adler, z_off_t(b.raw));
    zsize += b.size;
  }
  const uint8_t zhead[2] = {0x78, 0x01};  // zlib header: deflate, 32K window, fastest
  const uint8_t ztail[4] = {uint8_t(adler >> 24), uint8_t(adler >> 16), uint8_t(adler >> 8),
                            uint8_t(adler)};
  std::vector<std::pair<const uint8_t*, size_t>> pieces = {{zhead, 2}};
  for (const PngBand& b : band) pieces.push_back({b.out.get(), b.size});
  pieces.push_back({ztail, 4});

  constexpr size_t kIdat = size_t(1) << 26;  // 64 MiB per IDAT chunk
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  out.reserve(8 + 25 + zsize + 12 * (zsize / kIdat + 1) + 12);
  std::vector<uint8_t> ihdr;
  put_be32(ihdr, uint32_t(img.width));
  put_be32(ihdr, uint32_t(img.height));
  const uint8_t color = img.channels == 1 ? 0 : img.channels == 3 ? 2 : 6;
  for (uint8_t v : {uint8_t(8), color, uint8_t(0), uint8_t(0), uint8_t(0)}) ihdr.push_back(v);
  put_chunk(out, "IHDR", ihdr.data(), ihdr.size());
  size_t piece = 0, at = 0;  // read position in pieces
  for (size_t done = 0; done < zsize;) {
    const size_t n = std::min(kIdat, zsize - done);
    put_be32(out, uint32_t(n));
    const size_t start = out.size();
    out.insert(out.end(), {'I', 'D', 'A', 'T'});
    for (size_t left = n; left > 0;) {
      const size_t take = std::min(left, pieces[piece].second - at);
      out.insert(out.end(), pieces[piece].first + at, pieces[piece].first + at + take);
      left -= take;
      at += take;
      if (at == pieces[piece].second) ++piece, at = 0;
    }
    put_be32(out, uint32_t(crc32(crc32(0, nullptr, 0), out.data() + start, uInt(n + 4))));
    done += n;
  }
  put_chunk(out, "IEND", nullptr, 0);
  return out;
}

}  // namespace scv
