// embed_in_service - phial inside an existing Boost.Asio server: a line protocol on 127.0.0.1 where
// every connection is its own agent session, all sessions sharing one loaded model (one set of
// weights, one Executor) and one calendar.
//
//   embed_in_service [--model PATH] [--port N] [--calendar FILE.ics]     serve until killed
//   embed_in_service --selftest [--model PATH] [--clients N]             start, query, print, exit
//
// Protocol: the client sends one request per line; for each, the server writes one line per tool
// call ("call NAME {json arguments}") and then "answer TEXT" (or "error TEXT"). Try it with
//   printf 'List the events on 2025-11-27.\n' | nc 127.0.0.1 7878
#include "../scheduling_assistant/calendar_tools.hpp"

#include <phial/agent/agent.hpp>
#include <phial/model/model.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <istream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include <unistd.h>

namespace asio = boost::asio;
namespace json = boost::json;
using asio::ip::tcp;

namespace {

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

// One connection = one agent session (its own conversation and KV cache).
asio::awaitable<void> serve(tcp::socket socket, phial::Agent& agent) {
  auto session = agent.new_session();
  asio::streambuf buffer;
  try {
    for (;;) {
      co_await asio::async_read_until(socket, buffer, '\n', asio::use_awaitable);
      std::istream in(&buffer);
      std::string line;
      std::getline(in, line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      auto lines = std::make_shared<std::string>();
      // The request is a named local, never a temporary inside the co_await expression: GCC 12
      // destroys such temporaries twice (GCC PR 99576), which released `lines` once too often and
      // freed it while this coroutine still used it (heap-use-after-free with several clients).
      phial::RunRequest request(line, [lines](const phial::AgentEvent& ev) {
        if (auto* c = std::get_if<phial::ToolCallEvent>(&ev))
          *lines += "call " + c->call.name + " " + json::serialize(c->call.arguments) + "\n";
      });
      std::string reply;
      try {
        phial::RunResult r = co_await agent.async_run(session, std::move(request), asio::use_awaitable);
        reply = *lines + (r.stop == phial::RunStop::final_answer ? "answer " + one_line(r.answer)
                                                                 : std::string("error the run did not finish")) +
                "\n";
      } catch (const std::exception& e) {
        reply = *lines + "error " + one_line(e.what()) + "\n";
      }
      co_await asio::async_write(socket, asio::buffer(reply), asio::use_awaitable);
    }
  } catch (const std::exception&) {  // the client went away
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, phial::Agent& agent) {
  for (;;) {
    tcp::socket s = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(s), agent), asio::detached);
  }
}

// A client of the self-test: one request, reads until its answer line.
asio::awaitable<void> client(unsigned short port, int n, std::string request, std::atomic<int>& answered) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  co_await s.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  co_await asio::async_write(s, asio::buffer(request + "\n"), asio::use_awaitable);
  asio::streambuf buffer;
  for (;;) {
    co_await asio::async_read_until(s, buffer, '\n', asio::use_awaitable);
    std::istream in(&buffer);
    std::string line;
    std::getline(in, line);
    std::cout << "client " << n << ": " << line << "\n" << std::flush;
    if (line.rfind("answer ", 0) == 0 || line.rfind("error ", 0) == 0) {
      if (line.rfind("answer ", 0) == 0) ++answered;
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) try {
  std::string model_path = PHIAL_DEMO_MODEL, calendar_path;
  unsigned short port = 7878;
  int clients = 3;
  std::size_t compute_threads = 1;
  bool selftest = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--model") model_path = value();
    else if (a == "--port") port = static_cast<unsigned short>(std::stoul(value()));
    else if (a == "--calendar") calendar_path = value();
    else if (a == "--clients") clients = std::max(1, std::min(8, std::stoi(value())));
    else if (a == "--compute-threads") compute_threads = std::max(1ul, std::stoul(value()));
    else if (a == "--selftest" || a == "--once") selftest = true;
    else {
      std::cerr << "usage: embed_in_service [--model PATH] [--port N] [--calendar FILE.ics] [--compute-threads N] [--selftest [--clients N]]\n";
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  if (calendar_path.empty()) {
    auto dir = std::filesystem::temp_directory_path() / ("phial-service-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    calendar_path = (dir / "calendar.ics").string();
    std::filesystem::copy_file(PHIAL_SAMPLE_ICS, calendar_path, std::filesystem::copy_options::overwrite_existing);
  }
  auto calendar = examples::Calendar::load(calendar_path);
  std::mutex calendar_mutex;

  auto model = phial::Model::load(model_path);  // loaded once, shared by every session
  asio::io_context io;
  phial::AgentOptions options;
  options.system_prompt = scheduling::kSystemPrompt;
  options.max_steps = 6;
  // Sessions generating at the same time (1: their turns interleave on one compute thread).
  options.compute_threads = compute_threads;
  phial::Agent agent(io.get_executor(), model, options);
  scheduling::register_tools(agent.tools(), calendar, calendar_mutex);

  tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), selftest ? static_cast<unsigned short>(0) : port});
  port = acceptor.local_endpoint().port();
  asio::co_spawn(io, accept_loop(acceptor, agent), asio::detached);
  std::cout << "listening on 127.0.0.1:" << port << " (calendar " << calendar_path << ")\n" << std::flush;
  if (!selftest) {
    io.run();
    return 0;
  }

  const std::vector<std::string> requests = {
      "List the events on 2025-11-27.",
      "Find a free 30 minute slot on 2025-11-28.",
      "Schedule Lunch with Sam on 2025-11-27 at 12:30 for 45 minutes.",
      "Cancel Budget review.",
      "List the events on 2025-11-28.",
      "Move Team standup to 10:30.",
      "Find a free 60 minute slot on 2025-11-27.",
      "List the events on 2025-11-29.",
  };
  std::atomic<int> answered{0}, finished{0};
  asio::steady_timer deadline(io, std::chrono::minutes(5));
  deadline.async_wait([&](boost::system::error_code ec) {
    if (!ec) {
      std::cout << "selftest: timed out\n";
      io.stop();
    }
  });
  for (int n = 0; n < clients; ++n)
    asio::co_spawn(io, client(port, n + 1, requests[static_cast<std::size_t>(n) % requests.size()], answered),
                   [&](std::exception_ptr e) {
                     if (e) try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& x) {
                         std::cout << "client failed: " << x.what() << "\n";
                       }
                     if (++finished == clients) {
                       deadline.cancel();
                       acceptor.close();  // the sessions end as their clients disconnect; run() returns
                     }
                   });
  io.run();
  std::cout << "selftest: " << answered.load() << "/" << clients << " clients answered\n";
  return answered.load() == clients ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "embed_in_service: " << e.what() << "\n";
  return 1;
}
