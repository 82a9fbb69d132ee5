// scheduling_assistant - a calendar agent over a real iCalendar (.ics) file.
//
//   scheduling_assistant [--model PATH] [--calendar FILE.ics] [REQUEST...]
//
// The tools are plain C++ functions over examples::Calendar; the agent calls them, each change is
// saved to the .ics file at once, and the program prints the tool calls as they happen, the final
// answer and the calendar file afterwards. Without --calendar it works on a copy of sample.ics.
// Without --model it uses the bundled demo model, which was trained on exactly these tools and
// this system prompt (examples/demo_model/tools.json); real Phi-4 / Phi-4-mini GGUFs work too.
#include <common/icalendar.hpp>
#include <phial/agent/agent.hpp>
#include <phial/model/model.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <unistd.h>

namespace json = boost::json;
using examples::Calendar;
using examples::DateTime;

namespace {

const char* const kSystemPrompt =
    "You are a scheduling assistant. You manage the user's calendar with the tools. Dates are YYYY-MM-DD and "
    "times are HH:MM.";

json::object error(std::string message) { return {{"error", std::move(message)}}; }

DateTime day_of(const json::object& a, const char* key) {
  auto d = DateTime::parse(std::string(a.at(key).as_string()));
  if (!d) throw std::runtime_error("bad date '" + std::string(a.at(key).as_string()) + "', expected YYYY-MM-DD");
  return *d;
}
DateTime at(const std::string& date, const std::string& time) {
  auto d = DateTime::parse(date, time);
  if (!d) throw std::runtime_error("bad date or time '" + date + " " + time + "'");
  return *d;
}
std::string str(const json::object& a, const char* key) {
  const auto* v = a.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

// The five tools of tools.json["scheduling"], in its order, with its names, descriptions and schemas.
void register_tools(phial::ToolRegistry& tools, Calendar& cal) {
  tools.add_json("list_events", "List the events on one day.", json::parse(R"({"type": "object",
      "properties": {"date": {"type": "string", "description": "Date as YYYY-MM-DD."}},
      "required": ["date"]})").as_object(),
                 [&cal](const json::object& a) -> json::object {
                   json::array events;
                   for (const auto& e : cal.on_date(day_of(a, "date")))
                     events.push_back(json::object{
                         {"title", e.summary}, {"start", e.start.time_string()}, {"end", e.end.time_string()}});
                   return {{"date", a.at("date")}, {"events", std::move(events)}};
                 });

  tools.add_json("create_event", "Create an event; give end or duration_minutes.", json::parse(R"({"type": "object",
      "properties": {
        "title": {"type": "string", "description": "Title of the event."},
        "date": {"type": "string", "description": "Date as YYYY-MM-DD."},
        "start": {"type": "string", "description": "Start time as HH:MM."},
        "end": {"type": "string", "description": "End time as HH:MM."},
        "duration_minutes": {"type": "integer", "description": "Length in minutes."},
        "location": {"type": "string", "description": "Where it takes place."}},
      "required": ["title", "date", "start"]})").as_object(),
                 [&cal](const json::object& a) -> json::object {
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
                 });

