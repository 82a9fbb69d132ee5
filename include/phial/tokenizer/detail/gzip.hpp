// phial/tokenizer/detail/gzip.hpp - a small gzip (RFC 1952) / DEFLATE (RFC 1951) decoder, so
// vocabulary files can be shipped and read compressed (`cl100k_base.tiktoken.gz`) without making
// every program that uses phial link zlib. Correct, bounds-checked, not especially fast (~100 MB/s).
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <phial/config.hpp>
#include <phial/error.hpp>

namespace phial::detail {

inline bool is_gzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1F && static_cast<unsigned char>(data[1]) == 0x8B;
}

class Inflater {
 public:
  Inflater(std::string_view in, std::string& out, const std::string& name) : in_(in), out_(out), name_(name) {}

  // Decodes one raw DEFLATE stream starting at byte `pos`; returns the byte after it.
  std::size_t run(std::size_t pos) {
    pos_ = pos;
    bitbuf_ = 0;
    bitcnt_ = 0;
    bool last = false;
    while (!last) {
      last = bits(1) != 0;
      unsigned type = bits(2);
      if (type == 0) {
        stored();
      } else if (type == 1) {
        fixed_tables();
        codes();
      } else if (type == 2) {
        dynamic_tables();
        codes();
      } else {
        fail("invalid block type");
      }
    }
    return pos_;
  }

 private:
  // Canonical Huffman code: counts per length and symbols sorted by code.
  struct Huffman {
    std::array<std::uint16_t, 16> count{};
    std::array<std::uint16_t, 288> symbol{};
  };

  [[noreturn]] void fail(const char* what) const { throw FormatError(name_ + ": corrupt gzip data (" + what + ")"); }

  unsigned bits(unsigned need) {
    while (bitcnt_ < need) {
      if (pos_ >= in_.size()) fail("unexpected end");
      bitbuf_ |= std::uint32_t(static_cast<unsigned char>(in_[pos_++])) << bitcnt_;
      bitcnt_ += 8;
    }
    unsigned v = bitbuf_ & ((1u << need) - 1u);
    bitbuf_ >>= need;
    bitcnt_ -= need;
    return v;
  }

  void stored() {
    bitbuf_ = 0;
    bitcnt_ = 0;
    if (pos_ + 4 > in_.size()) fail("unexpected end");
    unsigned len = static_cast<unsigned char>(in_[pos_]) | (unsigned(static_cast<unsigned char>(in_[pos_ + 1])) << 8);
    unsigned nlen = static_cast<unsigned char>(in_[pos_ + 2]) | (unsigned(static_cast<unsigned char>(in_[pos_ + 3])) << 8);
    pos_ += 4;
    if ((len ^ 0xFFFFu) != nlen) fail("stored length check");
    if (pos_ + len > in_.size()) fail("unexpected end");
    out_.append(in_.data() + pos_, len);
    pos_ += len;
  }

  void build(Huffman& h, const std::uint8_t* lengths, unsigned n) {
    h.count.fill(0);
    for (unsigned i = 0; i < n; ++i) ++h.count[lengths[i]];
    h.count[0] = 0;
    std::array<std::uint16_t, 16> offs{};
    int left = 1;
    for (unsigned len = 1; len < 16; ++len) {
      left <<= 1;
      left -= h.count[len];
      if (left < 0) fail("over-subscribed code");
      offs[len] = std::uint16_t(len == 1 ? 0 : offs[len - 1] + h.count[len - 1]);
    }
    for (unsigned i = 0; i < n; ++i)
      if (lengths[i] != 0) h.symbol[offs[lengths[i]]++] = std::uint16_t(i);
  }

