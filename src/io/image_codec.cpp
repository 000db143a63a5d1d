// JPEG (libjpeg-turbo) and PNG (libpng) decoding, PNG encoding, EXIF orientation and channel
// conversions. Both C libraries report fatal errors through longjmp; every call into them is
// wrapped by a function whose state lives in a heap/struct object (never in C++ locals that a
// longjmp would skip), so a corrupt file becomes an error Status, never an exit() or a crash.
//
// Pixel conventions follow PIL, the reference of the torchvision pipeline:
//   RGB -> gray:  L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16   (PIL's convert('L'))
//   CMYK -> RGB:  JPEG CMYK is taken as Adobe-inverted (as PIL does), then
//                 v = (255-K) - (C (255-K)) / 255, with PIL's rounding of the product
//   16-bit PNG:   the high byte is kept (as PIL does for RGB/RGBA)
#include <algorithm>
#include <cassert>
#include <cctype>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

// jpeglib.h needs <cstdio> (FILE, size_t) first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "io/image_formats.h"
#include "scratchcv/file_util.h"
#include "scratchcv/image.h"
#include "scratchcv/thread_pool.h"

namespace scv {
namespace {

// ---- helpers ---------------------------------------------------------------------------------

// "hell" or "\x00\x01.." for the error message about an unknown format.
std::string printable_prefix(const uint8_t* data, size_t size) {
  std::string s;
  for (size_t i = 0; i < size && i < 4; ++i) {
    uint8_t c = data[i];
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      s += char(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      s += buf;
    }
  }
  return s;
}

using detail::check_image_budget;

inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

// PIL's MULDIV255: a * b / 255 rounded, with integer ops only.
inline int muldiv255(int a, int b) {
  int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// ---- JPEG ------------------------------------------------------------------------------------

// libjpeg's error manager extended with a jump buffer and the first message.
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
  bool truncated;
  bool in_header;  // reading the markers before the first scan
};

// Fatal error: record the message and jump back out of the library.
void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (msg_level -1) mean corrupt or truncated data: libjpeg would otherwise invent grey
// pixels and carry on. Treat them as errors, except stray bytes between two header markers
// (libjpeg skips them and loses nothing). After the first scan starts, stray bytes before a
// marker mean the entropy decoder lost sync (the usual sign of corrupt image data), so they are
// errors there. Trace messages (level >= 0) are ignored.
void jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  if (msg_level >= 0) return;
  if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA && err->in_header) return;
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
    err->truncated = true;
    std::snprintf(err->message, sizeof err->message, "truncated JPEG data");
  } else {
    char buf[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buf);
    std::snprintf(err->message, sizeof err->message, "corrupt JPEG data (%s)", buf);
  }
  std::longjmp(err->jump, 1);
}

// Progressive JPEGs with thousands of tiny scans make decoding quadratic; refuse them.
constexpr int kMaxJpegScans = 1000;
struct JpegProgress {
  jpeg_progress_mgr mgr;
  JpegError* err;
};
void jpeg_progress(j_common_ptr cinfo) {
  auto* dinfo = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (dinfo->input_scan_number > kMaxJpegScans) {
    auto* p = reinterpret_cast<JpegProgress*>(cinfo->progress);
    std::snprintf(p->err->message, sizeof p->err->message,
                  "JPEG has more than %d scans (corrupt or hostile file)", kMaxJpegScans);
    std::longjmp(p->err->jump, 1);
  }
}