  tools.add_json("move_event", "Move an event to a new start time (and date).", json::parse(R"({"type": "object",
      "properties": {
        "title": {"type": "string", "description": "Event title."},
        "new_start": {"type": "string", "description": "New start time as HH:MM."},
        "new_date": {"type": "string", "description": "New date as YYYY-MM-DD."}},
      "required": ["title", "new_start"]})").as_object(),
                 [&cal](const json::object& a) -> json::object {
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
                 });

  tools.add_json("cancel_event", "Cancel an event.", json::parse(R"({"type": "object",
      "properties": {"title": {"type": "string", "description": "Event title."}},
      "required": ["title"]})").as_object(),
                 [&cal](const json::object& a) -> json::object {
                   auto* e = cal.find(str(a, "title"));
                   if (!e) return error("no event titled '" + str(a, "title") + "'");
                   json::object r{
                       {"cancelled", e->summary}, {"date", e->start.date_string()}, {"start", e->start.time_string()}};
                   cal.remove(e->uid);
                   cal.save();
                   return r;
                 });

  tools.add_json("find_free_slots", "Find free slots on one day (09:00-17:00).", json::parse(R"({"type": "object",
      "properties": {
        "date": {"type": "string", "description": "Date as YYYY-MM-DD."},
        "duration_minutes": {"type": "integer", "description": "Length of the slot in minutes."}},
      "required": ["date", "duration_minutes"]})").as_object(),
                 [&cal](const json::object& a) -> json::object {
                   json::array slots;
                   const int minutes = static_cast<int>(a.at("duration_minutes").to_number<std::int64_t>());
                   for (const auto& [from, to] : cal.free_slots(day_of(a, "date"), minutes, 9, 17))
                     slots.push_back(json::object{{"start", from.time_string()}, {"end", to.time_string()}});
                   return {{"date", a.at("date")}, {"slots", std::move(slots)}};
                 });
}

int usage() {
  std::cerr << "usage: scheduling_assistant [--model PATH] [--calendar FILE.ics] [--max-steps N] [REQUEST...]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model_path = PHIAL_DEMO_MODEL, calendar_path, request;
  std::size_t max_steps = 6;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model_path = value();
    else if (a == "--calendar") calendar_path = value();
    else if (a == "--max-steps") max_steps = std::stoul(value());
    else if (a == "-h" || a == "--help") return usage(), 0;
    else if (a.rfind("--", 0) == 0) return usage();
    else request += (request.empty() ? "" : " ") + a;
  }
  if (request.empty()) request = "Add a meeting called Design review on 2025-11-27 at 14:00 for 60 minutes.";
  if (calendar_path.empty()) {  // work on a copy of the sample calendar
    auto dir = std::filesystem::temp_directory_path() / ("phial-scheduling-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    calendar_path = (dir / "calendar.ics").string();
    std::filesystem::copy_file(PHIAL_SAMPLE_ICS, calendar_path, std::filesystem::copy_options::overwrite_existing);
  }

  Calendar cal = Calendar::load(calendar_path);
  std::cout << "calendar: " << calendar_path << " (" << cal.events().size() << " events)\n"
            << "model:    " << model_path << "\n"
            << "request:  " << request << "\n\n"
            << std::flush;

  auto model = phial::Model::load(model_path);
  boost::asio::io_context io;
  phial::AgentOptions options;
  options.system_prompt = kSystemPrompt;
  options.max_steps = max_steps;
  phial::Agent agent(io.get_executor(), model, options);
  register_tools(agent.tools(), cal);

  phial::RunResult result;
  std::exception_ptr failure;
  agent.async_run(
      phial::RunRequest(request,
                        [](const phial::AgentEvent& ev) {
                          if (auto* c = std::get_if<phial::ToolCallEvent>(&ev))
                            std::cout << "-> " << c->call.name << " " << json::serialize(c->call.arguments) << "\n"
                                      << std::flush;
                          else if (auto* r = std::get_if<phial::ToolResultEvent>(&ev))
                            std::cout << "<- " << (r->result.ok() ? json::serialize(r->result.value) : r->result.error)
                                      << "\n"
                                      << std::flush;
                        }),
      [&](std::exception_ptr e, phial::RunResult r) {
        failure = e;
        result = std::move(r);
      });
  io.run();
  if (failure) std::rethrow_exception(failure);

  std::cout << "\nanswer: " << result.answer << "\n";
  if (result.stop != phial::RunStop::final_answer)
    std::cout << "(stopped: " << (result.stop == phial::RunStop::max_steps ? "step limit" : "token limit or cancelled")
              << ")\n";
  std::ifstream in(calendar_path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::string ics = text.str();
  std::erase(ics, '\r');
  std::cout << "\n--- " << calendar_path << " ---\n" << ics;
  return result.stop == phial::RunStop::final_answer ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "scheduling_assistant: " << e.what() << "\n";
  return 1;
}
