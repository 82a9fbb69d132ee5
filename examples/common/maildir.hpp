// maildir.hpp - a read-mostly Maildir for the e-mail example: lists, reads and searches messages in
// a folder's cur/ and new/, and writes drafts into the Drafts folder (never sends anything).
// Message bodies are untrusted input: callers hand them to the model as plain text only.
#pragma once
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

struct MailMessage {
  std::string id;  // the file's unique name (before the ":2," info part)
  std::string folder, from, to, subject, date, message_id;
  std::string body;
  bool seen = false;
};

class Maildir {
 public:
  explicit Maildir(std::filesystem::path root) : root_(std::move(root)) {}

  // "INBOX" is the root folder; other folders are Maildir++ ".Name" subfolders.
  std::filesystem::path folder_path(const std::string& folder) const {
    if (folder.empty() || folder == "INBOX" || folder == "inbox") return root_;
    if (folder.find('/') != std::string::npos || folder.find("..") != std::string::npos)
      throw std::invalid_argument("bad folder name: " + folder);
    return root_ / ("." + folder);
  }

  std::vector<MailMessage> list(const std::string& folder = "INBOX") const {
    std::vector<MailMessage> out;
    auto dir = folder_path(folder);
    for (const char* sub : {"cur", "new"}) {
      std::error_code ec;
      for (auto& entry : std::filesystem::directory_iterator(dir / sub, ec)) {
        if (!entry.is_regular_file()) continue;
        out.push_back(read_file(entry.path(), folder));
      }
    }
    // Newest first by Date header is unreliable to parse; file names start with a timestamp.
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id > b.id; });
    return out;
  }

  std::optional<MailMessage> read(const std::string& id, const std::string& folder = "INBOX") const {
    if (id.find('/') != std::string::npos || id.find("..") != std::string::npos) return std::nullopt;
    for (auto& m : list(folder))
      if (m.id == id) return m;
    return std::nullopt;
  }

  // Case-insensitive substring search over From, Subject and body.
  std::vector<MailMessage> search(const std::string& query, const std::string& folder = "INBOX") const {
    std::vector<MailMessage> out;
    const std::string q = lower(query);
    for (auto& m : list(folder))
      if (lower(m.from).find(q) != std::string::npos || lower(m.subject).find(q) != std::string::npos ||
          lower(m.body).find(q) != std::string::npos)
        out.push_back(m);
    return out;
  }

  // Writes a reply draft into .Drafts/cur (Maildir delivery: tmp/ then rename). Returns its id.
  std::string draft_reply(const MailMessage& original, const std::string& from, const std::string& body) {
    auto drafts = folder_path("Drafts");
    for (const char* sub : {"tmp", "cur", "new"}) std::filesystem::create_directories(drafts / sub);
    static std::atomic<int> counter{0};
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    const std::string id = std::to_string(now) + ".P" + std::to_string(::getpid()) + "Q" +
                           std::to_string(counter++) + ".phial";
    std::string subject = original.subject;
    if (lower(subject).rfind("re:", 0) != 0) subject = "Re: " + subject;
    std::ostringstream msg;
    msg << "From: " << from << "\r\n"
        << "To: " << original.from << "\r\n"
        << "Subject: " << subject << "\r\n";
    if (!original.message_id.empty()) msg << "In-Reply-To: " << original.message_id << "\r\n";
    msg << "X-Draft: phial\r\n\r\n" << body << "\r\n";
    auto tmp = drafts / "tmp" / id;
    {
      std::ofstream out(tmp, std::ios::binary);
      out << msg.str();
      if (!out) throw std::runtime_error("cannot write draft " + tmp.string());
    }
    std::filesystem::rename(tmp, drafts / "cur" / (id + ":2,D"));
    return id;
  }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static MailMessage read_file(const std::filesystem::path& path, const std::string& folder) {
    MailMessage m;
    std::string name = path.filename().string();
    auto colon = name.find(":2,");
    m.id = name.substr(0, colon);
    m.seen = colon != std::string::npos && name.find('S', colon) != std::string::npos;
    m.folder = folder;
    std::ifstream in(path, std::ios::binary);
    std::string line, last;
    // Headers until the first empty line; continuation lines start with whitespace.
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) break;
      if ((line[0] == ' ' || line[0] == '\t') && !last.empty()) {
        header_ref(m, last) += " " + trim(line);
        continue;
      }
      auto c = line.find(':');
      if (c == std::string::npos) continue;
      last = lower(line.substr(0, c));
      header_ref(m, last) = trim(line.substr(c + 1));
    }
    std::ostringstream body;
    body << in.rdbuf();
    m.body = body.str();
    return m;
  }
  static std::string& header_ref(MailMessage& m, const std::string& name) {
    static thread_local std::string ignored;
    if (name == "from") return m.from;
    if (name == "to") return m.to;
    if (name == "subject") return m.subject;
    if (name == "date") return m.date;
    if (name == "message-id") return m.message_id;
    ignored.clear();
    return ignored;
  }
  static std::string trim(std::string s) {
    auto b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
  }

  std::filesystem::path root_;
};

}  // namespace examples
