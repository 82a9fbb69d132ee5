// phial/sample/generate.hpp - the generation loop: prompt tokens in, tokens and text out.
//
// One step: sample from the logits, decide whether to stop, stream the text delta, evaluate the
// token. Around that:
//   * stop token ids (family defaults: <|end|> 200020 and <|endoftext|> 199999 for Phi-4-mini,
//     <|im_end|> 100265 and <|endoftext|> 100257 for Phi-4) and stop strings (held back while they
//     could still be forming, cut from the text when they match);
//   * a reasoning budget: tokens generated inside <think>...</think> are counted; at the cap the
//     caller's close tokens (e.g. the encoding of "</think>") are injected and the answer follows;
//   * grammars, applied lazily: free text is unconstrained; the grammar switches on when the
//     trigger token (<|tool_call|>) or trigger text (<tool_call>) is sampled, or from the first
//     token (a required tool call, or a whole answer constrained to a schema). While active, the
//     sampled token is checked against the grammar first (a few hundred ns), and the full token
//     mask is computed only when it is rejected;
//   * streaming: the callback gets each token with its text delta, never splitting a UTF-8
//     character; returning false stops generation;
//   * cancellation (std::stop_token or an atomic flag), checked between tokens.
#pragma once
#include <phial/config.hpp>
#include <phial/error.hpp>
#include <phial/model/config.hpp>
#include <phial/model/evaluator.hpp>
#include <phial/sample/grammar.hpp>
#include <phial/sample/sampler.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace phial {

enum class StopReason {
  max_tokens,        // the token budget ran out
  stop_token,        // a stop token id was sampled (not part of the text)
  stop_string,       // a stop string appeared (cut from the text)
  grammar_complete,  // the active grammar matched completely (e.g. a whole tool call)
  grammar_dead_end,  // the grammar allowed no token (a vocabulary that cannot spell it)
  cancelled,         // the stop token / cancel flag was set
  callback,          // the streaming callback returned false
};

inline const char* to_string(StopReason r) noexcept {
  switch (r) {
    case StopReason::max_tokens: return "max_tokens";
    case StopReason::stop_token: return "stop_token";
    case StopReason::stop_string: return "stop_string";
    case StopReason::grammar_complete: return "grammar_complete";
    case StopReason::grammar_dead_end: return "grammar_dead_end";
    case StopReason::cancelled: return "cancelled";
    case StopReason::callback: return "callback";
  }
  return "?";
}

struct ReasoningBudget {
  std::int32_t max_tokens = -1;          // tokens allowed inside the trace; -1: no cap
  std::string open_text = "<think>";     // recognised in the generated text
  std::string close_text = "</think>";
  std::vector<std::int32_t> close_tokens;  // injected at the cap (e.g. tokenizer.encode("</think>\n"))
  bool starts_open = false;              // the prompt already ends inside a trace
};

enum class GrammarMode {
  off,
  lazy,        // free text until the trigger token / text, then the grammar
  from_start,  // the grammar constrains the whole answer from the first token
};

struct GenerateOptions {
  SamplerConfig sampler;
  std::int32_t max_tokens = 512;
  std::vector<std::int32_t> stop_token_ids;
  std::vector<std::string> stop_strings;
  ReasoningBudget reasoning;

  Grammar grammar;                    // empty: no constraint
  GrammarMode grammar_mode = GrammarMode::off;
  std::int32_t trigger_token = -1;    // lazy: this token switches the grammar on (it is the
                                      // grammar's first terminal, e.g. <|tool_call|>, or precedes it)
  std::string trigger_text;           // lazy: this text does (the grammar starts at its first byte)
  bool continue_after_grammar = false;  // on completion: switch back to free text instead of stopping

  std::stop_token stop;                         // cancellation, checked between tokens
  const std::atomic<bool>* cancel = nullptr;    // same, as a flag

