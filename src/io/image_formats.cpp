// BMP, WebP and TIFF. BMP is simple enough to read and write by hand (the layout is spelled out
// below); WebP and TIFF go through Debian's libwebp and libtiff, both fed from memory, so every
// format shares decode_image's budget and error conventions.
#include "io/image_formats.h"

#include <tiffio.h>
#include <webp/decode.h>
#include <webp/encode.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace scv::detail {

Status check_image_budget(int64_t w, int64_t h, int channels, size_t file_size, const char* fmt) {
  if (w <= 0 || h <= 0) return error("invalid ", fmt, " size ", w, "x", h);
  if (w > kMaxImagePixels || h > kMaxImagePixels || w * h > kMaxImagePixels)
    return error(fmt, " is ", w, "x", h, " (", w * h, " pixels), larger than the limit of ",
                 kMaxImagePixels, " pixels");
  const int64_t bytes = w * h * channels;
  const int64_t budget = std::max<int64_t>(int64_t(64) << 20, int64_t(file_size) * 1024);
  if (bytes > budget)
    return error(fmt, " header claims ", w, "x", h, " pixels (", bytes >> 20,
                 " MiB decoded) but the file has only ", file_size,
                 " bytes: more than 1024 bytes per byte of file (corrupt or hostile file)");
  return Status();
}

