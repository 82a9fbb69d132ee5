// phial/tokenizer/bpe.hpp - the byte-level BPE vocabulary and the merge loop.
//
// A BpeVocab holds every token's bytes (one blob + offsets; holes have no bytes), a hash map from
// bytes to id for the mergeable tokens (never the added/special ones), and the merge rule:
//   - MergeRule::by_rank (tiktoken): two adjacent parts merge when their concatenated bytes are a
//     token; the pair whose token has the lowest rank merges first (leftmost on ties). This is
//     tiktoken's `_byte_pair_merge`.
//   - MergeRule::by_merge_list (Hugging Face tokenizer.json, GGUF): two adjacent parts merge only
//     when (left, right) is in the merges list; the earliest merge goes first (leftmost on ties).
//     This is Hugging Face's `Word::merge_all`.
// For the Phi-4 vocabularies (merges rebuilt from the ranks) both rules give the same ids.
//
// The merge loop keeps the parts in a linked list and the candidate pairs in a binary heap with
// lazy deletion, so a piece of n bytes costs O(n log n) (tiktoken's loop is O(n^2) and takes
// seconds on the 20,000-byte runs of the full corpus). Short pieces use a plain scan, which is
// faster below a few dozen bytes.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <functional>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <phial/config.hpp>
#include <phial/error.hpp>

namespace phial {

enum class MergeRule {
  by_rank,        // tiktoken: any concatenation that is a token, lowest rank first
  by_merge_list,  // HF / GGUF: only listed (left, right) pairs, earliest merge first
};

namespace detail {

// 64-bit hash of a short byte string (multiply-xorshift over 8-byte words).
PHIAL_ALWAYS_INLINE std::uint64_t hash_bytes(const char* p, std::size_t n) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

PHIAL_ALWAYS_INLINE std::uint64_t hash_u64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  return x ^ (x >> 33);
}

PHIAL_INLINE std::size_t table_capacity_for(std::size_t n) {
  std::size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  return cap;
}

}  // namespace detail

class BpeVocab {
 public:
  static constexpr std::uint32_t kNoRank = std::numeric_limits<std::uint32_t>::max();

  BpeVocab() = default;

  // ---- building (loaders) ----

  // `n_ids` ids, all holes until set_token.
  void reset(std::int32_t n_ids, MergeRule rule) {
    static std::atomic<std::uint64_t> next_uid{1};
    uid_ = next_uid.fetch_add(1);
    rule_ = rule;
    n_ids_ = n_ids;
    refs_.assign(std::size_t(n_ids), TokenRef{0, 0});
    ranks_.assign(std::size_t(n_ids), kNoRank);
    blob_.clear();
    byte_ids_.fill(-1);
    max_token_bytes_ = 0;
    pairs_.clear();
    pair_count_ = 0;
  }
  // Tokens may be set in any order; each id once.
  void set_token(std::int32_t id, std::string_view bytes, std::uint32_t rank) {
    refs_[std::size_t(id)] = TokenRef{std::uint32_t(blob_.size()), std::uint32_t(bytes.size())};
    blob_.append(bytes);
    ranks_[std::size_t(id)] = rank;
    if (bytes.size() == 1) byte_ids_[static_cast<unsigned char>(bytes[0])] = id;
    max_token_bytes_ = std::max<std::size_t>(max_token_bytes_, bytes.size());
  }
  void reserve_blob(std::size_t n) { blob_.reserve(n); }
  // Builds the bytes -> id map over the ids for which `mergeable(id)` is true (and non-empty).
  // Returns false if two such tokens have the same bytes (the later id is then unreachable).
  template <class Pred>
  bool build_index(Pred&& mergeable) {
    std::size_t n = 0;
    for (std::int32_t id = 0; id < n_ids_; ++id)
      if (refs_[std::size_t(id)].length > 0 && mergeable(id)) ++n;
    std::size_t cap = detail::table_capacity_for(n);
    index_.assign(cap, IndexEntry{-1, 0});
    index_mask_ = cap - 1;
    bool unique = true;
    for (std::int32_t id = 0; id < n_ids_; ++id) {
      if (refs_[std::size_t(id)].length == 0 || !mergeable(id)) continue;
      std::string_view b = token_bytes(id);
      std::uint64_t h = detail::hash_bytes(b.data(), b.size());
      std::size_t slot = h & index_mask_;
      bool dup = false;
      while (index_[slot].id >= 0) {
        if (token_bytes(index_[slot].id) == b) {
          dup = true;
          break;
        }
        slot = (slot + 1) & index_mask_;
      }
      if (dup) {
        unique = false;
        continue;
      }
      index_[slot] = IndexEntry{id, std::uint32_t(h >> 32)};
    }
    return unique;
  }
  // For MergeRule::by_merge_list: merge number `rank` joins (left, right) into `merged`.
  void reserve_pairs(std::size_t n) {
    std::size_t cap = detail::table_capacity_for(n);
    pairs_.assign(cap, PairEntry{kEmptyKey, kNoRank, -1});
    pair_mask_ = cap - 1;
    pair_count_ = 0;
  }
  // Returns false when the pair was already listed (the earlier merge wins, as in HF).
  bool add_pair(std::int32_t left, std::int32_t right, std::int32_t merged, std::uint32_t rank) {
    if (pairs_.empty() || (pair_count_ + 1) * 2 > pairs_.size()) grow_pairs();
    std::uint64_t key = pair_key(left, right);
    std::size_t slot = detail::hash_u64(key) & pair_mask_;
    while (pairs_[slot].key != kEmptyKey) {
      if (pairs_[slot].key == key) return false;
      slot = (slot + 1) & pair_mask_;
    }
    pairs_[slot] = PairEntry{key, rank, merged};
    ++pair_count_;
    return true;
  }