  // Stop tokens per family (spec §5).
  static std::vector<std::int32_t> default_stop_tokens(Family family) {
    switch (family) {
      case Family::phi4_mini: return {200020, 199999};  // <|end|>, <|endoftext|>
      case Family::phi4: return {100265, 100257};       // <|im_end|>, <|endoftext|>
      default: return {};
    }
  }
  // Sampler and stop tokens recommended for a model.
  static GenerateOptions defaults_for(Variant variant) {
    GenerateOptions o;
    o.sampler = SamplerConfig::defaults_for(variant);
    const bool big = variant == Variant::phi4 || variant == Variant::phi4_reasoning;
    o.stop_token_ids = default_stop_tokens(big ? Family::phi4 : Family::phi4_mini);
    if (variant == Variant::phi4_reasoning || variant == Variant::phi4_mini_reasoning) o.max_tokens = 32768;
    return o;
  }
};

struct GenerateResult {
  std::vector<std::int32_t> tokens;  // every generated token, injected ones included; no stop token
  std::string text;                  // their text (stop string cut, stop token left out)
  StopReason reason = StopReason::max_tokens;
  std::int32_t stop_token = -1;      // the stop token sampled, if that is why it stopped
  std::size_t n_evaluated = 0;       // how many of `tokens` the evaluator holds (the last sampled
                                     // token is not evaluated when generation stops right after it)
  std::int32_t reasoning_tokens = 0; // tokens generated inside the reasoning trace
  bool reasoning_truncated = false;  // the budget closed the trace
  bool grammar_activated = false;    // the grammar was switched on at some point
  bool grammar_complete = false;     // ... and it matched completely
  std::int32_t full_masks = 0;       // how many full masks were computed (a rejected token, or a
                                     // step of a rejection streak that masked first)
};

// Called once per token with the text it adds (possibly empty while a UTF-8 character or a
// possible stop string is incomplete). Return false to stop. At the end, text held back for a
// stop string that never completed is released in one last call with token -1.
using TokenCallback = std::function<bool(std::int32_t token, std::string_view delta)>;