// EXIF orientation (tag 0x0112 of IFD0) from the payload of an APP1 marker, 0 when absent.
// Layout: "Exif\0\0", TIFF header ("II"/"MM", 42, offset of IFD0), IFD: count, 12-byte entries.
int exif_orientation(const uint8_t* p, size_t n) {
  if (n < 6 + 8 || std::memcmp(p, "Exif\0\0", 6) != 0) return 0;
  const uint8_t* t = p + 6;
  const size_t tn = n - 6;
  bool le;
  if (t[0] == 'I' && t[1] == 'I')
    le = true;
  else if (t[0] == 'M' && t[1] == 'M')
    le = false;
  else
    return 0;
  auto u16 = [&](size_t off) -> uint32_t {
    return le ? uint32_t(t[off]) | uint32_t(t[off + 1]) << 8
              : uint32_t(t[off]) << 8 | uint32_t(t[off + 1]);
  };
  auto u32 = [&](size_t off) -> uint32_t {
    return le ? u16(off) | u16(off + 2) << 16 : u16(off) << 16 | u16(off + 2);
  };
  if (u16(2) != 42) return 0;
  const size_t ifd = u32(4);
  if (ifd > tn || tn - ifd < 2) return 0;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + i * 12;
    if (e > tn || tn - e < 12) return 0;
    if (u16(e) != 0x0112) continue;
    const uint32_t type = u16(e + 2), cnt = u32(e + 4);
    if (type != 3 || cnt < 1) return 0;  // SHORT, value stored inline in the first 2 bytes
    const uint32_t v = u16(e + 8);
    return v >= 1 && v <= 8 ? int(v) : 0;
  }
  return 0;
}

// All libjpeg state: lives on the heap, so longjmp skips no C++ destructor that matters.
struct JpegJob {
  jpeg_decompress_struct cinfo;
  JpegError err;
  JpegProgress progress;
  Image img;
  int orientation = 0;
  bool cmyk = false;
  bool created = false;
  Status size_status;
};

// Returns false on a libjpeg error (message in job->err.message) or a refused size.
// Stores the budget check's Status in *out. Kept out of line: assigning a Status (a std::string)
// inside the functions that call setjmp makes GCC warn that longjmp may clobber the string's
// locals (-Wclobbered), although no longjmp can happen while it runs.
[[gnu::noinline]] bool budget_ok(Status* out, int64_t w, int64_t h, int channels, size_t size,
                                 const char* fmt) {
  *out = check_image_budget(w, h, channels, size, fmt);
  return out->ok();
}

bool jpeg_decode_into(JpegJob* job, const uint8_t* data, size_t size) {
  j_decompress_ptr cinfo = &job->cinfo;
  cinfo->err = jpeg_std_error(&job->err.mgr);
  job->err.mgr.error_exit = jpeg_error_exit;
  job->err.mgr.emit_message = jpeg_emit_message;
  job->err.message[0] = '\0';
  job->err.truncated = false;
  job->err.in_header = true;
  if (setjmp(job->err.jump)) return false;

  jpeg_create_decompress(cinfo);
  job->created = true;
  job->progress.mgr.progress_monitor = jpeg_progress;
  job->progress.err = &job->err;
  cinfo->progress = &job->progress.mgr;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(cinfo, TRUE);
  job->err.in_header = false;

  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
    if (m->marker != JPEG_APP0 + 1) continue;
    job->orientation = exif_orientation(m->data, m->data_length);
    if (job->orientation) break;
  }

  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo->out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo->out_color_space = JCS_CMYK;
      job->cmyk = true;
      break;
    default:
      cinfo->out_color_space = JCS_RGB;
      break;
  }
  // The budget is checked from the header, before libjpeg allocates its buffers.
  const int out_c = cinfo->out_color_space == JCS_GRAYSCALE ? 1 : job->cmyk ? 4 : 3;
  if (!budget_ok(&job->size_status, cinfo->image_width, cinfo->image_height, out_c, size, "JPEG"))
    return false;
  jpeg_start_decompress(cinfo);
  const int w = int(cinfo->output_width), h = int(cinfo->output_height);
  const int c = cinfo->output_components;
  job->img = Image(w, h, c);
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = job->img.row(int(cinfo->output_scanline));
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_decompress(cinfo);
  return true;
}

