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
#include <bit>
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

PHIAL_ALWAYS_INLINE std::uint64_t load_u64(const char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// The first min(n, 8) bytes of p as a little-endian word, zero padded, without reading outside
// [p, p + n) (overlapping loads instead of a byte loop: this runs once per piece and per merge).
PHIAL_ALWAYS_INLINE std::uint64_t load_head(const char* p, std::size_t n) {
  if constexpr (std::endian::native != std::endian::little) {
    std::uint64_t w = 0;
    for (std::size_t i = 0; i < n && i < 8; ++i) w |= std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i);
    return w;
  }
  if (n >= 8) return load_u64(p);
  if (n >= 4) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);  // overlaps lo when n < 8: same bytes, so OR is exact
    return std::uint64_t(lo) | (std::uint64_t(hi) << (8 * (n - 4)));
  }
  if (n == 0) return 0;
  auto byte = [&](std::size_t i) { return std::uint64_t(static_cast<unsigned char>(p[i])) << (8 * i); };
  return byte(0) | byte(n / 2) | byte(n - 1);
}

// 64-bit hash of a byte string whose head (load_head) is already known. Short strings (the
// common case: most tokens are <= 8 bytes) cost two multiplies.
PHIAL_ALWAYS_INLINE std::uint64_t hash_piece(const char* p, std::size_t n, std::uint64_t head) {
  std::uint64_t h = (head ^ (std::uint64_t(n) * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
  if (n > 8) {
    std::size_t i = 8;
    for (; i + 8 <= n; i += 8) {
      h ^= h >> 31;
      h = (h ^ load_u64(p + i)) * 0x94D049BB133111EBull;
    }
    if (i < n) {  // the last 8 bytes (overlapping the previous word)
      h ^= h >> 31;
      h = (h ^ load_u64(p + n - 8)) * 0xC2B2AE3D27D4EB4Full;
    }
  }
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  return h ^ (h >> 32);
}

// Back-compat helper: hash of a byte string.
PHIAL_ALWAYS_INLINE std::uint64_t hash_bytes(const char* p, std::size_t n) { return hash_piece(p, n, load_head(p, n)); }

PHIAL_ALWAYS_INLINE std::uint64_t hash_u64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  return x ^ (x >> 33);
}

inline std::size_t table_capacity_for(std::size_t n) {
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
    slots_.clear();
    slot_mask_ = 0;
    rank_is_id_ = false;
    pair2_.clear();
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
  // Bulk loading without copies: take `blob` as the token bytes, then place tokens inside it with
  // set_token_at (set_token may still append more).
  void adopt_blob(std::string blob) { blob_ = std::move(blob); }
  void set_token_at(std::int32_t id, std::uint32_t offset, std::uint32_t length, std::uint32_t rank) {
    refs_[std::size_t(id)] = TokenRef{offset, length};
    ranks_[std::size_t(id)] = rank;
    if (length == 1) byte_ids_[static_cast<unsigned char>(blob_[offset])] = id;
    if (length > max_token_bytes_) max_token_bytes_ = length;
  }
  // Builds the bytes -> id map over the ids for which `mergeable(id)` is true (and non-empty).
  // Returns false if two such tokens have the same bytes (the later id is then unreachable).
  template <class Pred>
  bool build_index(Pred&& mergeable) {
    // (n) the ids to index, in id order (the lowest id wins among duplicates)
    std::vector<std::int32_t> ids;
    ids.reserve(std::size_t(n_ids_));
    for (std::int32_t id = 0; id < n_ids_; ++id)
      if (refs_[std::size_t(id)].length > 0 && mergeable(id)) ids.push_back(id);
    std::size_t cap = detail::table_capacity_for(ids.size());
    slots_.assign(cap, Slot{0, -1, 0});
    slot_mask_ = cap - 1;
    bool unique = true;
    rank_is_id_ = true;
    // Hashes are computed a few tokens ahead and their slots prefetched: the table is larger
    // than the caches, so inserting in id order would wait on one miss per token.
    constexpr std::size_t kAhead = 16;
    struct Pending {
      std::uint64_t head, h;
    };
    Pending ring[kAhead];
    auto prepare = [&](std::size_t k) {
      std::string_view b = token_bytes(ids[k]);
      const std::uint64_t head = detail::load_head(b.data(), b.size());
      const std::uint64_t h = detail::hash_piece(b.data(), b.size(), head);
      ring[k % kAhead] = Pending{head, h};
#if defined(__GNUC__) || defined(__clang__)
      __builtin_prefetch(&slots_[h & slot_mask_], 1);
#endif
    };
    for (std::size_t k = 0; k < ids.size() && k < kAhead; ++k) prepare(k);
    for (std::size_t k = 0; k < ids.size(); ++k) {
      const std::int32_t id = ids[k];
      const Pending pending = ring[k % kAhead];
      if (k + kAhead < ids.size()) prepare(k + kAhead);
      std::string_view b = token_bytes(id);
      const std::uint32_t meta = slot_meta(b.size(), pending.h);
      std::size_t slot = pending.h & slot_mask_;
      bool dup = false;
      while (slots_[slot].meta != 0) {
        if (slots_[slot].meta == meta && slots_[slot].head == pending.head && token_bytes(slots_[slot].id) == b) {
          dup = true;
          break;
        }
        slot = (slot + 1) & slot_mask_;
      }
      if (dup) {
        unique = false;
        continue;
      }
      slots_[slot] = Slot{pending.head, id, meta};
      if (ranks_[std::size_t(id)] != std::uint32_t(id)) rank_is_id_ = false;
    }
    return unique;
  }
  bool indexed() const noexcept { return !slots_.empty(); }
  // Precomputes the merge candidates of every pair of single bytes (the first round of every
  // merge) in a direct 64K table; call once the index and the merge pairs are complete.
  void finalize() {
    pair2_.assign(65536, Pair2{kNoRank, -1});
    if (rule_ == MergeRule::by_rank) {
      for (std::int32_t id = 0; id < n_ids_; ++id) {
        if (refs_[std::size_t(id)].length != 2) continue;
        std::string_view b = token_bytes(id);
        const std::int32_t found = find(b);  // the indexed id (not an added token, first of duplicates)
        if (found >= 0) pair2_[pair2_index(b[0], b[1])] = Pair2{ranks_[std::size_t(found)], found};
      }
    } else {
      for (const PairEntry& e : pairs_) {
        if (e.key == kEmptyKey) continue;
        auto left = std::int32_t(e.key >> 32), right = std::int32_t(e.key & 0xFFFFFFFFu);
        if (left < 0 || right < 0 || left >= n_ids_ || right >= n_ids_) continue;
        std::string_view lb = token_bytes(left), rb = token_bytes(right);
        if (lb.size() != 1 || rb.size() != 1 || byte_id(static_cast<unsigned char>(lb[0])) != left ||
            byte_id(static_cast<unsigned char>(rb[0])) != right)
          continue;  // parts start as byte_id(b): other single-byte ids never meet here
        pair2_[pair2_index(lb[0], rb[0])] = Pair2{e.rank, e.merged};
      }
    }
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
  std::int32_t find(std::string_view bytes) const noexcept { return find(bytes.data(), bytes.size()); }
  PHIAL_ALWAYS_INLINE std::int32_t find(const char* p, std::size_t n) const noexcept {
    if (n == 0 || n > max_token_bytes_ || slots_.empty()) return -1;
    const std::uint64_t head = detail::load_head(p, n);
    return probe(p, n, head, detail::hash_piece(p, n, head));
  }
  // find() in two halves, so that a loader can hash and prefetch a batch of keys before probing
  // (the table is larger than the caches: resolving keys one by one waits on one miss each).
  struct Lookup {
    const char* p;
    std::size_t n;
    std::uint64_t head, h;
  };
  Lookup prepare_find(const char* p, std::size_t n) const noexcept {
    Lookup q{p, n, 0, 0};
    if (n == 0 || n > max_token_bytes_ || slots_.empty()) return q;
    q.head = detail::load_head(p, n);
    q.h = detail::hash_piece(p, n, q.head);
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(&slots_[q.h & slot_mask_]);
#endif
    return q;
  }
  std::int32_t find(const Lookup& q) const noexcept {
    if (q.n == 0 || q.n > max_token_bytes_ || slots_.empty()) return -1;
    return probe(q.p, q.n, q.head, q.h);
  }
  // Prefetches the pair-table slot of (left, right) before add_pair (after reserve_pairs).
  void prefetch_pair(std::int32_t left, std::int32_t right) const noexcept {
#if defined(__GNUC__) || defined(__clang__)
    if (!pairs_.empty()) __builtin_prefetch(&pairs_[detail::hash_u64(pair_key(left, right)) & pair_mask_], 1);
#else
    (void)left;
    (void)right;
#endif
  }

  // Appends the ids of one pre-token piece (non-empty) to `out`.
  void encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
    if (piece.size() == 1) {
      out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    // Whole piece is one token: the common case for natural text (exact for vocabularies whose
    // every token is reachable by its own merges, as both Phi-4 vocabularies are).
    if (std::int32_t id = find(piece.data(), piece.size()); id >= 0) {
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

  PHIAL_ALWAYS_INLINE std::int32_t probe(const char* p, std::size_t n, std::uint64_t head, std::uint64_t h) const noexcept {
    const std::uint32_t meta = slot_meta(n, h);
    std::size_t slot = h & slot_mask_;
    for (;;) {
      const Slot& e = slots_[slot];
      if (e.meta == meta && e.head == head) {
        if (n <= 8) return e.id;  // head holds all the bytes, meta the length
        const TokenRef& r = refs_[std::size_t(e.id)];
        if (r.length == n && std::memcmp(blob_.data() + r.offset + 8, p + 8, n - 8) == 0) return e.id;
      }
      if (e.meta == 0) return -1;
      slot = (slot + 1) & slot_mask_;
    }
  }

  // The merge candidate for adjacent parts: bytes [begin, mid) with id left and [mid, end) with
  // id right. Returns the rank (kNoRank if they do not merge) and sets `merged`.
  PHIAL_ALWAYS_INLINE std::uint32_t pair_rank(std::string_view piece, std::size_t begin, std::size_t end,
                                              std::int32_t left, std::int32_t right, std::int32_t& merged) const {
    if (rule_ == MergeRule::by_rank) {
      merged = find(piece.data() + begin, end - begin);
      if (merged < 0) return kNoRank;
      return rank_is_id_ ? std::uint32_t(merged) : ranks_[std::size_t(merged)];
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
    if (!pair2_.empty()) {
      for (std::size_t i = 0; i + 1 < n_parts; ++i) {
        const Pair2& q = pair2_[pair2_index(piece[i], piece[i + 1])];
        rank[i] = q.rank;
        merged[i] = q.merged;
      }
    } else {
      for (std::size_t i = 0; i + 1 < n_parts; ++i) rank[i] = pair_rank(piece, start[i], start[i + 2], id[i], id[i + 1], merged[i]);
    }
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
    if (!pair2_.empty()) {  // first round from the byte-pair table, heapified at once
      for (std::uint32_t i = 0; i + 1 < n; ++i) {
        const Pair2& q = pair2_[pair2_index(piece[i], piece[i + 1])];
        if (q.rank != kNoRank) heap.push_back(Candidate{q.rank, i, i + 2, q.merged});
      }
      std::make_heap(heap.begin(), heap.end(), std::greater<Candidate>{});
    } else {
      for (std::uint32_t i = 0; i + 1 < n; ++i) push(i);
    }
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
  // One slot of the bytes -> id table (16 bytes, four per cache line). Tokens of up to 8 bytes
  // are compared entirely inside the slot (one cache miss per lookup); longer ones also compare
  // their bytes after the 8th in blob_.
  struct Slot {
    std::uint64_t head;  // first min(length, 8) bytes, zero padded (detail::load_head)
    std::int32_t id;
    std::uint32_t meta;  // 0 = empty; else min(length, 0xFFFF) | (16 hash bits << 16)
  };
  static PHIAL_ALWAYS_INLINE std::uint32_t slot_meta(std::size_t n, std::uint64_t h) {
    return std::uint32_t(n < 0xFFFF ? n : 0xFFFF) | (std::uint32_t(h >> 48) << 16);
  }
  // Merge candidate of a pair of single bytes.
  struct Pair2 {
    std::uint32_t rank;  // kNoRank = the pair does not merge
    std::int32_t merged;
  };
  static std::size_t pair2_index(char a, char b) {
    return (std::size_t(static_cast<unsigned char>(a)) << 8) | static_cast<unsigned char>(b);
  }
  std::string blob_;              // all token bytes, concatenated
  std::vector<TokenRef> refs_;    // (n_ids) where each token's bytes are
  std::vector<std::uint32_t> ranks_;    // (n_ids) merge priority for MergeRule::by_rank
  std::array<std::int32_t, 256> byte_ids_{};  // id of each single-byte token (-1 none)
  std::size_t max_token_bytes_ = 0;
  std::vector<Slot> slots_;  // open addressing, linear probing: bytes -> id
  std::size_t slot_mask_ = 0;
  bool rank_is_id_ = false;  // every indexed token's rank is its id (tiktoken): no ranks_ lookup
  std::vector<Pair2> pair2_;  // (65536) first-round merge candidates, by (byte << 8 | byte); empty until finalize()
  std::vector<PairEntry> pairs_;  // open addressing: (left, right) -> (rank, merged)
  std::size_t pair_mask_ = 0;
  std::size_t pair_count_ = 0;
};

}  // namespace phial
