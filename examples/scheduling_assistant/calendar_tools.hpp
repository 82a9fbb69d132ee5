// calendar_tools.hpp - the scheduling agent's tools: plain C++ functions over examples::Calendar,
// registered with exactly the names, descriptions and schemas of examples/demo_model/tools.json
// ["scheduling"] (the demo model was trained on them). Shared by scheduling_assistant and
// embed_in_service.
#pragma once
#include <common/icalendar.hpp>
#include <phial/agent/tool_registry.hpp>

#include <boost/json.hpp>

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

namespace scheduling {

namespace json = boost::json;
using examples::Calendar;
using examples::DateTime;


inline const char* const kSystemPrompt =
    "You are a scheduling assistant. You manage the user's calendar with the tools. Dates are YYYY-MM-DD and "
    "times are HH:MM.";

inline json::object error(std::string message) { return {{"error", std::move(message)}}; }

inline DateTime day_of(const json::object& a, const char* key) {
  auto d = DateTime::parse(std::string(a.at(key).as_string()));
  if (!d) throw std::runtime_error("bad date '" + std::string(a.at(key).as_string()) + "', expected YYYY-MM-DD");
  return *d;
}
inline DateTime at(const std::string& date, const std::string& time) {
  auto d = DateTime::parse(date, time);
  if (!d) throw std::runtime_error("bad date or time '" + date + " " + time + "'");
  return *d;
}
inline std::string str(const json::object& a, const char* key) {
  const auto* v = a.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The five tools of tools.json["scheduling"], in its order, with its names, descriptions and schemas.
// Each tool runs under `mu` (the agent may run synchronous tools concurrently, and a service may
// share one calendar between sessions).
inline void register_tools(phial::ToolRegistry& tools, Calendar& cal, std::mutex& mu) {
  auto locked = [&mu](auto fn) {
    return [&mu, fn](const json::object& a) {
      std::lock_guard lock(mu);
      return fn(a);
    };
  };
  tools.add_json("list_events", "List the events on one day.", json::parse(R"({"type": "object",
      "properties": {"date": {"type": "string", "description": "Date as YYYY-MM-DD."}},
      "required": ["date"]})").as_object(),
                 locked([&cal](const json::object& a) -> json::object {
                   json::array events;
                   for (const auto& e : cal.on_date(day_of(a, "date")))
                     events.push_back(json::object{
                         {"title", e.summary}, {"start", e.start.time_string()}, {"end", e.end.time_string()}});
                   return {{"date", a.at("date")}, {"events", std::move(events)}};
                 }));

  tools.add_json("create_event", "Create an event; give end or duration_minutes.", json::parse(R"({"type": "object",
      "properties": {
        "title": {"type": "string", "description": "Title of the event."},
        "date": {"type": "string", "description": "Date as YYYY-MM-DD."},
        "start": {"type": "string", "description": "Start time as HH:MM."},
        "end": {"type": "string", "description": "End time as HH:MM."},
        "duration_minutes": {"type": "integer", "description": "Length in minutes."},
        "location": {"type": "string", "description": "Where it takes place."}},
      "required": ["title", "date", "start"]})").as_object(),
                 locked([&cal](const json::object& a) -> json::object {
                   const std::string date = str(a, "date");
                   const DateTime start = at(date, str(a, "start"));
                   DateTime end = start;
                   if (a.contains("end"))
                     end = at(date, str(a, "end"));
                   else {
                     const auto* d = a.if_contains("duration_minutes");
                     end = DateTime::from_minutes(start.minutes() + (d && d->is_int64() ? d->get_int64() : 60));
                   }
                   if (end.minutes() <= start.minutes()) return error("the event ends before it starts");
                   json::array conflicts;
                   for (const auto& e : cal.conflicts(start, end)) conflicts.push_back(json::string(e.summary));
                   const auto& e = cal.add(str(a, "title"), start, end, str(a, "location"));
                   cal.save();
                   json::object r{{"title", e.summary},
                                  {"date", e.start.date_string()},
                                  {"start", e.start.time_string()},
                                  {"end", e.end.time_string()}};
                   if (!e.location.empty()) r["location"] = e.location;
                   if (!conflicts.empty()) r["conflicts"] = std::move(conflicts);
                   return r;
                 }));

  tools.add_json("move_event", "Move an event to a new start time (and date).", json::parse(R"({"type": "object",
      "properties": {
        "title": {"type": "string", "description": "Event title."},
        "new_start": {"type": "string", "description": "New start time as HH:MM."},
        "new_date": {"type": "string", "description": "New date as YYYY-MM-DD."}},
      "required": ["title", "new_start"]})").as_object(),
                 locked([&cal](const json::object& a) -> json::object {
                   auto* e = cal.find(str(a, "title"));
                   if (!e) return error("no event titled '" + str(a, "title") + "'");
                   const long length = e->end.minutes() - e->start.minutes();
                   const std::string date = a.contains("new_date") ? str(a, "new_date") : e->start.date_string();
                   e->start = at(date, str(a, "new_start"));
                   e->end = DateTime::from_minutes(e->start.minutes() + length);
                   cal.save();
                   return {{"title", e->summary},
                           {"date", e->start.date_string()},
                           {"start", e->start.time_string()},
                           {"end", e->end.time_string()}};
                 }));

  tools.add_json("cancel_event", "Cancel an event.", json::parse(R"({"type": "object",
      "properties": {"title": {"type": "string", "description": "Event title."}},
      "required": ["title"]})").as_object(),
                 locked([&cal](const json::object& a) -> json::object {
                   auto* e = cal.find(str(a, "title"));
                   if (!e) return error("no event titled '" + str(a, "title") + "'");
                   json::object r{
                       {"cancelled", e->summary}, {"date", e->start.date_string()}, {"start", e->start.time_string()}};
                   cal.remove(e->uid);
                   cal.save();
                   return r;
                 }));

  tools.add_json("find_free_slots", "Find free slots on one day (09:00-17:00).", json::parse(R"({"type": "object",
      "properties": {
        "date": {"type": "string", "description": "Date as YYYY-MM-DD."},
        "duration_minutes": {"type": "integer", "description": "Length of the slot in minutes."}},
      "required": ["date", "duration_minutes"]})").as_object(),
                 locked([&cal](const json::object& a) -> json::object {
                   json::array slots;
                   const int minutes = static_cast<int>(a.at("duration_minutes").to_number<std::int64_t>());
                   for (const auto& [from, to] : cal.free_slots(day_of(a, "date"), minutes, 9, 17))
                     slots.push_back(json::object{{"start", from.time_string()}, {"end", to.time_string()}});
                   return {{"date", a.at("date")}, {"slots", std::move(slots)}};
                 }));
}

}  // namespace scheduling