  // ---- queries ----

  MergeRule rule() const noexcept { return rule_; }
  std::int32_t size() const noexcept { return n_ids_; }
  std::size_t max_token_bytes() const noexcept { return max_token_bytes_; }
  std::size_t pair_count() const noexcept { return pair_count_; }
  std::string_view token_bytes(std::int32_t id) const noexcept {
    const TokenRef& r = refs_[std::size_t(id)];
    return std::string_view(blob_.data() + r.offset, r.length);
  }
  std::uint32_t rank(std::int32_t id) const noexcept { return ranks_[std::size_t(id)]; }
  std::int32_t byte_id(unsigned char b) const noexcept { return byte_ids_[b]; }
  bool has_all_bytes() const noexcept {
    for (auto id : byte_ids_)
      if (id < 0) return false;
    return true;
  }
  // Id of the mergeable token with exactly these bytes, or -1.
  std::int32_t find(std::string_view bytes) const noexcept {
    if (bytes.empty() || bytes.size() > max_token_bytes_ || index_.empty()) return -1;
    std::uint64_t h = detail::hash_bytes(bytes.data(), bytes.size());
    const auto tag = std::uint32_t(h >> 32);
    std::size_t slot = h & index_mask_;
    for (;;) {
      const IndexEntry& e = index_[slot];
      if (e.id < 0) return -1;
      if (e.tag == tag) {
        const TokenRef& r = refs_[std::size_t(e.id)];
        if (r.length == bytes.size() && std::memcmp(blob_.data() + r.offset, bytes.data(), bytes.size()) == 0) return e.id;
      }
      slot = (slot + 1) & index_mask_;
    }
  }

  // Appends the ids of one pre-token piece (non-empty) to `out`.
  void encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
    if (piece.size() == 1) {
      out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    // Whole piece is one token: the common case for natural text (exact for vocabularies whose
    // every token is reachable by its own merges, as both Phi-4 vocabularies are).
    if (std::int32_t id = find(piece); id >= 0) {
      out.push_back(id);
      return;
    }
    if (piece.size() > kSmallPiece) {
      merge_heap(piece, out);
      return;
    }
    // Short pieces that need merging: a per-thread cache of recent results (the vocabulary is
    // immutable, so entries stay right; uid_ keeps vocabularies apart).
    PieceCache& cache = piece_cache();
    const std::uint64_t h = detail::hash_bytes(piece.data(), piece.size()) ^ uid_;
    PieceCache::Entry& e = cache.entries[h & (PieceCache::kEntries - 1)];
    if (e.hash == h && e.uid == uid_ && e.n_bytes == piece.size() && std::memcmp(e.bytes, piece.data(), piece.size()) == 0) {
      out.insert(out.end(), e.ids, e.ids + e.n_ids);
      return;
    }
    const std::size_t first = out.size();
    merge_small(piece, out);
    const std::size_t n_ids = out.size() - first;
    if (n_ids <= PieceCache::kIds) {
      e.hash = h;
      e.uid = uid_;
      e.n_bytes = std::uint8_t(piece.size());
      e.n_ids = std::uint8_t(n_ids);
      std::memcpy(e.bytes, piece.data(), piece.size());
      std::copy(out.begin() + std::ptrdiff_t(first), out.end(), e.ids);
    }
  }

