// main.cpp - the `phial` command-line tool: dispatches to the registered subcommands.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <phial/error.hpp>
#include <phial/version.hpp>

#include "cli.hpp"

namespace {

void print_help(std::FILE* out) {
  std::fprintf(out,
               "phial %s - Phi-4 language models and agents on the CPU\n\n"
               "usage: phial <command> [options]\n\ncommands:\n",
               phial::version_string());
  for (auto& [name, cmd] : phial::cli::commands())
    std::fprintf(out, "  %-10.*s %.*s\n", int(name.size()), name.data(), int(cmd.summary.size()), cmd.summary.data());
  std::fprintf(out, "\nRun 'phial <command> --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help(stdout);
    return 0;
  }
  if (name == "--version") {
    std::printf("phial %s\n", phial::version_string());
    return 0;
  }
  auto& registry = phial::cli::commands();
  auto it = registry.find(name);
  if (it == registry.end()) {
    std::fprintf(stderr, "phial: unknown command '%s' (see 'phial --help')\n", name.c_str());
    return 2;
  }
  const auto& cmd = it->second;
  if (phial::cli::wants_help(argc - 2, argv + 2)) {
    std::printf("%.*s\n", int(cmd.usage.size()), cmd.usage.data());
    return 0;
  }
  try {
    return cmd.run(argc - 2, argv + 2);
  } catch (const phial::cli::UsageError& e) {
    std::string usage(cmd.usage.substr(0, cmd.usage.find('\n')));
    std::fprintf(stderr, "phial %s: %s\nusage: %s\n", name.c_str(), e.what(), usage.c_str());
    return 2;
  } catch (const phial::Error& e) {
    std::fprintf(stderr, "phial %s: %s\n", name.c_str(), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "phial %s: internal error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
