// cmd_tokenize.cpp - `phial tokenize`: text -> ids with a model's vocabulary (and back).
//
//   phial tokenize --tokenizer o200k_base.tiktoken "Hello world"        -> 13225 2375
//   phial tokenize --model phi4-mini.gguf --special "<|user|>hi<|end|>"
//   phial tokenize --tokenizer tokenizer.json --decode 13225 2375       -> Hello world
//   phial tokenize --tokenizer tokenizer.json --jsonl < texts.jsonl     -> {"ids": [...]} per line
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <phial/error.hpp>
#include <phial/tokenizer/tokenizer.hpp>
#if __has_include(<phial/model/gguf.hpp>)
#include <phial/model/gguf.hpp>
#define PHIAL_TOKENIZE_HAS_GGUF 1
#endif

#include "cli.hpp"

namespace {

constexpr const char* kUsage =
    "phial tokenize (--model PATH | --tokenizer PATH) [--family phi4|phi4-mini] [--special] [--decode] [--jsonl] TEXT|-\n"
    "\n"
    "Prints the token ids of TEXT (or of standard input with '-'), space-separated.\n"
    "  --model PATH      a GGUF model, or a Hugging Face model directory holding tokenizer.json\n"
    "  --tokenizer PATH  tokenizer.json, a *.tiktoken rank file (optionally .gz) or a GGUF\n"
    "  --family F        phi4 or phi4-mini: the added tokens for a .tiktoken file (default: from its size)\n"
    "  --special         parse added tokens such as <|im_end|> (default: they are plain text)\n"
    "  --decode          TEXT is ids (space/comma separated); print the decoded text\n"
    "  --jsonl           read JSON lines {\"text\": ...} from standard input, write {\"ids\": [...]} per line";

std::string read_stdin() {
  std::string s;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) s.append(buf, n);
  return s;
}

bool is_gguf_file(const std::filesystem::path& p) {
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) return false;
  char magic[4] = {};
  bool ok = std::fread(magic, 1, 4, f) == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
  std::fclose(f);
  return ok;
}

phial::Tokenizer load(const std::string& path, phial::Family family) {
  std::filesystem::path p(path);
  if (!std::filesystem::exists(p)) throw phial::IoError("no such file or directory: " + path);
  if (!std::filesystem::is_directory(p) && is_gguf_file(p)) {
#ifdef PHIAL_TOKENIZE_HAS_GGUF
    auto gguf = phial::GgufFile::open(p);
    return phial::Tokenizer::from_gguf(*gguf);
#else
    throw phial::UnsupportedModelError(path + ": GGUF support is not built in");
#endif
  }
  return phial::Tokenizer::from_file(p, family);
}

std::vector<std::int32_t> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r' || c == '[' || c == ']') {
      ++i;
      continue;
    }
    char* end = nullptr;
    long long v = std::strtoll(text.c_str() + i, &end, 10);
    if (end == text.c_str() + i || v < 0 || v > 0x7FFFFFFF) throw phial::cli::UsageError("--decode: not a token id near '" + text.substr(i, 12) + "'");
    ids.push_back(std::int32_t(v));
    i = std::size_t(end - text.c_str());
  }
  return ids;
}

void print_ids(const std::vector<std::int32_t>& ids) {
  std::string line;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

int run(int argc, char** argv) {
  phial::cli::Args args(argc, argv, {"model", "tokenizer", "family"}, {"special", "decode", "jsonl"});
  if (args.has("model") == args.has("tokenizer")) throw phial::cli::UsageError("give exactly one of --model and --tokenizer");
  phial::Family family = phial::Family::unknown;
  if (auto f = args.get("family")) {
    if (*f == "phi4" || *f == "phi-4")
      family = phial::Family::phi4;
    else if (*f == "phi4-mini" || *f == "phi-4-mini" || *f == "phi4_mini")
      family = phial::Family::phi4_mini;
    else
      throw phial::cli::UsageError("--family must be phi4 or phi4-mini, got '" + *f + "'");
  }
  const phial::Tokenizer tok = load(args.has("model") ? args.require("model") : args.require("tokenizer"), family);
  const bool special = args.has("special");

  if (args.has("jsonl")) {
    if (!args.positional().empty()) throw phial::cli::UsageError("--jsonl reads standard input; no TEXT argument");
    std::string input = read_stdin();
    std::size_t pos = 0, line_no = 0;
    std::string out;
    while (pos < input.size()) {
      std::size_t eol = input.find('\n', pos);
      if (eol == std::string::npos) eol = input.size();
      std::string_view line(input.data() + pos, eol - pos);
      pos = eol + 1;
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      boost::json::value v;
      try {
        v = boost::json::parse(line);
      } catch (const std::exception& e) {
        throw phial::FormatError("stdin:" + std::to_string(line_no) + ": invalid JSON: " + e.what());
      }
      const boost::json::string* text = nullptr;
      if (v.is_object())
        if (auto it = v.get_object().find("text"); it != v.get_object().end() && it->value().is_string()) text = &it->value().get_string();
      if (text == nullptr) throw phial::FormatError("stdin:" + std::to_string(line_no) + ": no string field \"text\"");
      std::string_view t(text->data(), text->size());
      auto ids = special ? tok.encode_with_special(t) : tok.encode(t);
      out += "{\"ids\": [";
      for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(ids[i]);
      }
      out += "]}\n";
      if (out.size() > (1 << 20)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
  }

  if (args.positional().empty()) throw phial::cli::UsageError("missing TEXT (or '-' for standard input)");
  std::string text;
  if (args.positional().size() == 1 && args.positional()[0] == "-") {
    text = read_stdin();
  } else {
    for (std::size_t i = 0; i < args.positional().size(); ++i) {
      if (i) text += ' ';
      text += args.positional()[i];
    }
  }
  if (args.has("decode")) {
    std::string decoded = tok.decode(parse_ids(text));
    std::fwrite(decoded.data(), 1, decoded.size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  print_ids(special ? tok.encode_with_special(text) : tok.encode(text));
  return 0;
}

const phial::cli::Register reg{{"tokenize", "Tokenize text with a model's vocabulary (ids, --decode, --jsonl)", kUsage, &run}};

}  // namespace