namespace {
uint32_t le16(const uint8_t* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8;
}
uint32_t le32(const uint8_t* p) {
  return le16(p) | le16(p + 2) << 16;
}
void put16(std::vector<uint8_t>& b, uint32_t v) {
  b.push_back(uint8_t(v)), b.push_back(uint8_t(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
  put16(b, v & 0xffff), put16(b, v >> 16);
}
}  // namespace

// ---- BMP ---------------------------------------------------------------------------------------
// File header (14 bytes): "BM", file size u32, reserved u32, pixel data offset u32.
// Info header: size u32 (40, 108 or 124), width s32, height s32 (negative: rows top-down),
// planes u16 = 1, bits per pixel u16, compression u32 (0 = BI_RGB, 3 = BI_BITFIELDS), image
// size, x/y resolution, colours used u32, important colours. Palettes (1/4/8 bpp) follow the
// info header as B, G, R, 0. Rows are padded to 4 bytes and stored bottom-up by default.

bool is_bmp(const uint8_t* d, size_t n) {
  return n >= 2 && d[0] == 'B' && d[1] == 'M';
}

Result<Image> decode_bmp(const uint8_t* d, size_t n) {
  if (n < 14 + 40) return error("truncated BMP header (", n, " bytes)");
  const uint32_t offset = le32(d + 10), hsize = le32(d + 14);
  if (hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
    return error("unsupported BMP header (size ", hsize, "; expected a Windows BMP, 40..124)");
  if (n < 14 + size_t(hsize)) return error("truncated BMP header");
  const int64_t w = int32_t(le32(d + 18)), h_signed = int32_t(le32(d + 22));
  const int64_t h = h_signed < 0 ? -h_signed : h_signed;
  const uint32_t bpp = le16(d + 28), comp = le32(d + 30);
  uint32_t colors = le32(d + 46);
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 24 && bpp != 32)
    return error("unsupported BMP: ", bpp, " bits per pixel (expected 1, 4, 8, 24 or 32)");
  if (comp == 3 && bpp == 32) {
    // The masks follow the 40-byte part of the header (inside a V2+ header, or after a V1 one).
    if (n < 14 + 40 + 12) return error("truncated BMP colour masks");
    const uint8_t* m = d + 14 + 40;
    if (le32(m) != 0xff0000 || le32(m + 4) != 0xff00 || le32(m + 8) != 0xff)
      return error("unsupported BMP: 32-bit with non-standard colour masks");
  } else if (comp != 0) {
    return error("unsupported BMP compression ", comp, " (only uncompressed BMPs are read)");
  }
  // Palette.
  std::vector<uint8_t> pal;
  bool gray_palette = true;
  if (bpp <= 8) {
    if (colors == 0 || colors > (1u << bpp)) colors = 1u << bpp;
    const size_t at = 14 + hsize;
    if (at + size_t(colors) * 4 > n) return error("truncated BMP palette");
    pal.assign(d + at, d + at + size_t(colors) * 4);
    for (uint32_t i = 0; i < colors; ++i)
      gray_palette &= pal[i * 4] == pal[i * 4 + 1] && pal[i * 4 + 1] == pal[i * 4 + 2];
  }
  const bool alpha = bpp == 32 && hsize >= 56 && le32(d + 14 + 52) != 0;
  const int channels = bpp <= 8 ? (gray_palette ? 1 : 3) : (alpha ? 4 : 3);
  if (w <= 0 || h <= 0) return error("invalid BMP size ", w, "x", h);
  const uint64_t stride = (uint64_t(w) * bpp + 31) / 32 * 4;
  if (offset > n || stride * uint64_t(h) > n - offset)
    return error("truncated BMP pixel data (", n, " bytes; a ", w, "x", h, " image at ", bpp,
                 " bits needs ", uint64_t(offset) + stride * uint64_t(h), ")");
  SCV_TRY(check_image_budget(w, h, channels, n, "BMP"));
  Image img(int(w), int(h), channels);
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* src = d + offset + stride * uint64_t(h_signed < 0 ? y : h - 1 - y);
    uint8_t* dst = img.row(int(y));
    for (int64_t x = 0; x < w; ++x, dst += channels) {
      if (bpp <= 8) {
        const uint32_t bit = uint32_t(x) * bpp;
        const uint32_t idx = (src[bit / 8] >> (8 - bpp - bit % 8)) & ((1u << bpp) - 1);
        const uint8_t* c = idx < colors ? &pal[idx * 4] : &pal[0];
        if (channels == 1)
          dst[0] = c[0];
        else
          dst[0] = c[2], dst[1] = c[1], dst[2] = c[0];
      } else {
        const uint8_t* s = src + x * (bpp / 8);
        dst[0] = s[2], dst[1] = s[1], dst[2] = s[0];
        if (channels == 4) dst[3] = s[3];
      }
    }
  }
  return img;
}

Result<std::vector<uint8_t>> encode_bmp(const Image& img) {
  const int c = img.channels;
  const uint32_t bpp = c == 1 ? 8 : c == 3 ? 24 : 32;
  const uint64_t stride = (uint64_t(img.width) * bpp + 31) / 32 * 4;
  // 32-bit: a V4 header (108 bytes) with BI_BITFIELDS masks, so readers keep the alpha.
  const uint32_t hsize = c == 4 ? 108 : 40;
  const uint32_t palette = c == 1 ? 256 * 4 : 0, offset = 14 + hsize + palette;
  const uint64_t total = offset + stride * uint64_t(img.height);
  if (total > 0xffffffffu) return error("image too large for BMP (", total, " bytes)");
  std::vector<uint8_t> b;
  b.reserve(size_t(total));
  b.push_back('B'), b.push_back('M');
  put32(b, uint32_t(total)), put32(b, 0), put32(b, offset);
  put32(b, hsize), put32(b, uint32_t(img.width)), put32(b, uint32_t(img.height));
  put16(b, 1), put16(b, bpp), put32(b, c == 4 ? 3 : 0);
  put32(b, uint32_t(stride * uint64_t(img.height)));
  put32(b, 2835), put32(b, 2835), put32(b, c == 1 ? 256 : 0), put32(b, 0);
  if (c == 4) {
    put32(b, 0xff0000), put32(b, 0xff00), put32(b, 0xff), put32(b, 0xff000000);
    put32(b, 0x57696e20);                      // LCS_WINDOWS_COLOR_SPACE ("Win ")
    for (int i = 0; i < 12; ++i) put32(b, 0);  // endpoints and gamma (unused)
  }
  for (uint32_t i = 0; c == 1 && i < 256; ++i) put32(b, i * 0x010101u);
  for (int y = img.height - 1; y >= 0; --y) {
    const uint8_t* s = img.row(y);
    const size_t start = b.size();
    for (int x = 0; x < img.width; ++x, s += c) {
      if (c == 1) {
        b.push_back(s[0]);
      } else {
        b.push_back(s[2]), b.push_back(s[1]), b.push_back(s[0]);
        if (c == 4) b.push_back(s[3]);
      }
    }
    b.resize(start + stride, 0);
  }
  return b;
}

// ---- WebP --------------------------------------------------------------------------------------
bool is_webp(const uint8_t* d, size_t n) {
  return n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0;
}

Result<Image> decode_webp(const uint8_t* d, size_t n) {
  WebPBitstreamFeatures f;
  if (WebPGetFeatures(d, n, &f) != VP8_STATUS_OK) return error("corrupt WebP header");
  if (f.has_animation) return error("animated WebP is not supported (expected a still image)");
  const int channels = f.has_alpha ? 4 : 3;
  SCV_TRY(check_image_budget(f.width, f.height, channels, n, "WebP"));
  Image img(f.width, f.height, channels);
  const size_t stride = size_t(f.width) * channels;
  const uint8_t* ok =
      channels == 4 ? WebPDecodeRGBAInto(d, n, img.pixels.data(), img.pixels.size(), int(stride))
                    : WebPDecodeRGBInto(d, n, img.pixels.data(), img.pixels.size(), int(stride));
  if (!ok) return error("corrupt WebP data");
  return img;
}

Result<std::vector<uint8_t>> encode_webp(const Image& src, int quality) {
  if (src.width > WEBP_MAX_DIMENSION || src.height > WEBP_MAX_DIMENSION)
    return error("image too large for WebP (", src.width, "x", src.height, ", at most ",
                 WEBP_MAX_DIMENSION, " per side)");
  const Image img = src.channels == 1 ? convert_channels(src, 3) : src;
  const int stride = img.width * img.channels;
  // Quality 100 is lossless (as a PNG would be, colour under transparent pixels kept exactly);
  // below, lossy at that quality.
  WebPConfig config;
  WebPPicture pic;
  if (!WebPConfigInit(&config) || !WebPPictureInit(&pic)) return error("WebP: bad library version");
  if (quality >= 100) {
    WebPConfigLosslessPreset(&config, 6);
    config.exact = 1;
  } else {
    config.quality = float(quality);
  }
  config.method = quality >= 100 ? 0 : 4;  // lossless: fastest (as cwebp -z 0)
  pic.use_argb = quality >= 100;
  pic.width = img.width, pic.height = img.height;
  const int ok = img.channels == 4 ? WebPPictureImportRGBA(&pic, img.pixels.data(), stride)
                                   : WebPPictureImportRGB(&pic, img.pixels.data(), stride);
  WebPMemoryWriter writer;
  WebPMemoryWriterInit(&writer);
  pic.writer = WebPMemoryWrite;
  pic.custom_ptr = &writer;
  const bool done = ok && WebPEncode(&config, &pic);
  WebPPictureFree(&pic);
  std::vector<uint8_t> b;
  if (done) b.assign(writer.mem, writer.mem + writer.size);
  WebPMemoryWriterClear(&writer);
  if (!done) return error("WebP encoding failed (error ", int(pic.error_code), ")");
  return b;
}

// ---- TIFF --------------------------------------------------------------------------------------
namespace {
// libtiff reports through process-wide handlers: the last error is kept per thread and
// returned in the Status (nothing is printed).
thread_local char g_tiff_error[256];
void tiff_error(const char* module, const char* fmt, va_list ap) {
  char msg[200];
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  std::snprintf(g_tiff_error, sizeof g_tiff_error, "%s%s%s", module ? module : "",
                module ? ": " : "", msg);
}
void tiff_warning(const char*, const char*, va_list) {}

struct TiffMem {
  std::vector<uint8_t> buf;  // writing
  const uint8_t* data = nullptr;
  size_t size = 0;
  toff_t pos = 0;
  bool writing = false;
};
tsize_t tiff_read(thandle_t h, tdata_t p, tsize_t n) {
  auto* m = static_cast<TiffMem*>(h);
  const size_t avail = m->pos < m->size ? m->size - size_t(m->pos) : 0;
  const size_t k = std::min(avail, size_t(n));
  if (k) std::memcpy(p, m->data + m->pos, k);
  m->pos += k;
  return tsize_t(k);
}
tsize_t tiff_write(thandle_t h, tdata_t p, tsize_t n) {
  auto* m = static_cast<TiffMem*>(h);
  if (!m->writing) return 0;
  if (m->pos + size_t(n) > m->buf.size()) m->buf.resize(size_t(m->pos) + size_t(n));
  std::memcpy(m->buf.data() + m->pos, p, size_t(n));
  m->pos += toff_t(n);
  return n;
}
toff_t tiff_seek(thandle_t h, toff_t off, int whence) {
  auto* m = static_cast<TiffMem*>(h);
  const toff_t end = m->writing ? m->buf.size() : m->size;
  toff_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? m->pos + off : end + off;
  if (!m->writing && p > m->size) p = m->size;
  m->pos = p;
  return p;
}
int tiff_close(thandle_t) {
  return 0;
}
toff_t tiff_size(thandle_t h) {
  auto* m = static_cast<TiffMem*>(h);
  return m->writing ? m->buf.size() : m->size;
}
int tiff_map(thandle_t, tdata_t*, toff_t*) {
  return 0;
}
void tiff_unmap(thandle_t, tdata_t, toff_t) {}

TIFF* tiff_open(TiffMem* m, const char* mode) {
  TIFFSetErrorHandler(tiff_error);
  TIFFSetWarningHandler(tiff_warning);
  g_tiff_error[0] = '\0';
  return TIFFClientOpen("image", mode, m, tiff_read, tiff_write, tiff_seek, tiff_close, tiff_size,
                        tiff_map, tiff_unmap);
}
}  // namespace

bool is_tiff(const uint8_t* d, size_t n) {
  return n >= 4 && ((d[0] == 'I' && d[1] == 'I' && d[2] == 42 && d[3] == 0) ||
                    (d[0] == 'M' && d[1] == 'M' && d[2] == 0 && d[3] == 42));
}

Result<Image> decode_tiff(const uint8_t* d, size_t n) {
  TiffMem m;
  m.data = d, m.size = n;
  TIFF* tif = tiff_open(&m, "rm");
  if (!tif) return error("corrupt TIFF (", g_tiff_error, ")");
  uint32_t w = 0, h = 0;
  uint16_t spp = 1, photometric = PHOTOMETRIC_RGB, extra = 0;
  uint16_t* extra_types = nullptr;
  TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
  TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PHOTOMETRIC, &photometric);
  TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &extra, &extra_types);
  const bool gray =
      (photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE) &&
      spp - extra == 1;
  const int channels = gray && extra == 0 ? 1 : extra > 0 ? 4 : 3;
  // TIFFReadRGBAImage decodes to 4 bytes per pixel whatever the output keeps.
  Status budget = check_image_budget(w, h, 4, n, "TIFF");
  if (!budget.ok()) {
    TIFFClose(tif);
    return budget;
  }
  std::vector<uint32_t> rgba(size_t(w) * h);
  const int ok = TIFFReadRGBAImageOriented(tif, w, h, rgba.data(), ORIENTATION_TOPLEFT, 0);
  TIFFClose(tif);
  if (!ok) return error("corrupt or unsupported TIFF (", g_tiff_error, ")");
  Image img(int(w), int(h), channels);
  for (size_t i = 0; i < rgba.size(); ++i) {
    const uint32_t p = rgba[i];
    uint8_t* o = &img.pixels[i * size_t(channels)];
    if (channels == 1) {
      o[0] = uint8_t(TIFFGetR(p));
    } else {
      o[0] = uint8_t(TIFFGetR(p)), o[1] = uint8_t(TIFFGetG(p)), o[2] = uint8_t(TIFFGetB(p));
      if (channels == 4) o[3] = uint8_t(TIFFGetA(p));
    }
  }
  return img;
}

Result<std::vector<uint8_t>> encode_tiff(const Image& img) {
  TiffMem m;
  m.writing = true;
  TIFF* tif = tiff_open(&m, "w");
  if (!tif) return error("TIFF encoding failed (", g_tiff_error, ")");
  const int c = img.channels;
  TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, uint32_t(img.width));
  TIFFSetField(tif, TIFFTAG_IMAGELENGTH, uint32_t(img.height));
  TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, uint16_t(c));
  TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, uint16_t(8));
  TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, c == 1 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
  TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_LZW);  // as OpenCV's default
  TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
  if (c == 4) {
    const uint16_t extra[1] = {EXTRASAMPLE_UNASSALPHA};
    TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, extra);
  }
  TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tif, 0));
  bool ok = true;
  for (int y = 0; y < img.height && ok; ++y)
    ok = TIFFWriteScanline(tif, const_cast<uint8_t*>(img.row(y)), uint32_t(y), 0) >= 0;
  ok = ok && TIFFWriteDirectory(tif);
  TIFFClose(tif);
  if (!ok) return error("TIFF encoding failed (", g_tiff_error, ")");
  return std::move(m.buf);
}

}  // namespace scv::detail
