// icalendar.hpp - a small iCalendar (RFC 5545) calendar for the scheduling example: reads and
// writes VEVENTs (UID, SUMMARY, DTSTART, DTEND, LOCATION) in floating local time, keeps every other
// line of the file untouched, and answers the questions a scheduling agent asks (free slots,
// conflicts). Plain C++: the agent knows nothing of it beyond the tool functions built on top.
#pragma once
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace examples {

// Minutes since 0000-01-01 00:00 in a proleptic Gregorian calendar (local, floating time).
struct DateTime {
  int year = 0, month = 1, day = 1, hour = 0, minute = 0;

  static long days_from_civil(int y, int m, int d) {  // H. Hinnant's algorithm
    y -= m <= 2;
    const long era = (y >= 0 ? y : y - 399) / 400;
    const long yoe = y - era * 400;
    const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
  }
  static DateTime from_minutes(long total) {
    long z = total >= 0 ? total / 1440 : (total - 1439) / 1440;
    const long mins = total - z * 1440;
    z += 719468;
    const long era = (z >= 0 ? z : z - 146096) / 146097;
    const long doe = z - era * 146097;
    const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const long mp = (5 * doy + 2) / 153;
    DateTime t;
    t.day = int(doy - (153 * mp + 2) / 5 + 1);
    t.month = int(mp < 10 ? mp + 3 : mp - 9);
    t.year = int(yoe + era * 400 + (t.month <= 2));
    t.hour = int(mins / 60);
    t.minute = int(mins % 60);
    return t;
  }
  long minutes() const { return days_from_civil(year, month, day) * 1440 + hour * 60 + minute; }

  static bool valid_date(int y, int m, int d) {
    if (m < 1 || m > 12 || d < 1) return false;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= days[m - 1] + (m == 2 && leap);
  }
  // "YYYY-MM-DD" and "HH:MM" (what the tools take).
  static std::optional<DateTime> parse(const std::string& date, const std::string& time = "00:00") {
    DateTime t;
    char extra;
    if (std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &t.year, &t.month, &t.day, &extra) != 3) return std::nullopt;
    if (std::sscanf(time.c_str(), "%2d:%2d%c", &t.hour, &t.minute, &extra) != 2) return std::nullopt;
    if (!valid_date(t.year, t.month, t.day) || t.hour < 0 || t.hour > 23 || t.minute < 0 || t.minute > 59)
      return std::nullopt;
    return t;
  }
  // iCalendar basic format: 20250314T093000 (a trailing Z or TZID parameters are not interpreted).
  static std::optional<DateTime> parse_ical(const std::string& v) {
    DateTime t;
    int sec = 0;
    if (v.size() >= 15 && std::sscanf(v.c_str(), "%4d%2d%2dT%2d%2d%2d", &t.year, &t.month, &t.day, &t.hour, &t.minute, &sec) == 6)
      return valid_date(t.year, t.month, t.day) ? std::optional(t) : std::nullopt;
    if (v.size() == 8 && std::sscanf(v.c_str(), "%4d%2d%2d", &t.year, &t.month, &t.day) == 3)
      return valid_date(t.year, t.month, t.day) ? std::optional(t) : std::nullopt;
    return std::nullopt;
  }
  std::string ical() const {
    char b[32];
    std::snprintf(b, sizeof b, "%04d%02d%02dT%02d%02d00", year, month, day, hour, minute);
    return b;
  }
  std::string date_string() const {
    char b[16];
    std::snprintf(b, sizeof b, "%04d-%02d-%02d", year, month, day);
    return b;
  }
  std::string time_string() const {
    char b[8];
    std::snprintf(b, sizeof b, "%02d:%02d", hour, minute);
    return b;
  }
};

struct Event {
  std::string uid, summary, location;
  DateTime start, end;
};

class Calendar {
 public:
  static Calendar load(const std::string& path) {
    Calendar cal;
    cal.path_ = path;
    std::ifstream in(path, std::ios::binary);
    if (!in) return cal;  // a missing file is an empty calendar
    std::stringstream ss;
    ss << in.rdbuf();
    cal.parse(ss.str());
    return cal;
  }
  void save() const {
    std::ofstream out(path_ + ".tmp", std::ios::binary | std::ios::trunc);
    out << serialize();
    out.close();
    if (!out || std::rename((path_ + ".tmp").c_str(), path_.c_str()) != 0)
      throw std::runtime_error("cannot write calendar " + path_);
  }

  const std::vector<Event>& events() const { return events_; }