namespace detail {

// Length of the incomplete UTF-8 sequence at the end of `s` (0 when it ends on a boundary).
inline std::size_t utf8_incomplete_tail(std::string_view s) {
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation: keep looking for the lead byte
    std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

// Length of the longest suffix of `s` that is a proper prefix of one of the stop strings.
inline std::size_t stop_prefix_tail(std::string_view s, const std::vector<std::string>& stops) {
  std::size_t best = 0;
  for (const auto& stop : stops) {
    for (std::size_t k = std::min(stop.size() - 1, s.size()); k > best; --k)
      if (s.substr(s.size() - k) == std::string_view(stop).substr(0, k)) { best = k; break; }
  }
  return best;
}

}  // namespace detail

// Runs generation. `vocab` maps ids to bytes (and indexes them for grammar masks). The evaluator
// receives the prompt first (it may already hold earlier turns). Throws InvalidArgument on an
// empty prompt with an empty evaluator, or a vocabulary smaller than the model's logits.
inline GenerateResult generate(Evaluator& evaluator, std::span<const std::int32_t> prompt, const VocabIndex& vocab,
                               const GenerateOptions& opts, const TokenCallback& on_token = {}) {
  if (prompt.empty()) throw InvalidArgument("generate: empty prompt");
  if (opts.grammar_mode != GrammarMode::off && opts.grammar.empty())
    throw InvalidArgument("generate: grammar_mode is set but no grammar was given");
  if (opts.grammar_mode == GrammarMode::lazy && opts.trigger_token < 0 && opts.trigger_text.empty())
    throw InvalidArgument("generate: lazy grammar needs a trigger_token or a trigger_text");

  GenerateResult out;
  Sampler sampler(opts.sampler);
  TokenMasker masker(vocab);
  TokenMask mask;

  const bool has_budget = opts.reasoning.max_tokens >= 0;
  if (has_budget && opts.reasoning.close_tokens.empty())
    throw InvalidArgument("generate: a reasoning budget needs close_tokens to inject");
  bool in_think = opts.reasoning.starts_open;
  std::size_t think_scan = 0;  // text offset from which to look for the next open/close tag

  std::optional<GrammarState> gstate;
  if (opts.grammar_mode == GrammarMode::from_start) {
    gstate = opts.grammar.start();
    out.grammar_activated = true;
  }

  auto is_stop = [&](std::int32_t t) {
    return std::find(opts.stop_token_ids.begin(), opts.stop_token_ids.end(), t) != opts.stop_token_ids.end();
  };
  auto cancelled = [&] {
    return opts.stop.stop_requested() || (opts.cancel && opts.cancel->load(std::memory_order_relaxed));
  };

  int rejected_in_row = 0;  // consecutive tokens the grammar rejected (see "Pick a token")
  int masked_first = 0;     // steps of the current streak that computed the mask first
  std::size_t emitted = 0;  // bytes of out.text already streamed
  bool stopped = false;

  // Appends a token's text, tracks the reasoning trace, checks stop strings, streams the delta.
  auto add_text = [&](std::int32_t t) {
    out.text += vocab.token_bytes(t);
    if (!opts.reasoning.open_text.empty()) {
      for (;;) {  // follow open/close tags in order
        const std::string& tag = in_think ? opts.reasoning.close_text : opts.reasoning.open_text;
        const auto p = out.text.find(tag, think_scan);
        if (p == std::string::npos) {
          if (out.text.size() >= tag.size()) think_scan = std::max(think_scan, out.text.size() - tag.size() + 1);
          break;
        }
        in_think = !in_think;
        think_scan = p + tag.size();
      }
    }
    std::size_t end = out.text.size() - detail::utf8_incomplete_tail(out.text);
    if (!opts.stop_strings.empty()) {
      const std::size_t from = emitted;
      for (const auto& s : opts.stop_strings) {
        if (s.empty()) continue;
        const std::size_t start = from >= s.size() ? from - s.size() + 1 : 0;
        const auto p = out.text.find(s, start);
        if (p != std::string::npos) {
          out.text.resize(p);
          end = std::min(end, p);
          out.reason = StopReason::stop_string;
          stopped = true;
        }
      }
      if (!stopped) end -= detail::stop_prefix_tail(std::string_view(out.text).substr(0, end), opts.stop_strings);
    }
    if (stopped) end = out.text.size() - detail::utf8_incomplete_tail(out.text);
    if (end < emitted) end = emitted;
    const std::string_view delta = std::string_view(out.text).substr(emitted, end - emitted);
    emitted = end;
    if (on_token && !on_token(t, delta) && !stopped) {
      out.reason = StopReason::callback;
      stopped = true;
    }
  };

  // Whether the text trigger appears once `t` is added; if so, where it starts in the text.
  auto text_trigger_at = [&](std::int32_t t) -> std::optional<std::size_t> {
    const std::string& trig = opts.trigger_text;
    if (trig.empty()) return std::nullopt;
    const std::size_t keep = std::min(out.text.size(), trig.size() - 1);
    std::string window = out.text.substr(out.text.size() - keep);
    window += vocab.token_bytes(t);
    const auto p = window.find(trig);
    if (p == std::string::npos) return std::nullopt;
    return out.text.size() - keep + p;
  };

  std::span<const float> logits = evaluator.eval(prompt);
  if (static_cast<std::int32_t>(logits.size()) > vocab.size())
    throw InvalidArgument("generate: the model has " + std::to_string(logits.size()) + " logits but the vocabulary " +
                          std::to_string(vocab.size()) + " tokens");

  while (!stopped) {
    if (static_cast<std::int32_t>(out.tokens.size()) >= opts.max_tokens) { out.reason = StopReason::max_tokens; break; }
    if (cancelled()) { out.reason = StopReason::cancelled; break; }

    // Reasoning budget: close the trace by injecting the caller's tokens.
    if (has_budget && in_think && out.reasoning_tokens >= opts.reasoning.max_tokens) {
      out.reasoning_truncated = true;
      const auto& close = opts.reasoning.close_tokens;
      for (auto t : close) {
        out.tokens.push_back(t);
        sampler.accept(t);
        add_text(t);
      }
      in_think = false;  // even if the close tokens do not spell close_text exactly
      think_scan = out.text.size();
      logits = evaluator.eval(close);
      out.n_evaluated = out.tokens.size();
      continue;
    }

    // Pick a token. Under a grammar: sample, check, and only when the token is rejected compute
    // the mask and sample again among the allowed tokens. During a rejection streak (a model that
    // does not know the syntax, or a forced literal being spelled out) the first draw is wasted
    // work, so after two rejections in a row the mask is computed first, with the fast path
    // retried every fourth step to notice when the model is back on track.
    auto masked_sample = [&] {
      ++out.full_masks;
      masker.compute(*gstate, mask);
      if (gstate->can_end())
        for (auto s : opts.stop_token_ids) if (s >= 0 && s < vocab.size()) mask.set(s);
      return sampler.sample(logits, &mask);
    };
    const bool mask_first = gstate && rejected_in_row >= 2 && ++masked_first % 4 != 0;
    std::int32_t t = mask_first ? masked_sample() : sampler.sample(logits);
    if (mask_first) {
      if (t < 0) { out.reason = StopReason::grammar_dead_end; break; }
    } else if (gstate) {
      const bool ok = (is_stop(t) && gstate->can_end()) || gstate->accepts_token(t, vocab);
      if (!ok) {
        ++rejected_in_row;
        t = masked_sample();
        if (t < 0) { out.reason = StopReason::grammar_dead_end; break; }
      } else {
        rejected_in_row = 0;
        masked_first = 0;
      }
    } else if (opts.grammar_mode == GrammarMode::lazy && !in_think && !opts.trigger_text.empty()) {
      // A token that completes the trigger text must also fit the grammar with whatever follows
      // the trigger inside it; otherwise it is banned and another one drawn.
      for (int attempt = 0; attempt < 16; ++attempt) {
        const auto at = text_trigger_at(t);
        if (!at) break;
        GrammarState probe = opts.grammar.start();
        std::string from_trigger = out.text.substr(std::min(*at, out.text.size()));
        from_trigger += vocab.token_bytes(t);
        if (*at > out.text.size()) from_trigger = from_trigger.substr(*at - out.text.size());
        if (probe.accepts(from_trigger)) break;
        if (mask.words.empty() || attempt == 0) {
          mask.reset(vocab.size());
          for (auto& w : mask.words) w = ~0ull;
        }
        mask.unset(t);
        t = sampler.sample(logits, &mask);
        if (t < 0) { out.reason = StopReason::grammar_dead_end; stopped = true; break; }
      }
      if (stopped) break;
    }

    if (is_stop(t) && (!gstate || gstate->can_end())) {
      out.reason = StopReason::stop_token;
      out.stop_token = t;
      break;
    }

    // Grammar bookkeeping before the text is added (the trigger search looks at the old text).
    if (gstate) {
      gstate->advance_token(t, vocab);
    } else if (opts.grammar_mode == GrammarMode::lazy && !in_think) {
      if (opts.trigger_token >= 0 && t == opts.trigger_token) {
        gstate = opts.grammar.start();
        gstate->advance_token(t, vocab);  // consumed if the grammar starts with it; else it precedes it
        out.grammar_activated = true;
      } else if (auto at = text_trigger_at(t)) {
        gstate = opts.grammar.start();
        std::string from_trigger = out.text.substr(std::min(*at, out.text.size()));
        from_trigger += vocab.token_bytes(t);
        if (*at > out.text.size()) from_trigger = from_trigger.substr(*at - out.text.size());
        gstate->advance(from_trigger);
        out.grammar_activated = true;
      }
    }

    if (in_think) ++out.reasoning_tokens;
    sampler.accept(t);
    out.tokens.push_back(t);
    add_text(t);
    if (stopped) break;

    if (gstate && gstate->is_complete()) {
      out.grammar_complete = true;
      if (!opts.continue_after_grammar) { out.reason = StopReason::grammar_complete; break; }
      gstate.reset();
      rejected_in_row = 0;
      masked_first = 0;
    }
    if (static_cast<std::int32_t>(out.tokens.size()) >= opts.max_tokens) { out.reason = StopReason::max_tokens; break; }

    const std::int32_t one[1] = {t};
    logits = evaluator.eval(one);
    out.n_evaluated = out.tokens.size();
  }

  // Flush what was held back for a stop string that never came (but never half a character).
  if (out.reason != StopReason::stop_string && out.reason != StopReason::callback && emitted < out.text.size() &&
      on_token) {
    const std::size_t end = out.text.size() - detail::utf8_incomplete_tail(out.text);
    if (end > emitted) {
      on_token(-1, std::string_view(out.text).substr(emitted, end - emitted));
      emitted = end;
    }
  }
  return out;
}

}  // namespace phial
