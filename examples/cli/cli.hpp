// cli.hpp - the `phial` command-line tool's plumbing: a registry of subcommands and a small
// argument parser. Each subcommand lives in its own cmd_<name>.cpp and registers itself:
//
//   static phial::cli::Register reg{{"tokenize", "Tokenize text with a model's vocabulary",
//                                     "phial tokenize --model PATH [--special] TEXT|-", &run}};
//
// A subcommand returns the process exit code; it throws phial::cli::UsageError on bad usage
// (printed as one line plus the usage, exit code 2) and lets phial::Error escape for bad input
// (printed as one line, exit code 1).
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace phial::cli {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parsed command line of one subcommand: `--key value`, `--key=value`, boolean `--flag`, and
// positionals. Which options take a value is declared up front, so `--flag TEXT` is unambiguous.
class Args {
 public:
  // `valued`: option names (without --) that take a value; `flags`: boolean options.
  Args(int argc, char** argv, std::vector<std::string> valued, std::vector<std::string> flags)
      : valued_(std::move(valued)), flags_(std::move(flags)) {
    for (int i = 0; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--") {
        for (++i; i < argc; ++i) positional_.emplace_back(argv[i]);
        break;
      }
      if (a.size() > 2 && a.rfind("--", 0) == 0) {
        std::string key = a.substr(2), value;
        bool has_value = false;
        if (auto eq = key.find('='); eq != std::string::npos) {
          value = key.substr(eq + 1);
          key = key.substr(0, eq);
          has_value = true;
        }
        if (is_in(valued_, key)) {
          if (!has_value) {
            if (i + 1 >= argc) throw UsageError("option --" + key + " needs a value");
            value = argv[++i];
          }
          values_[key].push_back(value);
        } else if (is_in(flags_, key)) {
          if (has_value) throw UsageError("option --" + key + " takes no value");
          values_[key].push_back("1");
        } else {
          throw UsageError("unknown option --" + key);
        }
      } else if (a.size() == 2 && a[0] == '-' && a[1] != '-' && a != "-") {
        // Short options are spelled as their long names with one dash: -p 512 -> --p.
        std::string key = a.substr(1);
        if (is_in(valued_, key)) {
          if (i + 1 >= argc) throw UsageError("option -" + key + " needs a value");
          values_[key].push_back(argv[++i]);
        } else if (is_in(flags_, key)) {
          values_[key].push_back("1");
        } else {
          throw UsageError("unknown option -" + key);
        }
      } else {
        positional_.push_back(a);
      }
    }
  }

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  std::optional<std::string> get(const std::string& key) const {
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second.back();
  }
  std::string get_or(const std::string& key, std::string fallback) const { return get(key).value_or(std::move(fallback)); }
  std::string require(const std::string& key) const {
    auto v = get(key);
    if (!v) throw UsageError("missing required option --" + key);
    return *v;
  }
  long long get_int(const std::string& key, long long fallback) const {
    auto v = get(key);
    if (!v) return fallback;
    char* end = nullptr;
    long long x = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0') throw UsageError("option --" + key + " needs an integer, got '" + *v + "'");
    return x;
  }
  double get_double(const std::string& key, double fallback) const {
    auto v = get(key);
    if (!v) return fallback;
    char* end = nullptr;
    double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0') throw UsageError("option --" + key + " needs a number, got '" + *v + "'");
    return x;
  }
  const std::vector<std::string>& all(const std::string& key) const {
    static const std::vector<std::string> none;
    auto it = values_.find(key);
    return it == values_.end() ? none : it->second;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  static bool is_in(const std::vector<std::string>& v, const std::string& k) {
    for (auto& x : v)
      if (x == k) return true;
    return false;
  }
  std::vector<std::string> valued_, flags_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

struct Command {
  std::string_view name;
  std::string_view summary;
  std::string_view usage;  // full help text: first line is the synopsis
  int (*run)(int argc, char** argv);  // argv excludes the subcommand name
};

inline std::map<std::string_view, Command>& commands() {
  static std::map<std::string_view, Command> registry;
  return registry;
}

struct Register {
  explicit Register(Command c) { commands().emplace(c.name, c); }
};

// True when `--help` or `-h` is among the arguments.
inline bool wants_help(int argc, char** argv) {
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") return true;
  }
  return false;
}

// Colours and progress bars only on a terminal, and never with NO_COLOR set.
inline bool stdout_is_terminal() { return ::isatty(1) == 1; }
inline bool stderr_is_terminal() { return ::isatty(2) == 1; }
inline bool stdin_is_terminal() { return ::isatty(0) == 1; }
inline bool colors_enabled() {
  const char* no_color = std::getenv("NO_COLOR");
  return (no_color == nullptr || *no_color == '\0') && stdout_is_terminal();
}

}  // namespace phial::cli
