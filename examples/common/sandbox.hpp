// sandbox.hpp - file tools confined to one directory, and an allow-listed command runner without a
// shell, for the automation example. Every path is resolved component by component with
// openat(O_NOFOLLOW) relative to the root, so neither "../" nor a symlink can escape it.
#pragma once
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

class SandboxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Sandbox {
 public:
  explicit Sandbox(const std::filesystem::path& root) {
    root_fd_ = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd_ < 0) throw SandboxError("cannot open sandbox root " + root.string());
  }
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;
  ~Sandbox() { ::close(root_fd_); }

  std::vector<std::string> list(const std::string& path = ".") const {
    int fd = open_dir(path);
    std::vector<std::string> out;
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      throw SandboxError("cannot list " + path);
    }
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      out.push_back(e->d_type == DT_DIR ? n + "/" : n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string read(const std::string& path, std::size_t max_bytes = 1 << 20) const {
    auto [dir, leaf] = open_parent(path);
    int fd = ::openat(dir, leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    ::close(dir);
    if (fd < 0) throw SandboxError("cannot read " + path + ": not a regular file inside the sandbox");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw SandboxError("cannot read " + path + ": not a regular file");
    }
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) {
      out.append(buf, std::size_t(n));
      if (out.size() > max_bytes) {
        out.resize(max_bytes);
        break;
      }
    }
    ::close(fd);
    return out;
  }

  void write(const std::string& path, const std::string& content) const {
    auto [dir, leaf] = open_parent(path);
    int fd = ::openat(dir, leaf.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    ::close(dir);
    if (fd < 0) throw SandboxError("cannot write " + path);
    std::size_t done = 0;
    while (done < content.size()) {
      ssize_t n = ::write(fd, content.data() + done, content.size() - done);
      if (n <= 0) {
        ::close(fd);
        throw SandboxError("write failed: " + path);
      }
      done += std::size_t(n);
    }
    ::close(fd);
  }

  int root_fd() const { return root_fd_; }

 private:
  // Splits a relative path into components; rejects absolute paths and "..".
  static std::vector<std::string> components(const std::string& path) {
    if (path.empty()) throw SandboxError("empty path");
    if (path[0] == '/') throw SandboxError("absolute paths are not allowed: " + path);
    std::vector<std::string> parts;
    std::size_t b = 0;
    while (b <= path.size()) {
      auto e = path.find('/', b);
      if (e == std::string::npos) e = path.size();
      std::string p = path.substr(b, e - b);
      if (p == "..") throw SandboxError("path escapes the sandbox: " + path);
      if (!p.empty() && p != ".") parts.push_back(p);
      b = e + 1;
    }
    return parts;
  }
  int walk(const std::vector<std::string>& parts, std::size_t n, const std::string& path) const {
    int fd = ::dup(root_fd_);
    for (std::size_t i = 0; i < n; ++i) {
      int next = ::openat(fd, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      ::close(fd);
      if (next < 0) throw SandboxError("no such directory inside the sandbox (or a symlink): " + path);
      fd = next;
    }
    return fd;
  }
  int open_dir(const std::string& path) const {
    auto parts = components(path);
    return walk(parts, parts.size(), path);
  }
  std::pair<int, std::string> open_parent(const std::string& path) const {
    auto parts = components(path);
    if (parts.empty()) throw SandboxError("not a file: " + path);
    return {walk(parts, parts.size() - 1, path), parts.back()};
  }

  int root_fd_ = -1;
};

struct CommandResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved, truncated to a limit
};

// Runs only allow-listed programs, with execvp (no shell: arguments are never interpreted),
// in the sandbox directory, with a timeout.
class CommandRunner {
 public:
  CommandRunner(std::filesystem::path workdir, std::set<std::string> allowed)
      : workdir_(std::move(workdir)), allowed_(std::move(allowed)) {}

  CommandResult run(const std::string& name, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    if (!allowed_.count(name)) throw SandboxError("command not allowed: " + name);
    for (auto& a : args)
      if (!a.empty() && a[0] == '/') throw SandboxError("absolute paths are not allowed in arguments: " + a);
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) throw SandboxError("pipe failed");
    std::vector<std::string> argv_s{name};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw SandboxError("fork failed");
    if (pid == 0) {
      ::dup2(pipefd[1], 1);
      ::dup2(pipefd[1], 2);
      if (::chdir(workdir_.c_str()) != 0) ::_exit(126);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(pipefd[1]);
    CommandResult r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        r.timed_out = true;
        ::kill(pid, SIGKILL);
        break;
      }
      pollfd p{pipefd[0], POLLIN, 0};
      if (::poll(&p, 1, int(left.count())) <= 0) continue;
      ssize_t n = ::read(pipefd[0], buf, sizeof buf);
      if (n <= 0) break;
      if (r.output.size() < 64 * 1024) r.output.append(buf, std::size_t(n));
    }
    ::close(pipefd[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

 private:
  std::filesystem::path workdir_;
  std::set<std::string> allowed_;
};

}  // namespace examples