  std::vector<Event> on_date(const DateTime& day) const {
    const long from = DateTime{day.year, day.month, day.day, 0, 0}.minutes(), to = from + 1440;
    std::vector<Event> out;
    for (auto& e : events_)
      if (e.start.minutes() < to && e.end.minutes() > from) out.push_back(e);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.start.minutes() < b.start.minutes(); });
    return out;
  }
  // Events overlapping [start, end), excluding `ignore_uid`.
  std::vector<Event> conflicts(const DateTime& start, const DateTime& end, const std::string& ignore_uid = "") const {
    std::vector<Event> out;
    for (auto& e : events_)
      if (e.uid != ignore_uid && e.start.minutes() < end.minutes() && e.end.minutes() > start.minutes()) out.push_back(e);
    return out;
  }
  Event& add(std::string summary, DateTime start, DateTime end, std::string location = "") {
    Event e{next_uid(), std::move(summary), std::move(location), start, end};
    events_.push_back(std::move(e));
    return events_.back();
  }
  // Finds by UID, else by case-insensitive title.
  Event* find(const std::string& id_or_title) {
    for (auto& e : events_)
      if (e.uid == id_or_title) return &e;
    for (auto& e : events_)
      if (iequals(e.summary, id_or_title)) return &e;
    return nullptr;
  }
  bool remove(const std::string& uid) {
    auto it = std::remove_if(events_.begin(), events_.end(), [&](auto& e) { return e.uid == uid; });
    bool removed = it != events_.end();
    events_.erase(it, events_.end());
    return removed;
  }
  // Free intervals of at least `duration` minutes on `day` between working hours [open, close).
  std::vector<std::pair<DateTime, DateTime>> free_slots(const DateTime& day, int duration, int open_hour = 9,
                                                        int close_hour = 18) const {
    const long day0 = DateTime{day.year, day.month, day.day, 0, 0}.minutes();
    long cursor = day0 + open_hour * 60;
    const long close = day0 + close_hour * 60;
    std::vector<std::pair<DateTime, DateTime>> out;
    for (auto& e : on_date(day)) {
      if (e.start.minutes() - cursor >= duration)
        out.emplace_back(DateTime::from_minutes(cursor), DateTime::from_minutes(std::min(e.start.minutes(), close)));
      cursor = std::max(cursor, e.end.minutes());
    }
    if (close - cursor >= duration) out.emplace_back(DateTime::from_minutes(cursor), DateTime::from_minutes(close));
    return out;
  }

  std::string serialize() const {
    std::string out;
    for (auto& l : header_) out += l + "\r\n";
    if (header_.empty()) out += "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phial//scheduling example//EN\r\n";
    for (auto& e : events_) {
      out += "BEGIN:VEVENT\r\n";
      out += fold("UID:" + e.uid);
      out += fold("SUMMARY:" + escape(e.summary));
      out += "DTSTART:" + e.start.ical() + "\r\n";
      out += "DTEND:" + e.end.ical() + "\r\n";
      if (!e.location.empty()) out += fold("LOCATION:" + escape(e.location));
      out += "END:VEVENT\r\n";
    }
    out += "END:VCALENDAR\r\n";
    return out;
  }

 private:
  static bool iequals(const std::string& a, const std::string& b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  }
  std::string next_uid() const {
    int n = int(events_.size()) + 1;
    for (;; ++n) {
      std::string uid = "evt-" + std::to_string(n);
      bool used = std::any_of(events_.begin(), events_.end(), [&](auto& e) { return e.uid == uid; });
      if (!used) return uid;
    }
  }
  static std::string escape(const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '\\' || c == ';' || c == ',') o += '\\', o += c;
      else if (c == '\n') o += "\\n";
      else o += c;
    }
    return o;
  }
  static std::string unescape(const std::string& s) {
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        char n = s[++i];
        o += (n == 'n' || n == 'N') ? '\n' : n;
      } else {
        o += s[i];
      }
    }
    return o;
  }
  // Lines longer than 75 octets are folded (RFC 5545 §3.1), never inside a UTF-8 sequence.
  static std::string fold(const std::string& line) {
    std::string out;
    size_t pos = 0, limit = 75;
    while (line.size() - pos > limit) {
      size_t cut = pos + limit;
      while (cut > pos && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
      out += line.substr(pos, cut - pos) + "\r\n ";
      pos = cut;
      limit = 74;
    }
    return out + line.substr(pos) + "\r\n";
  }
  void parse(const std::string& text) {
    // Unfold: a line starting with space or tab continues the previous one.
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (!l.empty() && (l[0] == ' ' || l[0] == '\t') && !lines.empty()) lines.back() += l.substr(1);
      else lines.push_back(l);
    }
    bool in_event = false;
    Event cur;
    bool ok = true;
    for (auto& l : lines) {
      if (l == "BEGIN:VEVENT") {
        in_event = true, cur = Event{}, ok = true;
        continue;
      }
      if (l == "END:VEVENT") {
        in_event = false;
        if (ok && !cur.uid.empty() && cur.end.minutes() >= cur.start.minutes()) events_.push_back(cur);
        continue;
      }
      if (!in_event) {
        if (l != "END:VCALENDAR" && !l.empty()) header_.push_back(l);
        continue;
      }
      auto colon = l.find(':');
      if (colon == std::string::npos) continue;
      std::string name = l.substr(0, colon), value = l.substr(colon + 1);
      std::string key = name.substr(0, name.find(';'));  // drop parameters such as TZID=...
      if (key == "UID") cur.uid = value;
      else if (key == "SUMMARY") cur.summary = unescape(value);
      else if (key == "LOCATION") cur.location = unescape(value);
      else if (key == "DTSTART" || key == "DTEND") {
        auto t = DateTime::parse_ical(value);
        if (!t) ok = false;
        else (key == "DTSTART" ? cur.start : cur.end) = *t;
      }
    }
  }

  std::string path_;
  std::vector<std::string> header_;  // VCALENDAR properties kept as they were
  std::vector<Event> events_;
};

}  // namespace examples
