// terminal.hpp - what the example programs and the `phial` CLI print, and how: ANSI styles only
// on a terminal and never with NO_COLOR (https://no-color.org), progress bars on stderr only when
// stderr is a terminal, and one transcript printer for an agent's events (reasoning dimmed or
// collapsed, tool calls and results as they happen, the answer streamed or not).
//
// Deliberately free of phial headers: tests/unit-example-tools.cpp checks the escape codes
// without compiling the agent.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <string_view>

namespace examples {

inline bool is_terminal(int fd) { return ::isatty(fd) == 1; }
inline bool no_color_requested() {
  const char* v = std::getenv("NO_COLOR");
  return v != nullptr && *v != '\0';
}

// ANSI styles; every accessor returns "" when colours are off.
struct Style {
  bool on = false;
  const char* dim() const { return on ? "\033[2m" : ""; }
  const char* bold() const { return on ? "\033[1m" : ""; }
  const char* cyan() const { return on ? "\033[36m" : ""; }
  const char* red() const { return on ? "\033[31m" : ""; }
  const char* reset() const { return on ? "\033[0m" : ""; }
  // Colours for stdout: a terminal, and NO_COLOR unset or empty.
  static Style for_stdout() { return Style{is_terminal(1) && !no_color_requested()}; }
};

// One line on stderr, redrawn in place with '\r' (no escape codes, so NO_COLOR output stays free
// of them). Disabled (prints nothing) unless stderr is a terminal: piped output stays plain.
//   ProgressBar bar("loading model.gguf", bytes_total, ProgressBar::Unit::mib);
//   bar.update(bytes_done); ...; bar.finish();
class ProgressBar {
 public:
  enum class Unit { count, mib };
  ProgressBar(std::string label, double total, Unit unit = Unit::count, bool enabled = is_terminal(2))
      : label_(std::move(label)), total_(total > 0 ? total : 1), unit_(unit), enabled_(enabled) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  ~ProgressBar() { finish(); }

  bool enabled() const { return enabled_; }

  // Redraws at most every 50 ms, and always at the end (done >= total).
  void update(double done) {
    if (!enabled_ || finished_) return;
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && done >= total_ && last_done_ >= total_) return;  // the full bar is already drawn
    if (done < total_ && drawn_ && now - last_ < std::chrono::milliseconds(50)) return;
    last_ = now;
    last_done_ = done;
    drawn_ = true;
    const double f = done >= total_ ? 1.0 : (done <= 0 ? 0.0 : done / total_);
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(f * kWidth);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(kWidth - filled), '.');
    char amount[64];
    if (unit_ == Unit::mib)
      std::snprintf(amount, sizeof amount, "%.1f/%.1f MiB", done / 1048576.0, total_ / 1048576.0);
    else
      std::snprintf(amount, sizeof amount, "%.0f/%.0f", done, total_);
    std::string line = label_ + " [" + bar + "] " + std::to_string(static_cast<int>(f * 100)) + "% " + amount;
    width_ = std::max(width_, line.size());
    std::fprintf(stderr, "\r%-*s", static_cast<int>(width_), line.c_str());
    std::fflush(stderr);
  }
  // Erases the line (spaces, then '\r'), so what follows starts on a clean line.
  void finish() {
    if (!enabled_ || finished_) return;
    finished_ = true;
    if (!drawn_) return;
    std::fprintf(stderr, "\r%*s\r", static_cast<int>(width_), "");
    std::fflush(stderr);
  }

 private:
  std::string label_;
  double total_;
  Unit unit_;
  bool enabled_;
  bool drawn_ = false, finished_ = false;
  std::size_t width_ = 0;
  double last_done_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

// Prints an agent's run as it happens:
//   reasoning   dimmed (or, collapsed, one dim line saying how much was hidden)
//   -> tool_name {"arg": ...}        (cyan)
//   <- {"result": ...}               (dim; long results shortened)
//   the answer, streamed when `stream_answer`
class TranscriptPrinter {
 public:
  TranscriptPrinter(std::ostream& out, Style style, bool stream_answer = true, bool show_reasoning = true)
      : out_(out), style_(style), stream_answer_(stream_answer), show_reasoning_(show_reasoning) {}

  void set_show_reasoning(bool show) { show_reasoning_ = show; }
  bool show_reasoning() const { return show_reasoning_; }

  void reasoning(std::string_view text) {
    if (!show_reasoning_) {
      hidden_reasoning_ += text.size();
      in_reasoning_ = true;
      return;
    }
    if (!in_reasoning_) out_ << style_.dim();
    in_reasoning_ = true;
    out_ << text << std::flush;
  }
  void answer(std::string_view text) {
    end_reasoning();
    if (!stream_answer_) return;
    out_ << text << std::flush;
    at_line_start_ = text.empty() ? at_line_start_ : text.back() == '\n';
  }
  void tool_call(std::string_view name, std::string_view arguments_json) {
    end_reasoning();
    new_line();
    out_ << style_.cyan() << "-> " << name << " " << arguments_json << style_.reset() << "\n" << std::flush;
  }
  void tool_result(std::string_view text, bool ok) {
    end_reasoning();
    new_line();
    out_ << (ok ? style_.dim() : style_.red()) << "<- " << shorten(text, 400) << style_.reset() << "\n" << std::flush;
  }
  // Closes an open reasoning block (and ends the line) at the end of a turn.
  void end_turn() {
    end_reasoning();
    new_line();
  }

  static std::string shorten(std::string_view s, std::size_t max) {
    if (s.size() <= max) return std::string(s);
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
    return std::string(s.substr(0, cut)) + "... (" + std::to_string(s.size()) + " bytes)";
  }

 private:
  void end_reasoning() {
    if (!in_reasoning_) return;
    in_reasoning_ = false;
    if (show_reasoning_) {
      out_ << style_.reset() << "\n";
    } else if (hidden_reasoning_ > 0) {
      out_ << style_.dim() << "(reasoning: " << hidden_reasoning_ << " bytes hidden)" << style_.reset() << "\n";
      hidden_reasoning_ = 0;
    }
    at_line_start_ = true;
  }
  void new_line() {
    if (!at_line_start_) out_ << "\n";
    at_line_start_ = true;
  }

  std::ostream& out_;
  Style style_;
  bool stream_answer_;
  bool show_reasoning_;
  bool in_reasoning_ = false;
  bool at_line_start_ = true;
  std::size_t hidden_reasoning_ = 0;
};

}  // namespace examples