Result<Image> decode_jpeg(const uint8_t* data, size_t size, int* orientation) {
  auto job = std::make_unique<JpegJob>();
  const bool ok = jpeg_decode_into(job.get(), data, size);
  if (job->created) jpeg_destroy_decompress(&job->cinfo);
  if (!ok) {
    if (!job->size_status.ok()) return job->size_status;
    if (job->err.truncated) return error("truncated JPEG data");
    std::string msg = job->err.message;
    if (msg.rfind("corrupt JPEG", 0) == 0 || msg.rfind("JPEG has", 0) == 0) return error(msg);
    return error("corrupt JPEG data (", msg, ")");
  }
  Image img = std::move(job->img);
  if (job->cmyk) {
    // PIL reads JPEG CMYK as Adobe-inverted ("CMYK;I") and converts with cmyk2rgb.
    Image rgb(img.width, img.height, 3);
    const size_t n = size_t(img.width) * img.height;
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* s = &img.pixels[i * 4];
      const int nk = s[3];  // 255 - (255 - K)
      for (int ch = 0; ch < 3; ++ch) {
        int v = nk - muldiv255(255 - s[ch], nk);
        rgb.pixels[i * 3 + ch] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
    img = std::move(rgb);
  }
  *orientation = job->orientation;
  return img;
}

// ---- PNG -------------------------------------------------------------------------------------

struct PngReader {
  const uint8_t* data;
  size_t size, pos;
};

void png_read_mem(png_structp png, png_bytep out, png_size_t n) {
  auto* r = static_cast<PngReader*>(png_get_io_ptr(png));
  if (n > r->size - r->pos) png_error(png, "truncated PNG data");
  std::memcpy(out, r->data + r->pos, n);
  r->pos += n;
}

struct PngErrorState {
  char message[256];
};

void png_error_fn(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof e->message, "%s", msg ? msg : "unknown libpng error");
  png_longjmp(png, 1);
}
void png_warning_fn(png_structp, png_const_charp) {}  // benign (e.g. bad ancillary chunk CRC)

struct PngJob {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngReader reader{};
  PngErrorState err{};
  Image img;
  std::vector<png_bytep> rows;
  Status size_status;
};

bool png_decode_into(PngJob* job) {
  png_structp png = job->png;
  png_infop info = job->info;
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, &job->reader, png_read_mem);
  png_read_info(png, info);
  png_uint_32 w = 0, h = 0;
  int depth = 0, color = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &color, &interlace, nullptr, nullptr);
  // Checked from the header, before any row is inflated: at most 4 channels come out.
  const int out_c = (color & PNG_COLOR_MASK_COLOR) || color == PNG_COLOR_TYPE_PALETTE ? 4 : 2;
  if (!budget_ok(&job->size_status, w, h, out_c, job->reader.size, "PNG")) return false;

  png_set_expand(png);                     // palette -> RGB, tRNS -> alpha, 1/2/4-bit gray -> 8-bit
  if (depth == 16) png_set_strip_16(png);  // keep the high byte, as PIL does
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int c = png_get_channels(png, info);
  if (c < 1 || c > 4 || png_get_rowbytes(png, info) != size_t(w) * c) {
    std::snprintf(job->err.message, sizeof job->err.message, "unsupported PNG layout");
    return false;
  }
  job->img = Image(int(w), int(h), c);
  job->rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) job->rows[y] = job->img.row(int(y));
  png_read_image(png, job->rows.data());
  png_read_end(png, nullptr);
  return true;
}

Result<Image> decode_png(const uint8_t* data, size_t size) {
  auto job = std::make_unique<PngJob>();
  job->reader = PngReader{data, size, 0};
  job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job->err, png_error_fn, png_warning_fn);
  if (!job->png) return error("out of memory creating the PNG reader");
  job->info = png_create_info_struct(job->png);
  bool ok = job->info != nullptr && png_decode_into(job.get());
  png_destroy_read_struct(&job->png, job->info ? &job->info : nullptr, nullptr);
  if (!ok) {
    if (!job->size_status.ok()) return job->size_status;
    std::string msg = job->err.message;
    if (msg == "truncated PNG data") return error(msg);
    return error("corrupt PNG data (", msg.empty() ? "out of memory" : msg, ")");
  }
  Image img = std::move(job->img);
  if (img.channels == 2) {  // gray + alpha -> RGBA
    Image rgba(img.width, img.height, 4);
    const size_t n = size_t(img.width) * img.height;
    for (size_t i = 0; i < n; ++i) {
      uint8_t g = img.pixels[i * 2], a = img.pixels[i * 2 + 1];
      rgba.pixels[i * 4] = rgba.pixels[i * 4 + 1] = rgba.pixels[i * 4 + 2] = g;
      rgba.pixels[i * 4 + 3] = a;
    }
    img = std::move(rgba);
  }
  return img;
}