  unsigned decode(const Huffman& h) {
    int code = 0, first = 0, index = 0;
    for (unsigned len = 1; len < 16; ++len) {
      code |= int(bits(1));
      int count = h.count[len];
      if (code - count < first) return h.symbol[std::size_t(index + (code - first))];
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    fail("invalid Huffman code");
  }

  void fixed_tables() {
    std::uint8_t lengths[288];
    unsigned i = 0;
    for (; i < 144; ++i) lengths[i] = 8;
    for (; i < 256; ++i) lengths[i] = 9;
    for (; i < 280; ++i) lengths[i] = 7;
    for (; i < 288; ++i) lengths[i] = 8;
    build(lit_, lengths, 288);
    for (i = 0; i < 30; ++i) lengths[i] = 5;
    build(dist_, lengths, 30);
  }

  void dynamic_tables() {
    static constexpr std::uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    unsigned nlen = bits(5) + 257, ndist = bits(5) + 1, ncode = bits(4) + 4;
    if (nlen > 286 || ndist > 30) fail("bad table counts");
    std::uint8_t lengths[320] = {};
    for (unsigned i = 0; i < ncode; ++i) lengths[order[i]] = std::uint8_t(bits(3));
    Huffman lencode;
    build(lencode, lengths, 19);
    unsigned index = 0;
    while (index < nlen + ndist) {
      unsigned sym = decode(lencode);
      if (sym < 16) {
        lengths[index++] = std::uint8_t(sym);
        continue;
      }
      unsigned len = 0, repeat = 0;
      if (sym == 16) {
        if (index == 0) fail("repeat with no length");
        len = lengths[index - 1];
        repeat = 3 + bits(2);
      } else if (sym == 17) {
        repeat = 3 + bits(3);
      } else {
        repeat = 11 + bits(7);
      }
      if (index + repeat > nlen + ndist) fail("too many lengths");
      while (repeat--) lengths[index++] = std::uint8_t(len);
    }
    if (lengths[256] == 0) fail("no end-of-block code");
    build(lit_, lengths, nlen);
    build(dist_, lengths + nlen, ndist);
  }

  void codes() {
    static constexpr std::uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                                   31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static constexpr std::uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static constexpr std::uint16_t dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                                                    33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static constexpr std::uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                                    6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    for (;;) {
      unsigned sym = decode(lit_);
      if (sym < 256) {
        out_ += char(sym);
      } else if (sym == 256) {
        return;
      } else {
        sym -= 257;
        if (sym >= 29) fail("bad length symbol");
        std::size_t len = len_base[sym] + bits(len_extra[sym]);
        unsigned dsym = decode(dist_);
        if (dsym >= 30) fail("bad distance symbol");
        std::size_t dist = dist_base[dsym] + bits(dist_extra[dsym]);
        if (dist > out_.size()) fail("distance too far back");
        std::size_t from = out_.size() - dist;
        for (std::size_t k = 0; k < len; ++k) out_ += out_[from + k];
      }
    }
  }

  std::string_view in_;
  std::string& out_;
  const std::string& name_;
  std::size_t pos_ = 0;
  std::uint32_t bitbuf_ = 0;
  unsigned bitcnt_ = 0;
  Huffman lit_, dist_;
};

inline std::uint32_t crc32(std::string_view data) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : data) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Decompresses a whole .gz file (all members); checks the CRC-32 and size of each member.
inline std::string gunzip(std::string_view data, const std::string& name = "<memory>") {
  std::string out;
  std::size_t pos = 0;
  auto u8 = [&](std::size_t i) -> unsigned {
    if (i >= data.size()) throw FormatError(name + ": truncated gzip header");
    return static_cast<unsigned char>(data[i]);
  };
  while (pos < data.size()) {
    if (u8(pos) != 0x1F || u8(pos + 1) != 0x8B || u8(pos + 2) != 8) throw FormatError(name + ": not a gzip (deflate) file");
    unsigned flags = u8(pos + 3);
    std::size_t p = pos + 10;
    if (flags & 4) p += 2 + (u8(p) | (u8(p + 1) << 8));  // FEXTRA
    if (flags & 8)
      while (u8(p++) != 0) {
      }  // FNAME
    if (flags & 16)
      while (u8(p++) != 0) {
      }  // FCOMMENT
    if (flags & 2) p += 2;  // FHCRC
    std::size_t member_start = out.size();
    p = Inflater(data, out, name).run(p);
    if (p + 8 > data.size()) throw FormatError(name + ": truncated gzip trailer");
    std::uint32_t crc = u8(p) | (u8(p + 1) << 8) | (u8(p + 2) << 16) | (std::uint32_t(u8(p + 3)) << 24);
    std::uint32_t isize = u8(p + 4) | (u8(p + 5) << 8) | (u8(p + 6) << 16) | (std::uint32_t(u8(p + 7)) << 24);
    std::string_view member(out.data() + member_start, out.size() - member_start);
    if (crc32(member) != crc || std::uint32_t(member.size()) != isize) throw FormatError(name + ": gzip CRC mismatch");
    pos = p + 8;
  }
  return out;
}

}  // namespace phial::detail