 private:
  static constexpr std::size_t kSmallPiece = 48;
  // Direct-mapped cache of merged short pieces, one per thread.
  struct PieceCache {
    static constexpr std::size_t kEntries = 4096, kIds = 24;
    struct Entry {
      std::uint64_t hash = 0, uid = 0;
      std::uint8_t n_bytes = 0, n_ids = 0;
      char bytes[kSmallPiece];
      std::int32_t ids[kIds];
    };
    std::vector<Entry> entries = std::vector<Entry>(kEntries);
  };
  static PieceCache& piece_cache() {
    static thread_local PieceCache cache;
    return cache;
  }
  static constexpr std::uint64_t kEmptyKey = ~std::uint64_t(0);
  struct PairEntry {
    std::uint64_t key;
    std::uint32_t rank;
    std::int32_t merged;
  };
  static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return (std::uint64_t(std::uint32_t(left)) << 32) | std::uint32_t(right);
  }
  void grow_pairs() {
    std::vector<PairEntry> old = std::move(pairs_);
    std::size_t cap = std::max<std::size_t>(16, old.size() * 2);
    pairs_.assign(cap, PairEntry{kEmptyKey, kNoRank, -1});
    pair_mask_ = cap - 1;
    for (const auto& e : old) {
      if (e.key == kEmptyKey) continue;
      std::size_t slot = detail::hash_u64(e.key) & pair_mask_;
      while (pairs_[slot].key != kEmptyKey) slot = (slot + 1) & pair_mask_;
      pairs_[slot] = e;
    }
  }

  // The merge candidate for adjacent parts: bytes [begin, mid) with id left and [mid, end) with
  // id right. Returns the rank (kNoRank if they do not merge) and sets `merged`.
  PHIAL_ALWAYS_INLINE std::uint32_t pair_rank(std::string_view piece, std::size_t begin, std::size_t end,
                                              std::int32_t left, std::int32_t right, std::int32_t& merged) const {
    if (rule_ == MergeRule::by_rank) {
      merged = find(piece.substr(begin, end - begin));
      return merged < 0 ? kNoRank : ranks_[std::size_t(merged)];
    }
    std::uint64_t key = pair_key(left, right);
    std::size_t slot = detail::hash_u64(key) & pair_mask_;
    for (;;) {
      const PairEntry& e = pairs_[slot];
      if (e.key == key) {
        merged = e.merged;
        return e.rank;
      }
      if (e.key == kEmptyKey) {
        merged = -1;
        return kNoRank;
      }
      slot = (slot + 1) & pair_mask_;
    }
  }

  // O(n^2) scan for short pieces: parts as arrays, lowest rank (leftmost on ties) merges first.
  void merge_small(std::string_view piece, std::vector<std::int32_t>& out) const {
    const std::size_t n = piece.size();
    std::uint32_t start[kSmallPiece + 1];  // (n + 1) part start offsets; start[n_parts] = n
    std::int32_t id[kSmallPiece];          // (n) part ids
    std::uint32_t rank[kSmallPiece];       // (n) rank of the pair (part i, part i + 1)
    std::int32_t merged[kSmallPiece];      // (n) token that pair would become
    std::size_t n_parts = n;
    for (std::size_t i = 0; i < n; ++i) {
      start[i] = std::uint32_t(i);
      id[i] = byte_ids_[static_cast<unsigned char>(piece[i])];
    }
    start[n] = std::uint32_t(n);
    for (std::size_t i = 0; i + 1 < n_parts; ++i) rank[i] = pair_rank(piece, start[i], start[i + 2], id[i], id[i + 1], merged[i]);
    while (n_parts > 1) {
      std::size_t best = 0;
      std::uint32_t best_rank = kNoRank;
      for (std::size_t i = 0; i + 1 < n_parts; ++i)
        if (rank[i] < best_rank) {
          best_rank = rank[i];
          best = i;
        }
      if (best_rank == kNoRank) break;
      // Merge parts best and best + 1.
      id[best] = merged[best];
      for (std::size_t i = best + 1; i + 1 < n_parts; ++i) {
        id[i] = id[i + 1];
        rank[i] = rank[i + 1];
        merged[i] = merged[i + 1];
      }
      for (std::size_t i = best + 1; i < n_parts; ++i) start[i] = start[i + 1];
      --n_parts;
      if (best + 1 < n_parts) rank[best] = pair_rank(piece, start[best], start[best + 2], id[best], id[best + 1], merged[best]);
      if (best > 0) rank[best - 1] = pair_rank(piece, start[best - 1], start[best + 1], id[best - 1], id[best], merged[best - 1]);
    }
    for (std::size_t i = 0; i < n_parts; ++i) out.push_back(id[i]);
  }

  // O(n log n): linked list of parts + min-heap of candidate pairs with lazy deletion.
  void merge_heap(std::string_view piece, std::vector<std::int32_t>& out) const {
    const std::size_t n = piece.size();
    struct Part {
      std::uint32_t start;  // first byte
      std::uint32_t next;   // index of the next part (n = none); parts are indexed by first byte
      std::uint32_t prev;   // index of the previous part (n = none)
      std::int32_t id;
    };
    struct Candidate {
      std::uint32_t rank;
      std::uint32_t left;   // index (= start byte) of the left part
      std::uint32_t end;    // end byte of the right part when queued: identifies the pair's bytes
      std::int32_t merged;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::vector<Part> parts(n);  // (n) indexed by start byte; dead parts are skipped via links
    const auto none = std::uint32_t(n);
    for (std::size_t i = 0; i < n; ++i)
      parts[i] = Part{std::uint32_t(i), std::uint32_t(i + 1), i == 0 ? none : std::uint32_t(i - 1),
                      byte_ids_[static_cast<unsigned char>(piece[i])]};
    auto part_end = [&](std::uint32_t i) { return parts[i].next == none ? std::uint32_t(n) : parts[i].next; };
    std::vector<Candidate> heap;
    heap.reserve(n);
    auto push = [&](std::uint32_t left) {
      std::uint32_t right = parts[left].next;
      if (right == none) return;
      std::uint32_t end = part_end(right);
      std::int32_t merged = -1;
      std::uint32_t r = pair_rank(piece, left, end, parts[left].id, parts[right].id, merged);
      if (r == kNoRank) return;
      heap.push_back(Candidate{r, left, end, merged});
      std::push_heap(heap.begin(), heap.end(), std::greater<Candidate>{});
    };
    for (std::uint32_t i = 0; i + 1 < n; ++i) push(i);
    std::vector<bool> alive(n, true);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<Candidate>{});
      Candidate c = heap.back();
      heap.pop_back();
      // Stale unless the left part still exists and its right neighbour still ends at c.end.
      if (!alive[c.left]) continue;
      std::uint32_t right = parts[c.left].next;
      if (right == none || part_end(right) != c.end) continue;
      // Merge right into left.
      parts[c.left].id = c.merged;
      parts[c.left].next = parts[right].next;
      if (parts[right].next != none) parts[parts[right].next].prev = c.left;
      alive[right] = false;
      push(c.left);
      if (parts[c.left].prev != none) push(parts[c.left].prev);
    }
    for (std::uint32_t i = 0; i != none; i = parts[i].next) out.push_back(parts[i].id);
  }

  MergeRule rule_ = MergeRule::by_rank;
  std::uint64_t uid_ = 0;  // unique per loaded vocabulary (keys the piece cache)
  std::int32_t n_ids_ = 0;
  struct TokenRef {
    std::uint32_t offset, length;  // bytes [offset, offset + length) of blob_; length 0 = hole
  };
  struct IndexEntry {
    std::int32_t id;   // -1 = empty slot
    std::uint32_t tag;  // high half of the hash: most mismatches are rejected without touching blob_
  };
  std::string blob_;              // all token bytes, concatenated
  std::vector<TokenRef> refs_;    // (n_ids) where each token's bytes are
  std::vector<std::uint32_t> ranks_;    // (n_ids) merge priority for MergeRule::by_rank
  std::array<std::int32_t, 256> byte_ids_{};  // id of each single-byte token (-1 none)
  std::size_t max_token_bytes_ = 0;
  std::vector<IndexEntry> index_;  // open addressing: bytes -> id
  std::size_t index_mask_ = 0;
  std::vector<PairEntry> pairs_;  // open addressing: (left, right) -> (rank, merged)
  std::size_t pair_mask_ = 0;
  std::size_t pair_count_ = 0;
};

}  // namespace phial
