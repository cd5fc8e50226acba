// Stopping runs cleanly on SIGINT and SIGTERM: the handler only records the signal, and the trainer polls it
// between time steps, writes what it has measured and returns with status "interrupted".
#pragma once

namespace credo {

// Installs handlers for SIGINT and SIGTERM that record the signal. A second signal takes its default action
// (the process ends at once); result files are written atomically, so what is on disk stays whole.
void install_stop_handlers();

// 0, or the signal (SIGINT, SIGTERM) that asked the run to stop.
int stop_signal();

// Records `signal` as if it had arrived (tests, and a parent passing its stop on to a child run).
void request_stop(int signal);

// The exit status of a process stopped by `signal`, as a shell reports it: 128 + signal (SIGINT: 130).
inline int exit_status_for_signal(int signal) { return 128 + signal; }

}  // namespace credo