// ---- JPEG encoding ----------------------------------------------------------------------------

struct JpegWriteJob {
  jpeg_compress_struct cinfo;
  JpegError err;
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  bool created = false;
};

bool jpeg_encode_into(JpegWriteJob* job, const Image& img, int quality) {
  j_compress_ptr cinfo = &job->cinfo;
  cinfo->err = jpeg_std_error(&job->err.mgr);
  job->err.mgr.error_exit = jpeg_error_exit;
  job->err.message[0] = '\0';
  if (setjmp(job->err.jump)) return false;
  jpeg_create_compress(cinfo);
  job->created = true;
  jpeg_mem_dest(cinfo, &job->buf, &job->size);
  cinfo->image_width = JDIMENSION(img.width);
  cinfo->image_height = JDIMENSION(img.height);
  cinfo->input_components = img.channels == 1 ? 1 : 3;
  cinfo->in_color_space = img.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  std::vector<uint8_t> rgb(img.channels == 4 ? size_t(img.width) * 3 : 0);
  while (cinfo->next_scanline < cinfo->image_height) {
    const uint8_t* src = img.row(int(cinfo->next_scanline));
    if (img.channels == 4) {  // alpha dropped: JPEG has none
      for (int x = 0; x < img.width; ++x) std::memcpy(&rgb[size_t(x) * 3], src + size_t(x) * 4, 3);
      src = rgb.data();
    }
    JSAMPROW row = const_cast<JSAMPROW>(src);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

Result<std::vector<uint8_t>> encode_jpeg(const Image& img, int quality) {
  auto job = std::make_unique<JpegWriteJob>();
  const bool ok = jpeg_encode_into(job.get(), img, quality);
  if (job->created) jpeg_destroy_compress(&job->cinfo);
  std::vector<uint8_t> out;
  if (ok) out.assign(job->buf, job->buf + job->size);
  std::free(job->buf);
  if (!ok) return error("JPEG encoding failed (", job->err.message, ")");
  return out;
}

}  // namespace

// ---- public API ------------------------------------------------------------------------------

Image apply_exif_orientation(const Image& src, int orientation) {
  if (orientation < 2 || orientation > 8) return src;
  const int W = src.width, H = src.height, C = src.channels;
  const bool swap = orientation >= 5;
  Image out(swap ? H : W, swap ? W : H, C);
  for (int y = 0; y < out.height; ++y) {
    uint8_t* d = out.row(y);
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2:
          sx = W - 1 - x;
          break;  // mirror left-right
        case 3:
          sx = W - 1 - x, sy = H - 1 - y;
          break;  // rotate 180
        case 4:
          sy = H - 1 - y;
          break;  // mirror top-bottom
        case 5:
          sx = y, sy = x;
          break;  // transpose
        case 6:
          sx = y, sy = H - 1 - x;
          break;  // rotate 90 clockwise
        case 7:
          sx = W - 1 - y, sy = H - 1 - x;
          break;  // transverse
        case 8:
          sx = W - 1 - y, sy = x;
          break;  // rotate 90 counter-clockwise
      }
      std::memcpy(d + size_t(x) * C, src.row(sy) + size_t(sx) * C, size_t(C));
    }
  }
  return out;
}

Image convert_channels(const Image& img, int channels) {
  assert(channels == 1 || channels == 3 || channels == 4);
  assert(img.channels == 1 || img.channels == 3 || img.channels == 4);
  if (img.channels == channels) return img;
  Image out(img.width, img.height, channels);
  const size_t n = size_t(img.width) * img.height;
  const uint8_t* s = img.pixels.data();
  uint8_t* d = out.pixels.data();
  const int sc = img.channels;
  for (size_t i = 0; i < n; ++i, s += sc, d += channels) {
    if (sc == 1) {
      d[0] = s[0];
      if (channels >= 3) d[1] = d[2] = s[0];
      if (channels == 4) d[3] = 255;
    } else if (channels == 1) {
      d[0] = luma(s[0], s[1], s[2]);  // alpha ignored, as PIL's RGBA -> L
    } else {
      d[0] = s[0], d[1] = s[1], d[2] = s[2];
      if (channels == 4) d[3] = 255;
    }
  }
  return out;
}

