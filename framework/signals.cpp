#include "framework/signals.h"

#include <csignal>

namespace credo {

namespace {

volatile std::sig_atomic_t stop_requested = 0;

extern "C" void on_stop_signal(int signal) { stop_requested = signal; }

}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a blocking wait (compare waiting for its child run) returns, so the stop is seen at once.
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int stop_signal() { return stop_requested; }

void request_stop(int signal) { stop_requested = signal; }

}  // namespace credo
