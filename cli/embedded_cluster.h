// The local cluster `fanout run` uses when no coordinator address is given: the one already
// running on this $FANOUT_HOME (`fanout local`), or else one started for the run as a child
// (`fanout local` through /proc/self/exe) and stopped afterwards.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace fanout::cli {

class EmbeddedCluster {
 public:
  // Finds or starts a cluster. Errors: kUnavailable (it did not come up within start_timeout;
  // the message includes the tail of its log), kAborted (interrupt flag raised).
  static Result<std::unique_ptr<EmbeddedCluster>> FindOrStart(
      const std::vector<std::string>& plugins, std::chrono::milliseconds start_timeout,
      const volatile std::sig_atomic_t* interrupt);

  ~EmbeddedCluster();  // Stop()
  EmbeddedCluster(const EmbeddedCluster&) = delete;
  EmbeddedCluster& operator=(const EmbeddedCluster&) = delete;

  const std::string& address() const { return address_; }
  // True when this process started the cluster (and will stop it).
  bool owned() const { return pid_ > 0; }
  // SIGTERMs an owned cluster and waits for it (it stops its daemons in order). Idempotent.
  void Stop();

 private:
  EmbeddedCluster(std::string address, pid_t pid, int stdout_fd)
      : address_(std::move(address)), pid_(pid), stdout_fd_(stdout_fd) {}

  std::string address_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;  // read end of the child's stdout, kept open so it never gets SIGPIPE
};

}  // namespace fanout::cli
