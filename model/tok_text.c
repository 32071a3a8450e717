/* tok_text.c: text primitives of the tokenizer: UTF-8 validation and lossy decoding (Rust's
 * from_utf8_lossy rules), the ByteLevel alphabet, the Unicode classes added-token matching
 * uses, and NFC through utf8proc into reusable buffers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common/error.h"
#include "model/tok_internal.h"

/* ---- ByteLevel ------------------------------------------------------------------------ */

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * (0x00-0x20, 0x7F-0xA0, 0xAD) for U+0100.. in byte order. */
const uint16_t tok_byte_char[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10A, 0x10B, 0x10C, 0x10D, 0x10E, 0x10F,
    0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117, 0x118, 0x119, 0x11A, 0x11B, 0x11C, 0x11D, 0x11E, 0x11F,
    0x120, 0x021, 0x022, 0x023, 0x024, 0x025, 0x026, 0x027, 0x028, 0x029, 0x02A, 0x02B, 0x02C, 0x02D, 0x02E, 0x02F,
    0x030, 0x031, 0x032, 0x033, 0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03A, 0x03B, 0x03C, 0x03D, 0x03E, 0x03F,
    0x040, 0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047, 0x048, 0x049, 0x04A, 0x04B, 0x04C, 0x04D, 0x04E, 0x04F,
    0x050, 0x051, 0x052, 0x053, 0x054, 0x055, 0x056, 0x057, 0x058, 0x059, 0x05A, 0x05B, 0x05C, 0x05D, 0x05E, 0x05F,
    0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067, 0x068, 0x069, 0x06A, 0x06B, 0x06C, 0x06D, 0x06E, 0x06F,
    0x070, 0x071, 0x072, 0x073, 0x074, 0x075, 0x076, 0x077, 0x078, 0x079, 0x07A, 0x07B, 0x07C, 0x07D, 0x07E, 0x121,
    0x122, 0x123, 0x124, 0x125, 0x126, 0x127, 0x128, 0x129, 0x12A, 0x12B, 0x12C, 0x12D, 0x12E, 0x12F, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13A, 0x13B, 0x13C, 0x13D, 0x13E, 0x13F, 0x140, 0x141,
    0x142, 0x0A1, 0x0A2, 0x0A3, 0x0A4, 0x0A5, 0x0A6, 0x0A7, 0x0A8, 0x0A9, 0x0AA, 0x0AB, 0x0AC, 0x143, 0x0AE, 0x0AF,
    0x0B0, 0x0B1, 0x0B2, 0x0B3, 0x0B4, 0x0B5, 0x0B6, 0x0B7, 0x0B8, 0x0B9, 0x0BA, 0x0BB, 0x0BC, 0x0BD, 0x0BE, 0x0BF,
    0x0C0, 0x0C1, 0x0C2, 0x0C3, 0x0C4, 0x0C5, 0x0C6, 0x0C7, 0x0C8, 0x0C9, 0x0CA, 0x0CB, 0x0CC, 0x0CD, 0x0CE, 0x0CF,
    0x0D0, 0x0D1, 0x0D2, 0x0D3, 0x0D4, 0x0D5, 0x0D6, 0x0D7, 0x0D8, 0x0D9, 0x0DA, 0x0DB, 0x0DC, 0x0DD, 0x0DE, 0x0DF,
    0x0E0, 0x0E1, 0x0E2, 0x0E3, 0x0E4, 0x0E5, 0x0E6, 0x0E7, 0x0E8, 0x0E9, 0x0EA, 0x0EB, 0x0EC, 0x0ED, 0x0EE, 0x0EF,
    0x0F0, 0x0F1, 0x0F2, 0x0F3, 0x0F4, 0x0F5, 0x0F6, 0x0F7, 0x0F8, 0x0F9, 0x0FA, 0x0FB, 0x0FC, 0x0FD, 0x0FE, 0x0FF,
};

/* The byte a ByteLevel character stands for, or -1. */
static int bytelevel_byte(uint32_t cp) {
  if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF)) return (int)cp;
  if (cp >= 0x100 && cp <= 0x120) return (int)(cp - 0x100);        /* 0x00-0x20 */
  if (cp >= 0x121 && cp <= 0x142) return (int)(cp - 0x121 + 0x7F); /* 0x7F-0xA0 */
  if (cp == 0x143) return 0xAD;
  return -1;
}

long tok_bytelevel_decode(const char *s, size_t len, char *out) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, n = 0;
  while (i < len) {
    size_t w;
    uint32_t cp = tok_utf8_next(u + i, &w);
    int b = bytelevel_byte(cp);
    if (b < 0) return -1;
    out[n++] = (char)b;
    i += w;
  }
  return (long)n;
}

size_t tok_bytelevel_encode(const char *s, size_t len, char *out) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    uint16_t cp = tok_byte_char[(unsigned char)s[i]];
    if (cp < 0x80) {
      out[n++] = (char)cp;
    } else {
      out[n++] = (char)(0xC0 | (cp >> 6));
      out[n++] = (char)(0x80 | (cp & 0x3F));
    }
  }
  return n;
}

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Length of the valid sequence starting at s[0] (bytes available: avail), 0 if invalid, or
 * -(k) if the k available bytes are a valid but incomplete start. */
