// fanout-worker: the worker daemon. See worker/worker.h and `fanout-worker --help`.
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "common/log.h"
#include "worker/config.h"
#include "worker/plugin_loader.h"
#include "worker/task_shim.h"
#include "worker/worker.h"

int main(int argc, char** argv) {
  // A task shim (worker/task_shim.h): the worker re-executes itself to supervise a command.
  if (argc > 1 && std::strcmp(argv[1], fanout::worker::kTaskShimFlag) == 0) {
    fanout::worker::RunTaskShim(argc, argv);
  }
  auto config = fanout::worker::ParseWorkerFlags(argc, argv);
  if (!config) return config.error();
  fanout::InitLogging("fanout-worker", config->log_level);

  // Writing a command's stdin after it exited must be EPIPE, not death.
  signal(SIGPIPE, SIG_IGN);
  // One pool thread per slot for plugin functions; the pool starts on first use.
  setenv("UV_THREADPOOL_SIZE", std::to_string(config->slots).c_str(), /*overwrite=*/0);

  fanout::worker::PluginRegistry plugins;
  for (const std::string& path : config->plugins) {
    fanout::Status st = plugins.Load(path);
    if (!st.ok()) {
      std::cerr << "fanout-worker: " << st.message() << "\n";
      return 2;
    }
  }

  int code;
  {
    uv_loop_t* loop = uv_default_loop();
    fanout::worker::Worker worker(loop, std::move(*config), std::move(plugins));
    try {
      code = worker.Run();
    } catch (const std::exception& e) {
      // e.g. an invalid --coordinator endpoint, refused by zmq connect.
      std::cerr << "fanout-worker: " << e.what() << "\n";
      code = 2;
    }
  }
  spdlog::shutdown();
  std::fflush(nullptr);
  // Skip static destructors: libuv's would join pool threads that may still be inside a
  // plugin function that ignores cancellation.
  std::_Exit(code);
}
