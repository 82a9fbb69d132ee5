// phial/agent/detail/offload.hpp - run a blocking function on another executor (a thread pool) and
// complete on the caller's executor: the two asynchronous operations the agent builds on.
//
//   async_compute(pool, fn(stop), token)  fn(const std::atomic<bool>& stop) -> R; cancellation sets
//                                         `stop` and the operation still completes when fn returns
//                                         (fn owns state such as a KV cache that must not be shared).
//   async_offload(pool, fn(), token)      fn() -> R; cancellation completes at once with
//                                         operation_aborted and fn's eventual result is dropped
//                                         (a synchronous tool that overran its timeout).
//
// Both complete with void(std::exception_ptr, R) on the handler's associated executor, and keep
// that executor's work count up while fn runs (so io_context::run() does not return early). The
// completion and the cancellation handler both run on the handler's executor; `done` decides which
// one completes.
#pragma once
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/system_error.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <utility>

namespace phial::detail {

template <class Handler, class R>
struct OffloadState : std::enable_shared_from_this<OffloadState<Handler, R>> {
  explicit OffloadState(Handler h, const boost::asio::any_io_executor& fallback)
      : handler(std::move(h)),
        home(boost::asio::get_associated_executor(handler, fallback)),
        work(boost::asio::prefer(home, boost::asio::execution::outstanding_work.tracked)) {}

  Handler handler;
  const boost::asio::any_io_executor home;  // where the handler runs (read from any thread)
  boost::asio::any_io_executor work;        // the same, counted as outstanding work until completion
  std::atomic<bool> done{false};      // set by whichever of result / cancellation comes first
  std::atomic<bool> stop{false};      // what fn sees for cooperative cancellation

  // Runs on `home`.
  void complete(std::exception_ptr e, R r) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler);
    if (slot.is_connected()) slot.clear();
    Handler h = std::move(handler);
    work = boost::asio::any_io_executor();  // release the work count before the handler runs
    std::move(h)(std::move(e), std::move(r));
  }

  // From the worker thread: hand the result over to `home`.
  void deliver(std::exception_ptr e, R r) {
    auto self = this->shared_from_this();
    boost::asio::post(home, [self, e = std::move(e), r = std::move(r)]() mutable {
      if (!self->done.exchange(true)) self->complete(std::move(e), std::move(r));
    });
  }
};

template <class R, bool Cooperative, class Fn>
struct OffloadInitiation {
  boost::asio::any_io_executor pool;

  template <class Handler>
  void operator()(Handler handler, Fn fn) const {
    using State = OffloadState<Handler, R>;
    auto state = std::make_shared<State>(std::move(handler), pool);
    auto slot = boost::asio::get_associated_cancellation_slot(state->handler);
    if (slot.is_connected()) {
      slot.assign([weak = std::weak_ptr<State>(state)](boost::asio::cancellation_type type) {
        if (type == boost::asio::cancellation_type::none) return;
        auto s = weak.lock();
        if (!s) return;
        s->stop.store(true);
        if constexpr (!Cooperative) {
          if (s->done.exchange(true)) return;
          // Not from inside the slot's own handler: complete() clears the slot.
          boost::asio::post(s->home, [s] {
            s->complete(std::make_exception_ptr(boost::system::system_error(boost::asio::error::operation_aborted)),
                        R{});
          });
        }
      });
    }
    boost::asio::post(pool, [state, fn = std::move(fn)]() mutable {
      try {
        if constexpr (Cooperative) {
          R r = fn(static_cast<const std::atomic<bool>&>(state->stop));
          state->deliver(nullptr, std::move(r));
        } else {
          R r = fn();
          state->deliver(nullptr, std::move(r));
        }
      } catch (...) {
        state->deliver(std::current_exception(), R{});
      }
    });
  }
};

template <class R, class Fn, class Token>
auto async_compute(boost::asio::any_io_executor pool, Fn fn, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, R)>(OffloadInitiation<R, true, Fn>{pool}, token,
                                                                         std::move(fn));
}

template <class R, class Fn, class Token>
auto async_offload(boost::asio::any_io_executor pool, Fn fn, Token&& token) {
  return boost::asio::async_initiate<Token, void(std::exception_ptr, R)>(OffloadInitiation<R, false, Fn>{pool}, token,
                                                                         std::move(fn));
}

}  // namespace phial::detail