static int utf8_seq(const unsigned char *s, size_t avail) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  int need;
  unsigned lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 2;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k < need; k++) {
    if ((size_t)k >= avail) return -k;
    unsigned b = s[k];
    unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return k == 1 ? 0 : -1000 - k; /* invalid after k valid bytes */
  }
  return need;
}

size_t tok_utf8_valid_prefix(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    if (u[i] < 0x80) {
      i++;
      continue;
    }
    int n = utf8_seq(u + i, len - i);
    if (n <= 0) return i;
    i += (size_t)n;
  }
  return len;
}

size_t tok_utf8_prev(const char *s, size_t end) {
  size_t i = end;
  while (i > 0) {
    i--;
    if (((unsigned char)s[i] & 0xC0) != 0x80) break;
  }
  return i;
}

static const char replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

long tok_utf8_lossy(const unsigned char *s, size_t len, int final, zr_tok_text *out) {
  size_t i = 0, run = 0; /* s[run..i) is valid and not yet copied */
  while (i < len) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    int n = utf8_seq(s + i, len - i);
    if (n > 0) {
      i += (size_t)n;
      continue;
    }
    size_t bad; /* bytes covered by one U+FFFD */
    if (n == 0) {
      bad = 1;
    } else if (n <= -1000) {
      bad = (size_t)(-n - 1000);
    } else { /* incomplete at the end of the data */
      if (!final) break;
      bad = (size_t)(-n);
    }
    if (tok_text_append(out, s + run, i - run) || tok_text_append(out, replacement, 3)) return -ENOMEM;
    i += bad;
    run = i;
  }
  if (tok_text_append(out, s + run, i - run)) return -ENOMEM;
  return (long)i;
}

/* ---- Unicode classes ------------------------------------------------------------------ */

int tok_is_white_space(uint32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

int tok_is_word_char(uint32_t cp) {
  if (cp < 0x80)
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  if (cp == 0x200C || cp == 0x200D) return 1; /* Join_Control */
  /* Alphabetic symbols outside L/M/Nl: circled and squared Latin letters */
  if ((cp >= 0x24B6 && cp <= 0x24E9) || (cp >= 0x1F130 && cp <= 0x1F149) || (cp >= 0x1F150 && cp <= 0x1F169) ||
      (cp >= 0x1F170 && cp <= 0x1F189))
    return 1;
  switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
      return 1;
    default:
      return 0;
  }
}

/* ---- NFC ------------------------------------------------------------------------------ */

/* A code point that NFC leaves alone whatever surrounds it: no canonical decomposition, combining
 * class 0, and never the second half of a canonical composition (utf8proc marks those with
 * comb_index >= 0x8000; Hangul vowel and trailing jamo compose algorithmically). */
static int nfc_inert(uint32_t cp) {
  if (cp < 0x300) return 1;
  if ((cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2)) return 0;
  const utf8proc_property_t *p = utf8proc_get_property((utf8proc_int32_t)cp);
  if (p->combining_class != 0) return 0;
  if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) return 0; /* canonical decomposition */
  if (p->comb_index != UINT16_MAX && p->comb_index >= 0x8000) return 0;
  return 1;
}

int tok_nfc_trivially(const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len && u[i] < 0xCC) i++; /* lead bytes below 0xCC start code points below U+0300 */
  while (i < len) {
    size_t w;
    if (!nfc_inert(tok_utf8_next(u + i, &w))) return 0;
    i += w;
  }
  return 1;
}

int tok_nfc(const char *s, size_t len, tok_buf *out, int32_t **cps, size_t *cps_cap) {
  const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  out->len = 0;
  for (;;) {
    utf8proc_ssize_t n = utf8proc_decompose_custom((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len,
                                                   (utf8proc_int32_t *)*cps, (utf8proc_ssize_t)*cps_cap, opt,
                                                   NULL, NULL);
    if (n < 0) return zr_seterr(-EILSEQ, "tokenizer: NFC failed: %s", utf8proc_errmsg(n));
    if ((size_t)n <= *cps_cap) {
      n = utf8proc_normalize_utf32((utf8proc_int32_t *)*cps, n, opt);
      if (n < 0) return zr_seterr(-EILSEQ, "tokenizer: NFC failed: %s", utf8proc_errmsg(n));
      int rc = tok_buf_reserve(out, (size_t)n * 4);
      if (rc) return rc;
      for (utf8proc_ssize_t i = 0; i < n; i++)
        out->len += (size_t)utf8proc_encode_char((*cps)[i], (utf8proc_uint8_t *)out->p + out->len);
      out->p[out->len] = '\0';
      return 0;
    }
    size_t cap = *cps_cap ? *cps_cap : 256;
    while (cap < (size_t)n) cap *= 2;
    int32_t *p = realloc(*cps, cap * sizeof *p);
    if (!p) return zr_seterr(-ENOMEM, "tokenizer: out of memory (%zu code points)", cap);
    *cps = p;
    *cps_cap = cap;
  }
}