Result<Image> decode_image(const uint8_t* data, size_t size, ColorMode mode) {
  if (size == 0) return error("empty file (expected a JPEG, PNG, BMP, WebP or TIFF image)");
  static const uint8_t kPngMagic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Image img;
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
    int orientation = 0;
    SCV_ASSIGN_OR_RETURN(img, decode_jpeg(data, size, &orientation));
    if (orientation > 1) img = apply_exif_orientation(img, orientation);
  } else if (size >= 8 && std::memcmp(data, kPngMagic, 8) == 0) {
    SCV_ASSIGN_OR_RETURN(img, decode_png(data, size));
  } else if (detail::is_bmp(data, size)) {
    SCV_ASSIGN_OR_RETURN(img, detail::decode_bmp(data, size));
  } else if (detail::is_webp(data, size)) {
    SCV_ASSIGN_OR_RETURN(img, detail::decode_webp(data, size));
  } else if (detail::is_tiff(data, size)) {
    SCV_ASSIGN_OR_RETURN(img, detail::decode_tiff(data, size));
  } else if (size < 8 && ((data[0] == 0xFF && (size < 2 || data[1] == 0xD8)) ||
                          std::memcmp(data, kPngMagic, size) == 0)) {
    return error("truncated image data (", size, " bytes)");
  } else {
    return error("not a JPEG, PNG, BMP, WebP or TIFF file (starts with '",
                 printable_prefix(data, size), "')");
  }
  switch (mode) {
    case ColorMode::keep:
      return img;
    case ColorMode::rgb:
      return img.channels == 3 ? img : convert_channels(img, 3);
    case ColorMode::gray:
      return img.channels == 1 ? img : convert_channels(img, 1);
  }
  return img;
}

Result<Image> load_image(const std::string& path, ColorMode mode) {
  auto bytes = read_input(path);
  if (!bytes.ok()) return bytes.status();
  auto img = decode_image(bytes->data(), bytes->size(), mode);
  if (!img.ok()) return img.status().with_context(path);
  return img;
}

Status save_png(const std::string& path, const Image& img) {
  auto bytes = encode_png(img);
  if (!bytes.ok()) return bytes.status().with_context(path);
  return write_file_atomic(path, bytes->data(), bytes->size());
}

ImageFormat image_format_for_path(const std::string& path) {
  const size_t dot = path.find_last_of('.'), slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return ImageFormat::png;
  std::string e = path.substr(dot + 1);
  for (char& ch : e) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (e == "jpg" || e == "jpeg") return ImageFormat::jpeg;
  if (e == "bmp") return ImageFormat::bmp;
  if (e == "webp") return ImageFormat::webp;
  if (e == "tif" || e == "tiff") return ImageFormat::tiff;
  return ImageFormat::png;
}

Result<std::vector<uint8_t>> encode_image(const Image& img, ImageFormat format, int quality) {
  if (img.channels != 1 && img.channels != 3 && img.channels != 4)
    return error("cannot write an image with ", img.channels, " channels (expected 1, 3 or 4)");
  if (img.width <= 0 || img.height <= 0 ||
      img.pixels.size() != size_t(img.width) * img.height * img.channels)
    return error("cannot write an empty or inconsistent ", img.width, "x", img.height, " image");
  if (quality < 1 || quality > 100) return error("quality must be 1..100, got ", quality);
  switch (format) {
    case ImageFormat::png:
      return encode_png(img);
    case ImageFormat::jpeg:
      return encode_jpeg(img, quality);
    case ImageFormat::bmp:
      return detail::encode_bmp(img);
    case ImageFormat::webp:
      return detail::encode_webp(img, quality);
    case ImageFormat::tiff:
      return detail::encode_tiff(img);
  }
  return error("unknown image format");
}

Status save_image(const std::string& path, const Image& img, int quality) {
  auto bytes = encode_image(img, image_format_for_path(path), quality);
  if (!bytes.ok()) return bytes.status().with_context(path);
  return write_file_atomic(path, bytes->data(), bytes->size());
}

}  // namespace scv
