// bench-tokenizer: encode throughput (MB/s of UTF-8, one thread) of both Phi-4 vocabularies on the
// public corpus, "natural" (texts whose pre-token pieces are all <= 256 bytes) and "full" (all
// 704 texts, incl. the 20,000-byte runs), joined with newlines and repeated to ~10 MB; median of 5.
// Also the time to load each vocabulary from memory (tiktoken file, tokenizer.json, GGUF metadata
// vectors); wall and this thread's CPU time (the fair figure on a shared machine). One JSON object
// per line on stdout.
//
//   bench-tokenizer [tests/data/tokenizer dir] [--reps N] [--mb M]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <phial/tokenizer/tokenizer.hpp>

#include "support/gguf_vectors.hpp"

namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
// CPU time of this thread: on a shared, busy machine wall time also counts other programs' turns.
double cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

using phial_test::GgufVectors;
using phial_test::gguf_vectors_from_hf_json;

std::string repeat_to(const std::string& joined, std::size_t target) {
  std::string out;
  out.reserve(target + joined.size());
  while (out.size() < target) {
    out += joined;
    out += '\n';
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // Default data dir: tests/data/tokenizer of the source tree this file was compiled from.
  std::string dir = __FILE__;
  dir = dir.substr(0, dir.rfind("/benchmarks/")) + "/tests/data/tokenizer";
  int reps = 5;
  double mb = 10.0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc)
      reps = std::atoi(argv[++i]);
    else if (a == "--mb" && i + 1 < argc)
      mb = std::atof(argv[++i]);
    else
      dir = a;
  }
  dir += "/";
  try {
    // Corpus.
    std::string data = phial::detail::read_vocab_file(dir + "corpus-public.jsonl.gz");
    std::vector<std::string> texts;
    std::size_t pos = 0;
    while (pos < data.size()) {
      std::size_t eol = data.find('\n', pos);
      if (eol == std::string::npos) eol = data.size();
      if (eol > pos) texts.emplace_back(boost::json::parse(std::string_view(data).substr(pos, eol - pos)).as_object().at("text").as_string());
      pos = eol + 1;
    }
    std::string natural_joined, full_joined;
    int n_long = 0;
    for (const auto& t : texts) {
      bool long_piece = false;
      phial::split_pieces(phial::PretokenizerKind::cl100k, t, [&](std::string_view p) { long_piece |= p.size() > 256; });
      if (long_piece)
        ++n_long;
      else
        natural_joined += (natural_joined.empty() ? "" : "\n") + t;
      full_joined += (full_joined.empty() ? "" : "\n") + t;
    }
    const auto target = std::size_t(mb * 1e6);
    const std::string natural = repeat_to(natural_joined, target), full = repeat_to(full_joined, target);

    struct Vocab {
      const char* name;
      const char* tiktoken;
      const char* hf;
      phial::Family family;
      std::int32_t n_vocab;
      const char* gguf_pre;
    };
    // Builds the process-wide Unicode class table now, so that no load below pays for it.
    (void)phial::detail::char_class_table();
    for (const Vocab& v : {Vocab{"cl100k", "cl100k_base.tiktoken.gz", "phi-4/tokenizer.json.gz", phial::Family::phi4, 100352, "dbrx"},
                           Vocab{"o200k", "o200k_base.tiktoken.gz", "phi-4-mini/tokenizer.json.gz", phial::Family::phi4_mini, 200064,
                                 "gpt-4o"}}) {
      // Load times, from bytes already in memory (what matters: not the disk, not gunzip).
      std::string tk_text = phial::detail::read_vocab_file(dir + v.tiktoken);
      std::string hf_text = phial::detail::read_vocab_file(dir + v.hf);
      const GgufVectors gguf = gguf_vectors_from_hf_json(hf_text, v.n_vocab);
      std::vector<double> t_tk, t_hf, c_tk, c_hf, t_gg, c_gg;
      phial::Tokenizer tok;
      for (int r = 0; r < reps; ++r) {
        {
          double t0 = now_s(), c0 = cpu_s();
          auto g = phial::Tokenizer::from_gguf_metadata(gguf.tokens, gguf.types, gguf.merges, v.gguf_pre);
          t_gg.push_back(now_s() - t0);
          c_gg.push_back(cpu_s() - c0);
        }
        double t0 = now_s(), c0 = cpu_s();
        tok = phial::Tokenizer::from_tiktoken_text(tk_text, v.family);
        t_tk.push_back(now_s() - t0);
        c_tk.push_back(cpu_s() - c0);
        t0 = now_s();
        c0 = cpu_s();
        auto hf = phial::Tokenizer::from_hf_json_text(hf_text);
        t_hf.push_back(now_s() - t0);
        c_hf.push_back(cpu_s() - c0);
      }
      std::printf("{\"bench\":\"tokenizer_load\",\"vocab\":\"%s\",\"format\":\"tiktoken\",\"ms_median\":%.2f,\"cpu_ms_median\":%.2f}\n",
                  v.name, median(t_tk) * 1e3, median(c_tk) * 1e3);
      std::printf("{\"bench\":\"tokenizer_load\",\"vocab\":\"%s\",\"format\":\"tokenizer.json\",\"ms_median\":%.2f,\"cpu_ms_median\":%.2f}\n",
                  v.name, median(t_hf) * 1e3, median(c_hf) * 1e3);
      std::printf("{\"bench\":\"tokenizer_load\",\"vocab\":\"%s\",\"format\":\"gguf_metadata\",\"ms_median\":%.2f,\"cpu_ms_median\":%.2f}\n",
                  v.name, median(t_gg) * 1e3, median(c_gg) * 1e3);
      std::fflush(stdout);
      for (auto [input_name, input] : {std::pair<const char*, const std::string*>{"natural", &natural}, {"full", &full}}) {
        std::vector<double> secs, cpu;
        std::size_t n_ids = 0;
        std::vector<std::int32_t> ids;
        for (int r = 0; r < reps; ++r) {
          ids.clear();
          double t0 = now_s(), c0 = cpu_s();
          tok.encode(*input, ids);
          secs.push_back(now_s() - t0);
          cpu.push_back(cpu_s() - c0);
          n_ids = ids.size();
        }
        double m = median(secs), mc = median(cpu);
        std::printf("{\"bench\":\"tokenizer_encode\",\"vocab\":\"%s\",\"input\":\"%s\",\"bytes\":%zu,\"tokens\":%zu,"
                    "\"texts_left_out\":%d,\"threads\":1,\"reps\":%d,\"seconds_median\":%.4f,\"mb_per_s\":%.2f,"
                    "\"cpu_seconds_median\":%.4f,\"mb_per_cpu_s\":%.2f}\n",
                    v.name, input_name, input->size(), n_ids, input == &natural ? n_long : 0, reps, m, double(input->size()) / m / 1e6,
                    mc, double(input->size()) / mc / 1e6);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-tokenizer: %s\n", e.what());
    return 1;
  }
  return 0;
}
